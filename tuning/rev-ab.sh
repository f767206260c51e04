#!/usr/bin/env bash
# This tree's server against an older revision's on identical work, alternating
# rounds (JSON req/s, broadcast p99 and CPU per delivery). Details: tuning/rev-ab.py.
# Usage: tuning/rev-ab.sh BASE_REV [--rounds N] [--listeners N] [--secs S]
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 tuning/rev-ab.py "$@"
