#!/usr/bin/env bash
# Real-time Subsonic apps one core holds with zero underruns (the file, and Opus made
# from the chunk cache), beside the chunk API's listeners. Details:
# tuning/subsonic-listeners.py.
# Usage: tuning/subsonic-listeners.sh [--listeners N] [--secs S] [--max-speed X]
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 tuning/subsonic-listeners.py "$@"
