"""Writes testdata/adversarial/digits_mlp.pt: the shipped ONNX example as a TorchScript module
(torch.jit.trace), for the tests of the optional `torch` feature. Run in the reference
environment (setup-reference-env.sh):

    LD_LIBRARY_PATH=... PYTHONPATH=... python scripts/adversarial/make_torchscript.py
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from reference import build_model  # noqa: E402


def main(root):
    net = build_model(os.path.join(root, "digits_mlp.onnx"))
    traced = torch.jit.trace(net, torch.zeros(1, 1, 8, 8))
    traced.save(os.path.join(root, "digits_mlp.pt"))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "testdata/adversarial")
