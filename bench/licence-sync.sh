#!/usr/bin/env bash
# Benchmark P3 (design §7, issue 4): the daily licence sync of a 100,000-user tenant by the release collector,
# against the Graph simulator, publishing to RabbitMQ and recording in PostgreSQL, compared with paging the same
# Graph data alone (bench/load's sua-graph-paging: a Rust client with connection reuse that only reads the pages).
# Targets (design §7): sync time ≤ 1.15× paging alone; collector peak RSS < 100 MB, flat in tenant size. Needs
# PostgreSQL and RabbitMQ (scripts/services).
#   bench/licence-sync.sh [users]
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${1:-100000}
scripts/services >/dev/null
cargo build --release -p sua --bin sua >/dev/null 2>&1
cargo build --release -p sua-bench --bin sua-graph-paging >/dev/null 2>&1
exec python3 bench/licence_sync.py "$USERS"
