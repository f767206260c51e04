#!/usr/bin/env bash
# Real-time listeners one core holds with zero underruns, per format (WAV, FLAC, Opus
# side by side in one run). Details: tuning/listeners-by-format.py.
# Usage: tuning/listeners-by-format.sh [--listeners N] [--secs S] [--max-speed X]
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 tuning/listeners-by-format.py "$@"
