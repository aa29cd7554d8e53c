#!/usr/bin/env bash
# `make bench`: installs the load generator (socket.io-client, from the lock file) and runs
# every scenario; BENCH_QUICK=1 runs them all at small scale in about a minute.
set -euo pipefail
cd "$(dirname "$0")"
command -v node >/dev/null || { echo "bench: Node.js 20 is needed for the load generator" >&2; exit 2; }
{ [ -d node_modules/socket.io-client ] && [ -d node_modules/socket.io ]; } || npm ci --silent --no-audit --no-fund
# Scenario 3 holds 5,000 users x 2 sockets on each side.
ulimit -n 16384 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt 16384 ]; then
  echo "bench: the open-file limit is $(ulimit -n); scenario 3 needs 16384 (raise the hard limit)" >&2
  exit 2
fi
args=("$@")
[ "${BENCH_QUICK:-0}" = 1 ] && args+=(--quick)
exec ../.venv/bin/python bench.py "${args[@]}"
