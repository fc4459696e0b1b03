#!/usr/bin/env bash
# Benchmark P1 (design §7, issue 5): Graph change notifications accepted per second by the release collector's
# webhook (clientState checked, a fetch job published to RabbitMQ with publisher confirms, then 202), against a
# no-op actix-web endpoint answering 202 on the same machine in the same run. Targets: ≥ 0.5× the no-op's
# requests/s, p99 < 100 ms. Needs PostgreSQL and RabbitMQ (scripts/services).
#   bench/webhook-intake.sh [seconds per run] [connections, comma-separated]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services >/dev/null
cargo build --release --bin sua
cargo build --release -p sua-bench --bins
exec python3 bench/webhook_intake.py "${1:-20}" "${2:-16,64,256}"
