"""The Python side of `cargo xtask bench adversarial`: attack-only time of torchattacks 3.5.1
(FGSM, PGD) and foolbox 3.3.4 (L2CarliniWagnerAttack) on the models of
testdata/adversarial/grad, for the side-by-side table with mlsec.

The modules are make_grad_models.py's classes with the weights and batch-norm statistics of the
committed ONNX files (their initializers carry the state_dict's names), so both sides attack the
same function. The samples are the 32 digits of NAME.npz tiled to --samples, every one attacked
(torchattacks and foolbox attack misclassified points too; the bench makes mlsec do the same).

Parameters, the same as the bench's mlsec side: FGSM eps 0.1; PGD eps 0.1, --pgd-steps steps of
2.5*eps/steps, random start; CW one constant c = 1 (binary_search_steps=1), --cw-steps Adam
steps of 0.01, confidence 0, abort_early off, bounds (0, 1). One batch per attack.

Each time is the best of --repeat calls after one warm-up call, with --threads intra-op threads
(torch.set_num_threads), for the attack alone and with the verdict (the predicted classes of
the adversarials, which mlsec's FGSM and PGD return; foolbox's CW computes them itself). Prints
one JSON object on stdout: {"threads", "versions": {...}, "results": [{"model", "attack",
"seconds", "verdict_seconds"}]}.

Run with a Python that has torch, torchattacks, foolbox and onnx (e.g. /work/venvs/grad, see
make_grad_models.py): python bench_torch.py --models digits_cnn,resnet_stem
"""

import argparse
import importlib.util
import json
import os
import sys
import time

import foolbox
import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torchattacks

HERE = os.path.dirname(os.path.abspath(__file__))
GRAD = os.path.join(HERE, "..", "..", "testdata", "adversarial", "grad")
EPS = 0.1


def grad_models():
    spec = importlib.util.spec_from_file_location("make_grad_models", os.path.join(HERE, "make_grad_models.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MODELS


def load(cls, name):
    """The module with every parameter and buffer taken from the ONNX file's initializers."""
    net = cls().eval()
    inits = {i.name: torch.from_numpy(onnx.numpy_helper.to_array(i).copy()) for i in onnx.load(os.path.join(GRAD, f"{name}.onnx")).graph.initializer}
    state = net.state_dict()
    missing = [k for k in state if k not in inits and not k.endswith("num_batches_tracked")]
    if missing:
        sys.exit(f"{name}.onnx has no initializer for {missing}")
    net.load_state_dict({k: inits.get(k, v) for k, v in state.items()})
    return net


def best(repeat, f):
    f()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--models", default="digits_cnn,resnet_stem")
    p.add_argument("--samples", type=int, default=512)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pgd-steps", type=int, default=20)
    p.add_argument("--cw-steps", type=int, default=100)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    classes = grad_models()
    results = []
    for name in args.models.split(","):
        net = load(classes[name], name)
        data = np.load(os.path.join(GRAD, f"{name}.npz"))
        reps = -(-args.samples // len(data["y"]))
        x = torch.from_numpy(np.concatenate([data["x"]] * reps)[: args.samples])
        y = torch.from_numpy(np.concatenate([data["y"]] * reps)[: args.samples])
        fgsm = torchattacks.FGSM(net, eps=EPS)
        pgd = torchattacks.PGD(net, eps=EPS, alpha=2.5 * EPS / args.pgd_steps, steps=args.pgd_steps, random_start=True)
        fmodel = foolbox.PyTorchModel(net, bounds=(0, 1))
        cw = foolbox.attacks.L2CarliniWagnerAttack(
            binary_search_steps=1, steps=args.cw_steps, stepsize=0.01, confidence=0, initial_const=1.0, abort_early=False
        )
        # With the verdict: the adversarials' predicted classes as well, what mlsec's FGSM and
        # PGD return (foolbox's CW already evaluates the model on its result).
        def verdict(attack):
            adv = attack(x, y)
            with torch.no_grad():
                return net(adv).argmax(1)

        runs = [
            ("FGSM", 4 * args.repeat, lambda: fgsm(x, y), lambda: verdict(fgsm)),
            (f"PGD-{args.pgd_steps}", args.repeat, lambda: pgd(x, y), lambda: verdict(pgd)),
            (f"CW 1x{args.cw_steps}", max(1, args.repeat // 2), lambda: cw(fmodel, x, y, epsilons=None), None),
        ]
        for attack, repeat, f, with_verdict in runs:
            seconds = best(repeat, f)
            verdict_seconds = best(repeat, with_verdict) if with_verdict else seconds
            results.append({"model": name, "attack": attack, "seconds": seconds, "verdict_seconds": verdict_seconds})
            print(f"  {name} {attack}: {seconds:.4f} s, with the verdict {verdict_seconds:.4f} s", file=sys.stderr)
    versions = {"torch": torch.__version__, "torchattacks": torchattacks.__version__, "foolbox": foolbox.__version__}
    json.dump({"threads": torch.get_num_threads(), "versions": versions, "results": results}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
