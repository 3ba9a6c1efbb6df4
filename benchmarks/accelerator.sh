#!/usr/bin/env bash
# Every benchmark at accelerator-sized settings (about 8 minutes in all on one GPU), writing JSON
# into benchmarks/results/ and one RESULTS.md row each, with the device's name. Runs unchanged on
# a CPU; `--smoke` uses tiny settings (a test runs it so). Peers that are not installed are
# skipped and reported so. Usage: benchmarks/accelerator.sh [--smoke]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-python3}"
profile=accelerator
if [[ "${1:-}" == "--smoke" ]]; then profile=smoke; fi
cd "$here"
exec "$python" run_all.py --profile "$profile"
