#!/usr/bin/env bash
# Installs PyTorch 2.13.0 from PyPI for the optional `torch` cargo feature (tch 0.26 needs
# exactly that libtorch), CPU use only.
#
#   scripts/setup-libtorch.sh [DIR]                  # libtorch only (default DIR: /tmp/libtorch-2.13)
#   scripts/setup-libtorch.sh --with-python [DIR]    # a venv DIR/venv with the full torch package
#
# Libtorch only: the torch wheel plus the two CUDA runtime wheels its CPU library needs, unpacked
# with `pip --target` (about 540 MB; the other CUDA libraries are only needed by the Python
# extension and CUDA code). It is enough to build and run `mlsec --features torch`.
#
# --with-python: torch==2.13.0 with its dependencies into a venv, so the same install is both
# libtorch for cargo and a Python that imports torch, which the live DDP test of the poison
# monitor needs (`import torch` fails without the CUDA libraries even on CPU: PyPI has no
# CPU-only wheel). This is what `cargo xtask ci-torch` uses. Disk is the constraint here (a CI
# run once died of a full disk in this step), so pip resolves the set once (`--dry-run
# --report`, metadata only), then installs it one package at a time without its cache: the
# disk holds the venv plus one wheel being unpacked, not every wheel twice. `triton` (the GPU
# compiler of `torch.compile`, 0.7 GB) is left out: nothing here compiles for a GPU.
# About 4 GB in all (3 GB of it CUDA libraries).
#
# Either way the script prints the environment to use:
#   export LIBTORCH=... LD_LIBRARY_PATH=... LIBTORCH_BYPASS_VERSION_CHECK=1 [MLSEC_TORCH_PYTHON=...]
#   cargo test -p mlsec --features torch
#
# torch-sys compiles for a few minutes on 2 cores. The `mlsec` binary gets an rpath to
# $LIBTORCH/lib from its build script, so it runs without LD_LIBRARY_PATH; test binaries of the
# library crates need LD_LIBRARY_PATH.
set -euo pipefail
TORCH=torch==2.13.0
python=no
if [ "${1:-}" = "--with-python" ]; then
  python=yes
  shift
fi
DIR=${1:-/tmp/libtorch-2.13}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
if [ "$python" = yes ]; then
  if [ ! -x "$DIR/venv/bin/python" ] || ! "$DIR/venv/bin/python" -c 'import torch' 2>/dev/null; then
    rm -rf "$DIR/venv"
    python3 -m venv "$DIR/venv"
    py="$DIR/venv/bin/python"
    pip=("$py" -m pip --disable-pip-version-check --no-cache-dir)
    "${pip[@]}" install --quiet --dry-run --ignore-installed --report "$DIR/resolved.json" "$TORCH"
    "$py" - "$DIR/resolved.json" > "$DIR/resolved.txt" <<'PY'
import json, sys
for item in json.load(open(sys.argv[1]))["install"]:
    meta = item["metadata"]
    if meta["name"].lower() != "triton":
        print(f'{meta["name"]}=={meta["version"]}')
PY
    while read -r spec; do
      "${pip[@]}" install --quiet --no-deps "$spec"
    done < "$DIR/resolved.txt"
    "$py" -c 'import torch' || { echo "setup-libtorch.sh: torch does not import" >&2; exit 1; }
  fi
  site=$("$DIR/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "export MLSEC_TORCH_PYTHON=$DIR/venv/bin/python"
else
  if [ ! -f "$DIR/torch/lib/libtorch_cpu.so" ]; then
    python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$DIR" \
      "$TORCH" nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85
  fi
  site=$DIR
fi
echo "export LIBTORCH=$site/torch"
echo "export LD_LIBRARY_PATH=$site/torch/lib:$site/nvidia/cu13/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
echo "export LIBTORCH_BYPASS_VERSION_CHECK=1"
