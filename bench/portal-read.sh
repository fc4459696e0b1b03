#!/usr/bin/env bash
# Benchmark P4 (design §7, issue 7): portal-api's dashboard and licence endpoints on a 100,000-user tenant with
# 10,000,000 call records at 200 requests/s (p99), next to psql's time for the same statements. Target: p99 < 50 ms.
# Needs PostgreSQL (scripts/services) and psql. Filling the database takes a few minutes; keep it for reruns with
#   bench/portal-read.sh --reuse sua_bench_p4_xxxxxxxx      (the name is printed while filling)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services >/dev/null
cargo build --release --bin sua -p sua >/dev/null 2>&1
cargo build --release -p sua-bench --bin sua-portal-read >/dev/null 2>&1
exec target/release/sua-portal-read "$@"
