#!/usr/bin/env bash
# Benchmark P3 (design §7, issue 4): the daily licence sync of a 100,000-user tenant by the release collector,
# against the Graph simulator, publishing to RabbitMQ and recording in PostgreSQL, compared with paging the same
# Graph data alone (a client that only reads the pages). Targets: sync time ≤ 1.5× paging alone; collector peak
# RSS < 150 MB. Needs PostgreSQL and RabbitMQ (scripts/services).
#   bench/licence-sync.sh [users]
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${1:-100000}
scripts/services >/dev/null
cargo build --release --bin sua >/dev/null 2>&1
exec python3 bench/licence_sync.py "$USERS"
