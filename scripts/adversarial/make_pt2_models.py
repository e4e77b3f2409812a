"""Test models for the runtime's torch.export (.pt2) front end, with PyTorch reference values.

Builds three small classifiers on the 8x8 digits of testdata/adversarial/digits_test.npz, trains
each for a few steps, and writes, for each, the same weights twice:

- NAME.pt2:  torch.export.export(net, ...) saved with torch.export.save (the default training
             IR of ATen ops: aten.linear, aten.conv2d, ...; batch dimension dynamic)
- NAME.onnx: torch.onnx.export of the same module (TorchScript exporter, opset 17)

and NAME.npz with, for the first 32 digits, x [32,1,8,8] f32, y [32] i64, and PyTorch's logits
and input gradient of the summed cross-entropy (logits32, grad32). mlp_core.pt2 is the MLP
after ep.run_decompositions() (core ATen: addmm, permute, view ...), to cover that dialect;
cnn_static.pt2 and transformer_static.pt2 are exported with a static batch of 1.

- mlp:          flatten -> linear 64x32 -> ReLU -> linear 32x10
- cnn:          conv 3x3 -> batch norm -> ReLU -> max-pool 2x2 -> conv 3x3 -> ReLU
                -> adaptive average pool 2x2 -> flatten -> linear
- transformer:  the 8 rows as tokens -> linear embedding 8x16 + positional parameter -> one
                pre-norm block (layer norm, single-head attention by matmul/softmax, residual,
                layer norm, MLP with GELU, residual) -> mean over tokens -> linear

Environment (recorded in pt2/versions.json): the venv of make_grad_models.py (torch 2.15.0,
numpy, onnx 1.19.1):

    /work/venvs/grad/bin/python scripts/adversarial/make_pt2_models.py testdata/adversarial
"""

import io
import json
import math
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

SAMPLES = 32
SEED = 204


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 2 * 2, 10)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.bn(self.conv1(x))), 2)
        h = F.adaptive_avg_pool2d(F.relu(self.conv2(h)), 2)
        return self.fc(h.flatten(1))


class Transformer(nn.Module):
    def __init__(self, d=16):
        super().__init__()
        self.d = d
        self.embed = nn.Linear(8, d)
        self.pos = nn.Parameter(torch.randn(8, d) * 0.1)
        self.ln1 = nn.LayerNorm(d)
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d)
        self.v = nn.Linear(d, d)
        self.o = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.mlp1 = nn.Linear(d, 2 * d)
        self.mlp2 = nn.Linear(2 * d, d)
        self.head = nn.Linear(d, 10)

    def forward(self, x):
        t = self.embed(x.reshape(x.shape[0], 8, 8)) + self.pos  # [B, 8 tokens, d]
        h = self.ln1(t)
        q, k, v = self.q(h), self.k(h), self.v(h)
        att = torch.softmax(torch.matmul(q, k.transpose(1, 2)) / math.sqrt(self.d), dim=-1)
        t = t + self.o(torch.matmul(att, v))
        t = t + self.mlp2(F.gelu(self.mlp1(self.ln2(t))))
        return self.head(t.mean(dim=1))


MODELS = {"mlp": Mlp, "cnn": Cnn, "transformer": Transformer}


def train(net, x, y):
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    net.train()
    for step in range(150):
        i = torch.arange(step * 32, step * 32 + 64) % len(x)
        opt.zero_grad()
        F.cross_entropy(net(x[i]), y[i]).backward()
        opt.step()
    return net.eval()


def reference(net, x, y):
    x = x.clone().requires_grad_(True)
    logits = net(x)
    F.cross_entropy(logits, y, reduction="sum").backward()
    return logits.detach().numpy(), x.grad.numpy()


def export_onnx(net, path):
    buf = io.BytesIO()
    torch.onnx.export(
        net,
        torch.zeros(1, 1, 8, 8),
        buf,
        dynamo=False,
        opset_version=17,
        training=torch.onnx.TrainingMode.PRESERVE,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )
    model = onnx.load_from_string(buf.getvalue())
    model.producer_name = "scripts/adversarial/make_pt2_models.py"
    onnx.checker.check_model(model)
    onnx.save(model, path)


def export_pt2(net, path, decompose=False):
    batch = torch.export.Dim("batch", min=1, max=4096)
    ep = torch.export.export(net, (torch.zeros(4, 1, 8, 8),), dynamic_shapes={"x": {0: batch}})
    if decompose:
        ep = ep.run_decompositions()
    torch.export.save(ep, path)
    # The archive loads back and computes the module's function.
    back = torch.export.load(path).module()
    probe = torch.rand(3, 1, 8, 8)
    assert torch.allclose(back(probe), net(probe), atol=1e-6)
    return sorted({str(n.target) for n in ep.graph.nodes if n.op == "call_function"})


def main(root):
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    out = os.path.join(root, "pt2")
    os.makedirs(out, exist_ok=True)
    data = np.load(os.path.join(root, "digits_test.npz"))
    x_all = torch.from_numpy(data["x"])
    y_all = torch.from_numpy(data["y"])
    x, y = x_all[:SAMPLES], y_all[:SAMPLES]
    ops = {}
    for name, cls in MODELS.items():
        net = train(cls(), x_all, y_all)
        ops[name] = export_pt2(net, os.path.join(out, f"{name}.pt2"))
        if name == "mlp":
            ops["mlp_core"] = export_pt2(net, os.path.join(out, "mlp_core.pt2"), decompose=True)
        if name in ("cnn", "transformer"):
            # Exported with a static batch of 1, as a plain torch.export.export(net, (x,)) does.
            ep = torch.export.export(net, (torch.zeros(1, 1, 8, 8),))
            torch.export.save(ep, os.path.join(out, f"{name}_static.pt2"))
            ops[f"{name}_static"] = sorted({str(n.target) for n in ep.graph.nodes if n.op == "call_function"})
        export_onnx(net, os.path.join(out, f"{name}.onnx"))
        logits32, grad32 = reference(net, x, y)
        np.savez(os.path.join(out, f"{name}.npz"), x=x.numpy(), y=y.numpy(), logits32=logits32, grad32=grad32)
        with torch.no_grad():
            acc = (net(x_all).argmax(1) == y_all).float().mean().item()
        print(f"{name}: ops {ops[name]}, accuracy {acc:.3f}")
    versions = {
        "torch": torch.__version__,
        "numpy": np.__version__,
        "onnx": onnx.__version__,
        "python": sys.version.split()[0],
        "seed": SEED,
        "samples": SAMPLES,
        "ops": ops,
    }
    with open(os.path.join(out, "versions.json"), "w") as f:
        json.dump(versions, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "testdata/adversarial")
