"""Test models for the runtime's whole-model input gradients, with PyTorch reference values.

Builds four small CNNs on the 8x8 digits of testdata/adversarial/digits_test.npz, each with an
architecture where candle-core 0.9.2's pooling backward was wrong (issue 20), trains each for a
few steps (so the weights and batch-norm statistics are not at their initial values), exports
it to ONNX with torch.onnx.export (TorchScript exporter, opset 17) and records, for the first
32 digits, the logits and the input gradient of the summed cross-entropy -- in float32 and, on
a float64 copy of the same module, in float64 -- torchattacks' FGSM and PGD adversarial
examples (eps 0.1; PGD 10 steps of 0.025 from stored starts, no early stop), and foolbox's
L2CarliniWagnerAttack on the samples the model classifies correctly (bounds (0, 1), one batch)
in two configurations: cw_bs, its binary search over c with reference.py's parameters (9
constants from 1e-3, 200 steps each, stepsize 0.01, abort_early), and cw_c1, one fixed c = 1
(binary_search_steps=1, 1000 steps: with one constant there is no later search step to make
up for an optimisation cut short, and 1000 is mlsec's default --cw-steps).
The CW part runs on a copy of the module with torch's random state restored after it, so the
other outputs are the same bytes as without it (checked: re-running the script reproduces the
ONNX files and every other array bit for bit):

- digits_cnn:   conv 3x3 -> ReLU -> max-pool 2x2 -> linear (the plain digits CNN)
- pool_skip:    a conv -> ReLU -> max-pool 2x2 branch plus a linear skip from the input, added
- odd_pool:     conv 2x2 (8x8 -> 7x7) -> ReLU -> max-pool 2x2 on the 7x7 map (floor) and an
                average-pool 3x3/2 ceil_mode branch, concatenated
- resnet_stem:  conv 3x3 -> batch norm -> ReLU -> max-pool 3x3/2 pad 1 -> a residual block
                (conv-BN-ReLU-conv-BN + identity) -> batch norm -> ReLU -> global average pool
                -> linear

Outputs, in testdata/adversarial/grad/: NAME.onnx and NAME.npz with x [32,1,8,8] f32,
y [32] i64, logits32/grad32 (f32), logits64/grad64 (f64), pgd_unit (the unit noise of PGD's
start), fgsm/pgd (torchattacks' adversarial examples), cw_attacked (the samples CW attacks:
classified correctly), cw_bs_l2/cw_bs_found and cw_c1_l2/cw_c1_found (foolbox's per-sample L2
of the perturbation, NaN where nothing was found, and the found mask), plus versions.json (the
versions and every attack's parameters). The Rust tests
crates/mlsec-runtime/tests/reference_gradients.rs, crates/mlsec-adversarial/tests/torchattacks.rs
and crates/mlsec-adversarial/tests/foolbox_cw.rs compare against them.

Environment (versions pinned, recorded in versions.json): torch 2.15.0 (CPU use of the PyPI
wheel), numpy 2.4.6, onnx 1.19.1, torchattacks 3.5.1 (with scipy 1.16.3), foolbox 3.3.4 with
eagerpy 0.30.0 (foolbox imports GitPython, 3.2.1 here):

    python3 -m venv /work/venvs/grad
    echo /work/venvs/torch/lib/python3.11/site-packages > /work/venvs/grad/lib/python3.11/site-packages/torch.pth
    /work/venvs/grad/bin/pip install onnx==1.19.1 scipy==1.16.3 requests GitPython==3.2.1
    /work/venvs/grad/bin/pip install --no-deps torchattacks==3.5.1 foolbox==3.3.4 eagerpy==0.30.0
    /work/venvs/grad/bin/python scripts/adversarial/make_grad_models.py testdata/adversarial
"""

import copy
import io
import json
import os
import sys

import eagerpy
import foolbox
import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchattacks

SAMPLES = 32
SEED = 20
EPS = 0.1
PGD_STEPS = 10
# foolbox's L2CarliniWagnerAttack in two configurations: its binary search over c with the
# parameters of reference.py, and one fixed c.
CW = {
    "cw_bs": dict(binary_search_steps=9, steps=200, stepsize=0.01, confidence=0, initial_const=1e-3, abort_early=True),
    "cw_c1": dict(binary_search_steps=1, steps=1000, stepsize=0.01, confidence=0, initial_const=1.0, abort_early=True),
}


class DigitsCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.conv(x)), 2)
        return self.fc(h.flatten(1))


class PoolSkip(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.branch = nn.Linear(4 * 4 * 4, 10)
        self.skip = nn.Linear(64, 10)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.conv(x)), 2)
        return self.branch(h.flatten(1)) + self.skip(x.flatten(1))


class OddPool(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 2)
        self.fc = nn.Linear(4 * 3 * 3 + 4 * 4 * 4, 10)

    def forward(self, x):
        h = F.relu(self.conv(x))  # 7x7
        a = F.max_pool2d(h, 2)  # 3x3: the last row and column are in no window
        b = F.avg_pool2d(h, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)  # 4x4
        return self.fc(torch.cat([a.flatten(1), b.flatten(1)], 1))


class ResnetStem(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv0 = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.bn0 = nn.BatchNorm2d(8)
        self.conv1 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.bn_out = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        h = F.relu(self.bn0(self.conv0(x)))
        h = F.max_pool2d(h, 3, stride=2, padding=1)  # 8x8 -> 4x4
        r = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(h)))))
        h = F.relu(self.bn_out(h + r))  # a batch norm the exporter cannot fold into a conv
        return self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))


MODELS = {
    "digits_cnn": DigitsCnn,
    "pool_skip": PoolSkip,
    "odd_pool": OddPool,
    "resnet_stem": ResnetStem,
}


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


def attacks(net, x, y, unit):
    """torchattacks FGSM and PGD (all steps, no early stop) at EPS; PGD starts at
    x + EPS*unit, clamped to [0, 1] (the stored unit noise, so mlsec can start there too)."""
    fgsm = torchattacks.FGSM(net, eps=EPS)(x, y)
    original_uniform = torch.Tensor.uniform_

    def fed_uniform(self, a=0.0, b=1.0, *args, **kwargs):
        # torchattacks draws empty_like(x).uniform_(-eps, eps): use the stored noise.
        return self.copy_(torch.from_numpy(unit).reshape(self.shape) * b)

    torch.Tensor.uniform_ = fed_uniform
    try:
        alpha = 2.5 * EPS / PGD_STEPS
        pgd = torchattacks.PGD(net, eps=EPS, alpha=alpha, steps=PGD_STEPS, random_start=True)(x, y)
    finally:
        torch.Tensor.uniform_ = original_uniform
    return fgsm.numpy(), pgd.numpy()


def carlini_wagner(net, x, y, correct):
    """foolbox's CW-L2 in each configuration of CW, on the samples the model classifies
    correctly (one batch, bounds (0, 1)). Per sample: `found` (an adversarial was found) and the
    L2 norm of the perturbation (NaN when not found or not attacked).

    foolbox returns zeros for a sample it found nothing for and then calls it a success when the
    model misclassifies the all-zero input; such a sample counts as not found here."""
    fmodel = foolbox.PyTorchModel(net, bounds=(0, 1))
    idx = np.nonzero(correct)[0]
    xs, ys = x[idx], y[idx]
    out = {}
    for key, params in CW.items():
        raw, _, success = foolbox.attacks.L2CarliniWagnerAttack(**params)(fmodel, xs, ys, epsilons=None)
        found = success.numpy() & (raw.flatten(1) != 0).any(1).numpy()
        l2 = np.full(len(y), np.nan, dtype=np.float32)
        l2[idx[found]] = (raw - xs).flatten(1).norm(dim=1).numpy()[found]
        mask = np.zeros(len(y), dtype=bool)
        mask[idx[found]] = True
        out[f"{key}_l2"] = l2
        out[f"{key}_found"] = mask
        print(f"  {key}: found {found.sum()}/{len(idx)}, median L2 {np.median(l2[mask]):.4f}")
    return out


def export(net, path):
    buf = io.BytesIO()
    torch.onnx.export(
        net,
        torch.zeros(1, 1, 8, 8),
        buf,
        dynamo=False,
        opset_version=17,
        # The module is in eval mode; PRESERVE keeps its batch norms as nodes instead of folding
        # them into the convolutions in float32, so the ONNX graph computes exactly the module's
        # function (the float64 references stay comparable to 1e-12).
        training=torch.onnx.TrainingMode.PRESERVE,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )
    model = onnx.load_from_string(buf.getvalue())
    model.producer_name = "scripts/adversarial/make_grad_models.py"
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return sorted({n.op_type for n in model.graph.node})


def main(root):
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    out = os.path.join(root, "grad")
    os.makedirs(out, exist_ok=True)
    data = np.load(os.path.join(root, "digits_test.npz"))
    x_all = torch.from_numpy(data["x"])
    y_all = torch.from_numpy(data["y"])
    x, y = x_all[:SAMPLES], y_all[:SAMPLES]
    ops = {}
    for name, cls in MODELS.items():
        net = train(cls(), x_all, y_all)
        ops[name] = export(net, os.path.join(out, f"{name}.onnx"))
        logits32, grad32 = reference(net, x, y)
        unit = np.random.default_rng(SEED).uniform(-1.0, 1.0, size=tuple(x.shape)).astype(np.float32)
        fgsm, pgd = attacks(net, x, y, unit)
        # On a copy, with the random state restored after, so nothing before or after changes.
        with torch.random.fork_rng():
            cw = carlini_wagner(copy.deepcopy(net), x, y, logits32.argmax(1) == y.numpy())
        logits64, grad64 = reference(net.double(), x.double(), y)
        np.savez(
            os.path.join(out, f"{name}.npz"),
            x=x.numpy(),
            y=y.numpy(),
            logits32=logits32,
            grad32=grad32,
            logits64=logits64,
            grad64=grad64,
            pgd_unit=unit,
            fgsm=fgsm,
            pgd=pgd,
            cw_attacked=logits32.argmax(1) == y.numpy(),
            **cw,
        )
        acc = (logits32.argmax(1) == y.numpy()).mean()
        print(f"{name}: ops {ops[name]}, accuracy on the {SAMPLES} samples {acc:.2f}")
    versions = {
        "torch": torch.__version__,
        "numpy": np.__version__,
        "onnx": onnx.__version__,
        "torchattacks": torchattacks.__version__,
        "foolbox": foolbox.__version__,
        "eagerpy": eagerpy.__version__,
        "cw": {key: {**params, "bounds": [0, 1], "samples": "correctly classified"} for key, params in CW.items()},
        "fgsm": {"eps": EPS},
        "pgd": {"eps": EPS, "alpha": 2.5 * EPS / PGD_STEPS, "steps": PGD_STEPS, "random_start": "x + eps * pgd_unit"},
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
