"""Reference numbers for `mlsec adversarial` on the shipped example, from the reference
libraries: torchattacks 3.5.1 (FGSM, PGD) and foolbox 3.3.4 (L2CarliniWagnerAttack).

Writes testdata/adversarial/reference.json and testdata/adversarial/pgd_noise.npy (the unit
noise of PGD's random start, fed to torchattacks here and to mlsec in the tests, so both start
from the same points). The Rust tests in crates/mlsec-adversarial/tests/reference.rs compare
against these files.

The model is rebuilt in PyTorch from the ONNX initializers (Flatten -> Linear -> ReLU -> Linear).
Robust accuracy is counted like mlsec does: a sample is robust when it is classified correctly
both before and after the attack.

Environment: scripts/adversarial/setup-reference-env.sh (torch 2.13.0 CPU from PyPI without
its CUDA libraries, torchattacks, foolbox), then:

    scripts/adversarial/run-reference.sh
"""

import json
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper
import torch
import torchattacks
import foolbox as fb

EPSILONS = [0.05, 0.1, 0.2]
PGD_STEPS = 20
CW = dict(binary_search_steps=9, steps=200, stepsize=0.01, confidence=0, initial_const=1e-3, abort_early=True)
L2_BUDGETS = [0.5, 1.0, 2.0]
NOISE_SEED = 1234


def build_model(path):
    model = onnx.load(path)
    w = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    fc1 = torch.nn.Linear(64, w["fc1.weight"].shape[1])
    fc2 = torch.nn.Linear(w["fc2.weight"].shape[0], 10)
    with torch.no_grad():
        # ONNX Gemm computes x @ W + b with W stored [in, out]; torch Linear stores [out, in].
        fc1.weight.copy_(torch.from_numpy(w["fc1.weight"].T.copy()))
        fc1.bias.copy_(torch.from_numpy(w["fc1.bias"]))
        fc2.weight.copy_(torch.from_numpy(w["fc2.weight"].T.copy()))
        fc2.bias.copy_(torch.from_numpy(w["fc2.bias"]))
    net = torch.nn.Sequential(torch.nn.Flatten(), fc1, torch.nn.ReLU(), fc2)
    return net.eval()


def main(root):
    torch.set_num_threads(1)
    net = build_model(os.path.join(root, "digits_mlp.onnx"))
    data = np.load(os.path.join(root, "digits_test.npz"))
    x = torch.from_numpy(data["x"])
    y = torch.from_numpy(data["y"])
    with torch.no_grad():
        clean_pred = net(x).argmax(1)
    correct = (clean_pred == y).numpy()
    out = {
        "libraries": {"torch": torch.__version__, "torchattacks": torchattacks.__version__, "foolbox": fb.__version__},
        "samples": int(len(y)),
        "clean_pred": clean_pred.tolist(),
        "clean_accuracy": float(correct.mean()),
        "fgsm": [],
        "pgd": [],
    }

    for eps in EPSILONS:
        adv = torchattacks.FGSM(net, eps=eps)(x, y)
        with torch.no_grad():
            pred = net(adv).argmax(1)
        robust = correct & (pred == y).numpy()
        out["fgsm"].append({"epsilon": eps, "adv_pred": pred.tolist(), "robust_accuracy": float(robust.mean())})

    rng = np.random.default_rng(NOISE_SEED)
    unit = rng.uniform(-1.0, 1.0, size=tuple(x.shape)).astype(np.float32)
    np.save(os.path.join(root, "pgd_noise.npy"), unit)
    original_uniform = torch.Tensor.uniform_
    for eps in EPSILONS:
        alpha = 2.5 * eps / PGD_STEPS

        def fed_uniform(self, a=0.0, b=1.0, *args, **kwargs):
            # torchattacks draws empty_like(x).uniform_(-eps, eps): use the stored noise.
            return self.copy_(torch.from_numpy(unit).reshape(self.shape) * b)

        torch.Tensor.uniform_ = fed_uniform
        try:
            adv = torchattacks.PGD(net, eps=eps, alpha=alpha, steps=PGD_STEPS, random_start=True)(x, y)
        finally:
            torch.Tensor.uniform_ = original_uniform
        with torch.no_grad():
            pred = net(adv).argmax(1)
        robust = correct & (pred == y).numpy()
        out["pgd"].append(
            {"epsilon": eps, "alpha": alpha, "steps": PGD_STEPS, "robust_accuracy": float(robust.mean())}
        )

    fmodel = fb.PyTorchModel(net, bounds=(0, 1))
    idx = np.nonzero(correct)[0]
    attack = fb.attacks.L2CarliniWagnerAttack(**CW)
    raw, _, success = attack(fmodel, x[idx], y[idx], epsilons=None)
    l2 = (raw - x[idx]).flatten(1).norm(dim=1).numpy()
    success = success.numpy().reshape(-1)
    found = l2[success]
    out["cw"] = {
        "params": CW,
        "attacked": int(len(idx)),
        "found": int(success.sum()),
        "median_l2": float(np.median(found)),
        "robust_accuracy": {
            str(b): float(((~success) | (l2 > b)).sum() / len(y)) for b in L2_BUDGETS
        },
    }
    with open(os.path.join(root, "reference.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(json.dumps({k: v for k, v in out.items() if k not in ("clean_pred", "fgsm")}, indent=1))
    print("fgsm", [(r["epsilon"], r["robust_accuracy"]) for r in out["fgsm"]])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "testdata/adversarial")
