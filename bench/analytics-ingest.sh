#!/usr/bin/env bash
# Benchmark P2 (design §7, issue 6): call records/s ingested by analytics (consumed from RabbitMQ, normalised into
# PostgreSQL, rollups recomputed) vs psql COPY of the same rows into tables with the same keys and indexes, on the
# same machine in the same run. Target: ratio ≥ 0.5×. Needs PostgreSQL and RabbitMQ (scripts/services) and psql.
#   bench/analytics-ingest.sh [records] [prefetch]   (prefetch: analytics.prefetch when absent)
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS=${1:-20000}
PREFETCH=${2:+--prefetch $2}
scripts/services >/dev/null
cargo build --release -p sua-bench --bin sua-ingest >/dev/null 2>&1
exec target/release/sua-ingest --records "$RECORDS" $PREFETCH
