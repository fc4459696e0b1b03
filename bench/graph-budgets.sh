#!/usr/bin/env bash
# Benchmark P5 (design §7): fifty customers consent at once and a call storm spreads over them, with two release
# collector replicas, against the Graph simulator enforcing Microsoft's documented budgets (--throttles: 429 with
# Retry-After). Goals: no 429 at steady state, >= 80 % of a saturated budget used, the backlog drained close to the
# least time the budgets allow. Needs PostgreSQL and RabbitMQ (scripts/services); takes about 10 minutes.
#   bench/graph-budgets.sh [tenants] [users per tenant]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services >/dev/null
cargo build --release -p sua --bin sua >/dev/null 2>&1
exec python3 bench/graph_budgets.py "$@"
