#!/usr/bin/env bash
# Real-time listeners as real sockets (two per listener, speed 1), as many as the
# open-file limit allows, on one server core for a long run: underruns, p99 chunk
# latency, RSS per listener, CPU share. Details: tuning/real-listeners.py.
# Usage: tuning/real-listeners.sh [--listeners N] [--secs S] [--format opus|flac|wav]
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 tuning/real-listeners.py "$@"
