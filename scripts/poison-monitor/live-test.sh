#!/usr/bin/env bash
# The live DDP test (integrations/pytorch/test_live_ddp.py): real DDP, 4 ranks, gloo, CPU, the
# hook registered as documented, sending to `mlsec poison-monitor listen`. One command:
#
#   MLSEC_TORCH_PYTHON=/path/to/python-with-torch MLSEC_BIN=/path/to/mlsec scripts/poison-monitor/live-test.sh
#   scripts/poison-monitor/live-test.sh /path/to/python-with-torch      # builds target/debug/mlsec
#
# The Python is MLSEC_TORCH_PYTHON, else the first argument, else python3. Without MLSEC_BIN the
# binary is built with `cargo build -p mlsec`. The test is required here (MLSEC_LIVE_REQUIRED=1):
# a Python without torch or a missing binary fails instead of skipping. About a minute on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
python="${MLSEC_TORCH_PYTHON:-${1:-python3}}"
if [ -z "${MLSEC_BIN:-}" ]; then
    cargo build -p mlsec
    MLSEC_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/mlsec"
fi
export MLSEC_BIN
export MLSEC_LIVE_REQUIRED="${MLSEC_LIVE_REQUIRED:-1}"
exec "$python" -m unittest -v integrations/pytorch/test_live_ddp.py
