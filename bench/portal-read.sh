#!/usr/bin/env bash
# Benchmark P4 (design §7, issues 13 and 19): portal-api's dashboard, licences, operator summary, 90-day trends,
# chargeback, department usage, call quality (with and without the worst users) and users sorted by last sign-in
# (first page and page 501) on a 100,000-user tenant with 10,000,000 call records at 200 requests/s, with the
# aggregate cache as shipped and with it off (portal.cache_ttl_secs = 0). Baseline: psql replaying exactly the statements one request of the endpoint runs
# (captured from portal-api's `sua_db::statements` log by trace id). Target: p99 < 50 ms with the cache off.
# Options: --only dashboard,licences  --quick (no informational pages or exports)  --seconds N  --keep
# Needs PostgreSQL (scripts/services) and psql. Filling the database takes a few minutes; keep it for reruns with
#   bench/portal-read.sh --reuse sua_bench_p4_xxxxxxxx      (the name is printed while filling)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services >/dev/null
cargo build --release --bin sua -p sua >/dev/null 2>&1
cargo build --release -p sua-bench --bin sua-portal-read >/dev/null 2>&1
exec target/release/sua-portal-read "$@"
