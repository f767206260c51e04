#!/usr/bin/env bash
# Cross-node vs single-node WebSocket broadcast latency through the Redis broker,
# alternating rounds. Details: tuning/cross-node-broadcast.py.
# Usage: tuning/cross-node-broadcast.sh [--listeners N] [--publishes M] [--rounds R]
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 tuning/cross-node-broadcast.py "$@"
