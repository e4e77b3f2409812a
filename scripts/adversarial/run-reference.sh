#!/usr/bin/env bash
# Runs reference.py in the environment made by setup-reference-env.sh.
set -euo pipefail
ENV=${ADV_ENV:-/tmp/advenv}
cd "$(dirname "$0")/../.."
LD_LIBRARY_PATH="$ENV/stubs:$ENV/torch/nvidia/cu13/lib" PYTHONPATH="$ENV/torch" \
  "$ENV/bin/python" scripts/adversarial/reference.py testdata/adversarial
