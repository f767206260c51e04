#!/usr/bin/env bash
# Profiles behind the unmet floors of tuning/bench.sh, each process beside its peer on
# the same load: CPU per request user/kernel, kernel share, top symbols (perf).
# Writes tuning/results/profile-*.md. Details: tuning/profile.py.
# Usage: tuning/profile.sh [--secs S] [--top N] [json|broadcast|loadgen ...]
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 tuning/profile.py "$@"
