#!/usr/bin/env bash
# Library write latency, single node vs shared through PostgreSQL, alternating rounds,
# and the change feed's lag to a second node. Details: tuning/shared-library-writes.py.
# Usage: tuning/shared-library-writes.sh [--requests N] [--rounds R]
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 tuning/shared-library-writes.py "$@"
