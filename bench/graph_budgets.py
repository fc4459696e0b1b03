"""Orchestrates bench/graph-budgets.sh (P5): fifty customers consenting at once and a call storm, against a simulator
that enforces Microsoft's documented request budgets (429 with Retry-After), with two release collector replicas.

Reports the 429s sua received per Graph API, how much of the signInActivity budget (10 requests a minute per app,
across every tenant: the one a backlog of first syncs saturates) it used while work was waiting, and how long the
first syncs took against the least time that budget allows."""
import json, sys, time, urllib.request
from collections import Counter

from benchlib import Bench, free_port, psql, wait_http

TENANTS = int(sys.argv[1]) if len(sys.argv) > 1 else 50
USERS = int(sys.argv[2]) if len(sys.argv) > 2 else 300
STORM = 40  # calls per tenant
PER_MINUTE = 10  # Microsoft's signInActivity budget per app across tenants

bench = Bench(USERS, tenants=TENANTS, sim_args=["--throttles", "--days", "2", "--calls-per-user", "0.5"])
try:
    budget = {"SUA_GRAPH__SIGN_IN_ACTIVITY_PER_MINUTE": str(PER_MINUTE)}
    bench.collector(**budget)
    second = free_port()
    bench.collector_at(second, **budget)
    started = time.time()
    for _ in range(TENANTS):
        bench.onboard()
    consented = time.time()
    for tenant in bench.tenants:
        req = urllib.request.Request(f"{bench.base}/_sim/tenants/{tenant['id']}/calls?count={STORM}", method="POST")
        urllib.request.urlopen(req).read()
    deadline = time.time() + 3600
    while time.time() < deadline:
        done = int(psql("SELECT COUNT(*) FROM collector.sync_runs WHERE kind = 'licence' AND status = 'completed'", bench.db))
        if done >= TENANTS:
            break
        time.sleep(1)
    synced = time.time()
    # The storm's records fetched: until the count of fetched records stops moving for 15 s.
    fetched, still_since = -1, time.time()
    while time.time() - still_since < 15 and time.time() < deadline:
        now = int(psql("SELECT COUNT(*) FROM collector.callrecord_fetches", bench.db))
        if now != fetched:
            fetched, still_since = now, time.time()
        time.sleep(1)
    requests = json.loads(wait_http(f"{bench.base}/_sim/requests"))
    graph = [r for r in requests if r["endpoint"] not in ("control", "token", "admin_consent", "discovery")]
    throttled = Counter(r["endpoint"] for r in graph if r["status"] == 429)
    sign_ins = [r for r in graph if r["endpoint"] == "users" and "signinactivity" in r["query"].lower()]
    admitted = [r for r in sign_ins if r["status"] != 429]
    from datetime import datetime
    at = lambda r: datetime.fromisoformat(r["at"].replace("Z", "+00:00")).timestamp()
    first, last = min(map(at, admitted)), max(map(at, admitted))
    window_min = max((last - first) / 60, 1e-9)
    # The least time: the first ten at once, then ten a minute.
    lower_bound_s = max(0, (len(admitted) - PER_MINUTE)) / PER_MINUTE * 60
    print(f"tenants={TENANTS} users={USERS} storm={STORM}/tenant collectors=2 (release), simulator with Microsoft's budgets")
    print(f"Graph requests: {len(graph)}; answered 429: {sum(throttled.values())} {dict(throttled) or ''}")
    print(f"signInActivity requests admitted: {len(admitted)} (refused 429: {len(sign_ins) - len(admitted)})")
    print(f"signInActivity budget used while syncs waited: {len(admitted) / window_min:.1f}/min of {PER_MINUTE}/min "
          f"= {100 * len(admitted) / window_min / PER_MINUTE:.0f} % over {window_min:.1f} min")
    print(f"call records fetched: {fetched}")
    print(f"consents: {consented - started:.1f} s; all {TENANTS} first licence syncs done {synced - started:.1f} s after the "
          f"first consent; least time the signInActivity budget allows: {lower_bound_s:.0f} s "
          f"(ratio {(synced - started) / max(lower_bound_s, 1):.2f}x)")
finally:
    bench.close()
