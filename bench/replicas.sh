#!/usr/bin/env bash
# Throughput per replica (issue 20): call records fetched per second by 1 and 2 collector worker replicas, and
# stored per second by 1 and 2 analytics replicas, as separate release processes on one RabbitMQ and PostgreSQL
# (a private virtual host and database, removed afterwards), against the Graph simulator; with the CPU seconds of
# every process, the machine's busy cores, the database pools and the Graph requests of each run, so that the
# resource that saturates can be named. Rounds alternate 1, 2, 1, 2 replicas; then one busy tenant, where
# Microsoft's per-tenant call-records budget is the limit. Needs PostgreSQL, RabbitMQ and rabbitmqctl
# (scripts/services); takes about 15 minutes.
#   bench/replicas.sh [tenants] [calls per round, 0 skips the rounds] [calls in the one-tenant rounds, 0 skips] [throttles]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services >/dev/null
cargo build --release -p sua --bin sua >/dev/null 2>&1
exec python3 bench/replicas.py "$@"
