"""One small torch.export archive per ATen op group the runtime's .pt2 front end translates,
with PyTorch's output and input gradient, for the per-op tests of
crates/mlsec-runtime/tests/pt2_ops.rs.

For each case a tiny module is exported (torch.export.export, batch dimension dynamic) and
saved as testdata/adversarial/pt2/ops/CASE.pt2; when ep.run_decompositions() (core ATen)
produces an op no archive covers yet, that form is saved too, as CASE_core.pt2. ops.npz holds
for each case CASE_x (the input), CASE_r (a fixed random cotangent), CASE_out (the module's
output) and CASE_grad (the gradient of sum(out * r) with respect to x), all float32; ops.json
lists the ATen ops of every archive (the meta-test checks that every op the front end claims
is in some archive).

    /work/venvs/grad/bin/python scripts/adversarial/make_pt2_ops.py testdata/adversarial
"""

import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SEED = 2042


class Fn(nn.Module):
    def __init__(self, f, **mods):
        super().__init__()
        self.f = f
        for k, v in mods.items():
            setattr(self, k, v)

    def forward(self, x):
        return self.f(self, x)


def bn():
    b = nn.BatchNorm2d(3)
    b.running_mean.uniform_(-0.5, 0.5)
    b.running_var.uniform_(0.5, 2.0)
    b.weight.data.uniform_(0.5, 1.5)
    b.bias.data.uniform_(-0.5, 0.5)
    return b


IMG = (2, 3, 6, 6)
SEQ = (2, 4, 8)
CASES = {
    "conv": (IMG, lambda: Fn(lambda s, x: s.c(x), c=nn.Conv2d(3, 4, 3, stride=2, padding=1))),
    "conv_same_groups": (IMG, lambda: Fn(lambda s, x: s.c(x), c=nn.Conv2d(3, 6, 3, padding="same", groups=3, bias=False))),
    "conv_dilated": (IMG, lambda: Fn(lambda s, x: s.c(x), c=nn.Conv2d(3, 2, 2, dilation=2))),
    "conv1d": (SEQ, lambda: Fn(lambda s, x: s.c(x), c=nn.Conv1d(4, 3, 3, padding=1))),
    "conv_transpose": (IMG, lambda: Fn(lambda s, x: s.c(x), c=nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1))),
    "max_pool": (IMG, lambda: Fn(lambda s, x: F.max_pool2d(x, 3, stride=2, padding=1))),
    "max_pool_ceil": (IMG, lambda: Fn(lambda s, x: F.max_pool2d(x, 2, stride=2, ceil_mode=True)[:, :, :, :] + F.max_pool2d(x[:, :, 1:, 1:], 2, ceil_mode=True))),
    "avg_pool": (IMG, lambda: Fn(lambda s, x: F.avg_pool2d(x, 3, stride=2, padding=1))),
    "avg_pool_exclude_ceil": (IMG, lambda: Fn(lambda s, x: F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False))),
    "adaptive_avg_pool": (IMG, lambda: Fn(lambda s, x: torch.cat([F.adaptive_avg_pool2d(x, 1).flatten(1), F.adaptive_avg_pool2d(x, 3).flatten(1)], 1))),
    "batch_norm": (IMG, lambda: Fn(lambda s, x: s.b(x), b=bn())),
    "layer_norm": (SEQ, lambda: Fn(lambda s, x: s.a(x) + F.layer_norm(x, (4, 8)), a=nn.LayerNorm(8))),
    "activations": (SEQ, lambda: Fn(lambda s, x: F.relu(x) + torch.sigmoid(x) * torch.tanh(x) + F.silu(x) + F.leaky_relu(x, 0.2) + F.hardtanh(x, -0.5, 0.5))),
    "gelu": (SEQ, lambda: Fn(lambda s, x: F.gelu(x) + F.gelu(x, approximate="tanh"))),
    "elementwise": (SEQ, lambda: Fn(lambda s, x: torch.exp(x * 0.5) + torch.log(x * x + 1) + torch.sqrt(x * x + 1) + torch.rsqrt(x * x + 1) - torch.abs(x) + torch.erf(x) + torch.reciprocal(x * x + 2) + x.pow(3) - (-x))),
    "arithmetic": (SEQ, lambda: Fn(lambda s, x: torch.add(x, x * 2, alpha=3) - torch.sub(x, 1.5, alpha=2) + (1 - x) * x / (x * x + 1) + x / 4 + s.w * x, w=nn.Parameter(torch.randn(8)))),
    "softmax": (SEQ, lambda: Fn(lambda s, x: torch.softmax(x, 1) + torch.log_softmax(x, -1))),
    "shapes": (SEQ, lambda: Fn(lambda s, x: x.view(x.shape[0], 32).reshape(-1, 8, 4).flatten(1).unflatten(1, (2, 16)).unsqueeze(1).squeeze(1).permute(0, 2, 1).transpose(1, 2).contiguous().clone())),
    "matmuls": (SEQ, lambda: Fn(lambda s, x: torch.matmul(s.l(x), x.transpose(1, 2)) + torch.bmm(x, x.transpose(1, 2)), l=nn.Linear(8, 8))),
    "mm": ((2, 8), lambda: Fn(lambda s, x: torch.mm(x, s.w) + torch.addmm(s.b, x, s.w, beta=0.5, alpha=2) + torch.mm(x, s.w2.t()), w=nn.Parameter(torch.randn(8, 5)), w2=nn.Parameter(torch.randn(5, 8)), b=nn.Parameter(torch.randn(5)))),
    "linear_nobias": (SEQ, lambda: Fn(lambda s, x: s.l(x), l=nn.Linear(8, 3, bias=False))),
    "index": (SEQ, lambda: Fn(lambda s, x: torch.cat([x[:, 1:4:2], x.select(1, -1).unsqueeze(1), x[:, -2:]], 1) * x[:, 0:1, 2:3])),
    "embedding": (SEQ, lambda: Fn(lambda s, x: x + s.e(s.idx), e=nn.Embedding(10, 8), idx=nn.Buffer(torch.tensor([1, 3, 5, 9]).long()))),
    "reductions": (SEQ, lambda: Fn(lambda s, x: x.mean(dim=-1) + x.sum(dim=2) + x.mean() + x.mean(dim=(1, 2), keepdim=True).squeeze(-1))),
    # ATen overloads the tracer only keeps when called by name.
    "scalar_overloads": (SEQ, lambda: Fn(lambda s, x: torch.ops.aten._unsafe_view.default(torch.ops.aten.squeeze.default(torch.ops.aten.div.Scalar(torch.ops.aten.mul.Scalar(torch.ops.aten.sub.Scalar(torch.ops.aten.add.Scalar(x.unsqueeze(1), 1.5), 0.5, alpha=2), 3.0), 4.0)), [x.shape[0], 32]) * torch.ops.aten.contiguous.default(x.flatten(1)))),
    "dropout_eval": (SEQ, lambda: Fn(lambda s, x: s.d(x) * 2, d=nn.Dropout(0.5))),
    "sdpa": (SEQ, lambda: Fn(lambda s, x: F.scaled_dot_product_attention(s.q(x), s.k(x), x), q=nn.Linear(8, 8), k=nn.Linear(8, 8))),
    "sdpa_causal_scale": (SEQ, lambda: Fn(lambda s, x: F.scaled_dot_product_attention(x, s.k(x), x, is_causal=True, scale=0.3), k=nn.Linear(8, 8))),
    "sdpa_mask": (SEQ, lambda: Fn(lambda s, x: F.scaled_dot_product_attention(x, x, x, attn_mask=s.m), m=nn.Buffer(torch.randn(4, 4)))),
    "hardswish": (SEQ, lambda: Fn(lambda s, x: F.hardswish(x * 3))),
    "rsub_alpha": (SEQ, lambda: Fn(lambda s, x: torch.rsub(x, 2.0, alpha=3) + torch.add(x, x * x, alpha=-0.5))),
}


# The core-ATen decomposition of scaled_dot_product_attention uses boolean ops (where, any,
# logical_not, eq) the front end does not translate; the fused op itself is translated.
NO_CORE = {"sdpa", "sdpa_causal_scale", "sdpa_mask"}


def ops_of(ep):
    return sorted({str(n.target) for n in ep.graph.nodes if n.op == "call_function"})


def main(root):
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    out = os.path.join(root, "pt2", "ops")
    os.makedirs(out, exist_ok=True)
    arrays, listing, covered = {}, {}, set()
    for name, (shape, make) in CASES.items():
        net = make().eval()
        x = torch.randn(*shape)
        batch = torch.export.Dim("batch", min=1, max=64)
        ep = torch.export.export(net, (x,), dynamic_shapes={"x": {0: batch}})
        forms = [(name, ep)]
        core = ep.run_decompositions()
        if name not in NO_CORE and set(ops_of(core)) - covered - set(ops_of(ep)):
            forms.append((f"{name}_core", core))
        for fname, e in forms:
            torch.export.save(e, os.path.join(out, f"{fname}.pt2"))
            listing[fname] = ops_of(e)
            covered |= set(listing[fname])
        xg = x.clone().requires_grad_(True)
        y = net(xg)
        r = torch.randn_like(y)
        (y * r).sum().backward()
        arrays[f"{name}_x"] = x.numpy()
        arrays[f"{name}_r"] = r.numpy()
        arrays[f"{name}_out"] = y.detach().numpy()
        arrays[f"{name}_grad"] = xg.grad.numpy()
    np.savez(os.path.join(out, "ops.npz"), **arrays)
    with open(os.path.join(out, "ops.json"), "w") as f:
        json.dump({"torch": torch.__version__, "seed": SEED, "archives": listing}, f, indent=1, sort_keys=True)
        f.write("\n")
    print(sorted(covered))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "testdata/adversarial")
