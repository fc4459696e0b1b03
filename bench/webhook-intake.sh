#!/usr/bin/env bash
# Benchmark P1 (design §7, issue 5): Graph change notifications accepted per second by the release collector's
# webhook (clientState checked, a fetch job published to RabbitMQ with publisher confirms, then 202), against a
# no-op actix-web endpoint answering 202 on the same machine in the same run. Targets (design §7): ≥ 0.5× the
# no-op's requests/s at 64 and at 256 connections, p99 < 20 ms. Needs PostgreSQL and RabbitMQ (scripts/services).
#
# What is measured, so that the ratio is read right: notifications are grouped before they are published (a batch
# of up to `callrecords.webhook_batch_max`, about a dozen per confirmed fetch job at these loads, so one publisher
# confirm covers many answers), and the subscription and client-state lookups are cached after the first request.
# Each answered notification is still one request validated and one record queued for fetching, confirmed by the
# broker before its 202.
#   bench/webhook-intake.sh [seconds per run] [connections, comma-separated]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services >/dev/null
cargo build --release --bin sua
cargo build --release -p sua-bench --bins
exec python3 bench/webhook_intake.py "${1:-20}" "${2:-16,64,256}"
