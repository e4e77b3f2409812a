#!/usr/bin/env bash
# The live DDP test: builds the mlsec binary, then runs integrations/pytorch/test_live_ddp.py
# with the given Python (one that has torch; default python3). Without torch the test is
# skipped with a visible message.
#
#   scripts/poison-monitor/live-test.sh /work/venvs/torch/bin/python
set -euo pipefail
cd "$(dirname "$0")/../.."
python="${1:-python3}"
cargo build -p mlsec
target="${CARGO_TARGET_DIR:-target}"
MLSEC_BIN="$target/debug/mlsec" exec "$python" -m unittest -v integrations/pytorch/test_live_ddp.py
