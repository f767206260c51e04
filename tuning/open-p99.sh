#!/usr/bin/env bash
# Open-model p99 of auralis vs nginx under the same load (or two auralis knob values),
# alternating rounds. Details: tuning/open-p99.py.
# Usage: tuning/open-p99.sh [--rate R] [--rounds N] [--secs S] [--knob VAR A B]
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 tuning/open-p99.py "$@"
