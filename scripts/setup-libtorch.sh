#!/usr/bin/env bash
# Installs libtorch for the optional `torch` cargo feature (tch 0.26 needs PyTorch 2.13.0) from
# PyPI, CPU use only: the torch wheel plus the two CUDA runtime wheels its CPU library needs
# (about 540 MB; the other CUDA libraries are only needed by the Python extension and CUDA code).
#
#   scripts/setup-libtorch.sh [DIR]        # default DIR: /tmp/libtorch-2.13
#   export LIBTORCH=DIR/torch LD_LIBRARY_PATH=DIR/torch/lib:DIR/nvidia/cu13/lib
#   cargo test -p mlsec --features torch
#
# torch-sys compiles for a few minutes on 2 cores. The `mlsec` binary gets an rpath to
# $LIBTORCH/lib from its build script, so it runs without LD_LIBRARY_PATH; test binaries of the
# library crates need LD_LIBRARY_PATH. `cargo xtask ci` runs all of this (xtask/src/torch.rs).
set -euo pipefail
DIR=${1:-/tmp/libtorch-2.13}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
if [ ! -f "$DIR/torch/lib/libtorch_cpu.so" ]; then
  python3 -m pip install --quiet --no-deps --target "$DIR" \
    torch==2.13.0 nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85
fi
echo "export LIBTORCH=$DIR/torch"
echo "export LD_LIBRARY_PATH=$DIR/torch/lib:$DIR/nvidia/cu13/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
echo "export LIBTORCH_BYPASS_VERSION_CHECK=1"
