#!/usr/bin/env bash
# The comparison table (issue 14): auralis-server against nginx, Node's `ws` and wrk on
# identical work, plus its own goals, measured side by side in one run and written to
# tuning/results/. Details and the rows: tuning/bench.py.
# Usage: tuning/bench.sh [--quick] [--rounds N] [--broadcast-only]   (--quick: under 3 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 tuning/bench.py "$@"
