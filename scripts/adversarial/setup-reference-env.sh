#!/usr/bin/env bash
# Builds the Python environment for reference.py under ${ADV_ENV:-/tmp/advenv} from PyPI only.
#
# torch 2.13.0 from PyPI is a CUDA build; for CPU use only its CUDA runtime wheels are needed at
# run time (installed with --no-deps). Its Python extension still links the other CUDA
# libraries (cuBLAS, cuDNN, ...), which a CPU run never calls, so we satisfy the dynamic linker
# with empty stub libraries that define the (versioned) symbols torch imports. The stubs are
# never executed: any CUDA call would fail, and reference.py never makes one.
set -euo pipefail
ENV=${ADV_ENV:-/tmp/advenv}
python3 -m venv "$ENV"
"$ENV/bin/pip" install -q numpy scikit-learn onnx
"$ENV/bin/pip" install -q --no-deps --target "$ENV/torch" torch==2.13.0 nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85
"$ENV/bin/pip" install -q --no-deps torchattacks==3.5.1 foolbox==3.3.4 eagerpy==0.30.0
"$ENV/bin/pip" install -q scipy requests GitPython typing-extensions filelock sympy networkx jinja2 fsspec

STUBS="$ENV/stubs"
mkdir -p "$STUBS"
TORCH_LIB="$ENV/torch/torch/lib"
CUDA_LIB="$ENV/torch/nvidia/cu13/lib"
for f in "$TORCH_LIB"/*.so; do nm -D --undefined-only "$f" 2>/dev/null | awk '{print $2}'; done | sort -u > "$STUBS/undef.txt"
{
  for f in "$TORCH_LIB"/*.so* "$CUDA_LIB"/*.so*; do nm -D --defined-only "$f" 2>/dev/null | awk '{print $3}'; done
  for f in /lib/x86_64-linux-gnu/libc.so.6 /lib/x86_64-linux-gnu/libm.so.6 /lib/x86_64-linux-gnu/libstdc++.so.6 /lib/x86_64-linux-gnu/libgcc_s.so.1; do
    nm -D --defined-only "$f" 2>/dev/null | awk '{print $3}'
  done
} | sed 's/@@\?.*//' | sort -u > "$STUBS/def.txt"
python3 - "$STUBS" <<'PY'
import collections, sys
d = sys.argv[1]
defs = set(l.strip() for l in open(f"{d}/def.txt"))
byver = collections.defaultdict(set)
for u in open(f"{d}/undef.txt"):
    name, _, ver = u.strip().partition("@")
    ver = ver.lstrip("@")
    if not name or name in defs or ver.startswith(("GLIBC", "GCC", "CXXABI", "GLIBCXX", "GOMP", "OMP")):
        continue
    byver[ver].add(name)
names = set().union(*byver.values()) if byver else set()
with open(f"{d}/stub.c", "w") as f:
    for n in sorted(names):
        f.write(f"void {n}(void){{}}\n")
with open(f"{d}/ver.map", "w") as f:
    for v, ns in byver.items():
        if v:
            f.write("%s { global: %s; };\n" % (v, "; ".join(sorted(ns))))
PY
gcc -shared -fPIC -o "$STUBS/stub.so" "$STUBS/stub.c" -Wl,--version-script="$STUBS/ver.map"
for lib in libcublas.so.13 libcublasLt.so.13 libcudnn.so.9 libcufft.so.12 libcufile.so.0 libcurand.so.10 \
  libcusparse.so.12 libcusparseLt.so.0 libnccl.so.2 libnvrtc.so.13 libnvshmem_host.so.3 libcusolver.so.12; do
  cp "$STUBS/stub.so" "$STUBS/$lib"
done
echo "reference environment ready in $ENV"
