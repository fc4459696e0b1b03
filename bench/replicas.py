"""Orchestrates bench/replicas.sh (issue 20): throughput per replica, with 1 and 2 replicas of the collector's fetch
workers and of analytics, as separate release processes on one RabbitMQ and PostgreSQL, and where the time went.

Setup (not timed): a simulator with TENANTS tenants, all consented and synced through an intake-only collector (it
takes Graph's notifications, as in production) and a worker, their short history fetched and stored; then the
setup worker and analytics stop. Each round then:

1. places CALLS new calls spread evenly over the tenants in the simulator, which notifies the intake replica; the
   fetch jobs wait in `sua.collector.jobs` (no worker runs) until every notification was accepted;
2. collector phase (timed): K worker replicas start; done when every placed call is in `collector.callrecord_fetches`
   (fetched from Graph with its sessions and participants, published to `sua.analytics` with a confirm). The
   records wait in `sua.analytics` (no analytics runs);
3. analytics phase (timed): K analytics replicas start; done when every fetched record is stored and no rollup or
   findings recompute is pending.

Rounds alternate K = 1, 2, 1, 2 on the same database and broker. Last, SINGLE calls placed in one tenant, fetched
with K = 1 then 2: the case where Microsoft's per-tenant call-records budget (1,500 requests / 20 s, kept by sua's
limiter, a token bucket in PostgreSQL shared by the replicas) is the limit, not the machine. The Graph line of each
collector phase gives the busiest tenant's most requests in any 20 s, to hold against that budget.

For every phase: the wall time from the replicas' start, the CPU seconds of each process (replicas, PostgreSQL
background processes and this database's backends, RabbitMQ, the simulator) and of the whole machine, the database
pool (connections in use, sampled every second; checkout waits from sua_db_pool_wait_seconds), the Graph requests
and 429s. Before each phase it waits until the machine is quiet (less than 0.5 of a core busy with the stack idle:
up to 10 minutes before the first phase, a minute before the others); the load average and that reading are
printed with the phase.

    python3 bench/replicas.py [tenants] [calls per round, 0 skips the rounds] [calls in the one-tenant rounds, 0 skips] [throttles]"""
import json, os, subprocess, sys, threading, time, urllib.request
from collections import Counter, defaultdict
from datetime import datetime

from benchlib import Bench, cpu_seconds, free_port, loadavg, machine_jiffies, pids_of, psql, wait_http

TENANTS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
CALLS = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
SINGLE = int(sys.argv[3]) if len(sys.argv) > 3 else 2_500
# "throttles": the simulator enforces Microsoft's documented budgets (429 with Retry-After)
THROTTLES = len(sys.argv) > 4 and sys.argv[4] == "throttles"
USERS = 200
ROUNDS = [1, 2, 1, 2]
CORES = os.cpu_count()
CALL_RECORDS_PER_20S = 1_500  # Microsoft's budget per app per tenant (graph-api.md §9)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def metrics(port):
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except Exception:
        return {}
    out = defaultdict(float)
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] += float(value)
    return out


def metric(m, prefix, contains=""):
    return sum(v for k, v in m.items() if k.startswith(prefix) and contains in k)


waited = False


def when_quiet():
    """Waits until the machine is quiet (< 0.5 core busy over 3 s), up to 10 minutes before the first phase and a
    minute before the others; returns (busy cores, load average)."""
    global waited
    deadline = time.time() + (60 if waited else 600)
    waited = True
    while True:
        b0, t0 = machine_jiffies()
        time.sleep(3)
        b1, t1 = machine_jiffies()
        busy = CORES * (b1 - b0) / max(t1 - t0, 1)
        if busy < 0.5 or time.time() > deadline:
            return busy, loadavg()
        log(f"  machine busy ({busy:.2f} cores, load {' '.join(loadavg())}); waiting")
        time.sleep(10)


class Phase:
    """CPU of each process and of the machine, and the replicas' database pools, from start() to end()."""

    def __init__(self, bench, replicas):
        self.bench, self.replicas = bench, replicas  # [(proc, port)]
        self.pool_samples, self.stop_sampling = [], threading.Event()

    def postgres_pids(self):
        """PostgreSQL's background processes and this database's backends (not other databases' sessions)."""
        rows = psql(f"SELECT pid FROM pg_stat_activity WHERE datname = '{self.bench.db}' "
                    "OR backend_type <> 'client backend'")
        return [int(p) for p in rows.split()]

    def start(self, before_launch):
        self.t0 = time.time()
        self.machine0 = machine_jiffies()
        self.pg0 = {p: cpu_seconds([p]) for p in pids_of("postgres")}
        self.beam0 = cpu_seconds(pids_of("beam.smp"))
        self.sim0 = cpu_seconds([self.bench.procs[0].pid])
        self.load = before_launch

    def launched(self, replicas):
        self.replicas = replicas
        threading.Thread(target=self.sample, daemon=True).start()

    def sample(self):
        while not self.stop_sampling.wait(1.0):
            for _, port in self.replicas:
                m = metrics(port)
                if m:
                    self.pool_samples.append((port, m.get("sua_db_pool_connections_in_use", 0),
                                              m.get("sua_db_pool_connections_max", 0)))

    def end(self):
        self.wall = time.time() - self.t0
        self.stop_sampling.set()
        b1, t1 = machine_jiffies()
        self.machine_cores = CORES * (b1 - self.machine0[0]) / max(t1 - self.machine0[1], 1)
        self.cpu = {f"replica {n + 1}": cpu_seconds([proc.pid]) for n, (proc, _) in enumerate(self.replicas)}
        self.cpu["postgres"] = sum(cpu_seconds([p]) - self.pg0.get(p, 0.0) for p in self.postgres_pids())
        self.cpu["rabbitmq"] = cpu_seconds(pids_of("beam.smp")) - self.beam0
        self.cpu["simulator"] = cpu_seconds([self.bench.procs[0].pid]) - self.sim0
        self.final = [metrics(port) for _, port in self.replicas]

    def pool(self):
        in_use = [u for _, u, _ in self.pool_samples]
        size = max((m for _, _, m in self.pool_samples), default=0)
        waits = sum(metric(m, "sua_db_pool_wait_seconds_sum") for m in self.final)
        checkouts = sum(metric(m, "sua_db_pool_wait_seconds_count") for m in self.final)
        quick = sum(metric(m, "sua_db_pool_wait_seconds_bucket", 'le="0.001"') for m in self.final)
        timeouts = sum(metric(m, "sua_db_pool_timeouts_total") for m in self.final)
        mean = sum(in_use) / len(in_use) if in_use else 0
        return (f"pool in use mean {mean:.1f} max {max(in_use, default=0):.0f} of {size:.0f} per replica; "
                f"{checkouts:.0f} checkouts, {100 * (1 - quick / max(checkouts, 1)):.1f} % waited > 1 ms, "
                f"mean wait {1000 * waits / max(checkouts, 1):.2f} ms, {timeouts:.0f} timeouts")

    def cpu_line(self):
        parts = ", ".join(f"{k} {v:.1f}" for k, v in self.cpu.items())
        return (f"CPU s: {parts}; machine {self.machine_cores:.2f} of {CORES} cores busy "
                f"({100 * self.machine_cores / CORES:.0f} %)")


bench = Bench(USERS, tenants=TENANTS, private_vhost=True,
              sim_args=["--days", "1", "--calls-per-user", "0.05"] + (["--throttles"] if THROTTLES else []))


class Session:
    """One psql session kept open, so that polling does not start a process and a backend every time."""

    def __init__(self, db):
        self.proc = subprocess.Popen(["psql", "-X", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-qtA"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def __call__(self, query):
        self.proc.stdin.write(query.rstrip(";") + ";\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()


sql = Session(bench.db)
bench.procs.append(sql.proc)
count = lambda q: int(sql(q))
fetched = lambda: count("SELECT count(*) FROM collector.callrecord_fetches")
stored = lambda: count("SELECT count(*) FROM analytics.call_records")
backlog = lambda: count("SELECT (SELECT count(*) FROM analytics.rollup_marks) + "
                        "(SELECT count(*) FROM analytics.findings_marks)")
env = {"SUA_SYNC__SCHEDULER": "false"}
seen_requests = 0


def start(kind, k):
    out = []
    for _ in range(k):
        port = free_port()
        out.append(((bench.collector_at if kind == "collector" else bench.analytics)(port, **env), port))
    return out


def graph_requests():
    """Graph requests (call records) since the last call: per tenant, 429s, the busiest tenant's largest 20 s."""
    global seen_requests
    new = [r for r in json.loads(wait_http(f"{bench.base}/_sim/requests")) if r["seq"] > seen_requests]
    seen_requests = max([r["seq"] for r in new], default=seen_requests)
    calls = [r for r in new if r["endpoint"] == "call_record"]
    per_tenant = Counter(r["tenant"] for r in calls)
    throttled = sum(1 for r in new if r["status"] == 429)
    busiest, peak = max(per_tenant, key=per_tenant.get, default=None), 0
    if busiest:
        at = sorted(datetime.fromisoformat(r["at"].replace("Z", "+00:00")).timestamp()
                    for r in calls if r["tenant"] == busiest)
        lo = 0
        for hi in range(len(at)):
            while at[hi] - at[lo] >= 20:
                lo += 1
            peak = max(peak, hi - lo + 1)
    return len(calls), throttled, peak


def place(tenants, per_tenant):
    before = accepted()
    placed = 0
    for t in tenants:
        req = urllib.request.Request(f"{bench.base}/_sim/tenants/{t}/calls?count={per_tenant}", method="POST")
        placed += len(json.loads(urllib.request.urlopen(req).read())["ids"])
    deadline = time.time() + 600
    while accepted() < before + placed:
        assert time.time() < deadline, f"intake accepted {accepted() - before} of {placed} notifications"
        time.sleep(0.5)
    return placed


def accepted():
    return metric(metrics(bench.collector_port), "sua_webhook_items_total", 'outcome="accepted"')


def collector_phase(k, placed):
    target = fetched() + placed
    graph_requests()
    quiet = when_quiet()
    phase = Phase(bench, [])
    phase.start(quiet)
    replicas = start("collector", k)
    phase.launched(replicas)
    deadline = time.time() + 1800
    while fetched() < target:
        assert time.time() < deadline, "the fetches did not finish"
        time.sleep(0.2)
    phase.end()
    steady = float(sql(f"SELECT extract(epoch FROM max(f) - min(f)) FROM (SELECT fetched_at f FROM "
                       f"collector.callrecord_fetches ORDER BY fetched_at DESC LIMIT {placed}) x"))
    requests, throttled, peak = graph_requests()
    for proc, _ in replicas:
        bench.stop(proc)
    return phase, {"steady": steady, "requests": requests, "throttled": throttled, "peak20": peak}


def analytics_phase(k, placed):
    target = fetched()
    quiet = when_quiet()
    phase = Phase(bench, [])
    phase.start(quiet)
    replicas = start("analytics", k)
    phase.launched(replicas)
    deadline = time.time() + 1800
    stored_at = None
    while True:
        n = stored()
        if n >= target and stored_at is None:
            stored_at = time.time() - phase.t0
        if n >= target and backlog() == 0:
            break
        assert time.time() < deadline, "ingest did not finish"
        time.sleep(0.2)
    phase.end()
    for proc, _ in replicas:
        bench.stop(proc)
    return phase, {"stored_at": stored_at}


def report(kind, k, placed, phase, extra):
    rate = placed / phase.wall
    print(f"{kind} x{k}: {placed} records in {phase.wall:.1f} s = {rate:.0f} records/s", end="")
    if kind.startswith("collector"):
        steady_rate = (placed - 1) / max(extra["steady"], 1e-9)
        print(f" (first to last fetch: {steady_rate:.0f}/s); Graph call-record requests {extra['requests']} "
              f"({extra['requests'] / placed:.2f} per record), 429s {extra['throttled']}, busiest tenant's largest "
              f"20 s: {extra['peak20']} of {CALL_RECORDS_PER_20S}")
    else:
        print(f" (all stored at {extra['stored_at']:.1f} s, then rollups)")
    print(f"  load before: {' '.join(phase.load[1])} (machine {phase.load[0]:.2f} cores busy before start)")
    print(f"  {phase.cpu_line()}")
    print(f"  {phase.pool()}")
    sys.stdout.flush()
    return rate


try:
    tenants = [t["id"] for t in bench.tenants]
    intake = bench.collector(SUA_SYNC__JOBS="false", **env)
    setup = start("collector", 1) + start("analytics", 1)
    log(f"onboarding {TENANTS} tenants …")
    for _ in range(TENANTS):
        bench.onboard()
    deadline, last, still = time.time() + 900, -1, time.time()
    while True:
        assert time.time() < deadline, "setup did not settle"
        subs = count("SELECT count(*) FROM collector.subscriptions WHERE verified_at IS NOT NULL")
        synced = count("SELECT count(*) FROM analytics.snapshots WHERE state = 'current'")
        now = fetched()
        if now != last:
            last, still = now, time.time()
        if (subs, synced) == (TENANTS, TENANTS) and time.time() - still > 10 and stored() == now and backlog() == 0:
            break
        time.sleep(1)
    for proc, _ in setup:
        bench.stop(proc)
    log(f"setup done: {last} history records fetched and stored")
    print(f"# {TENANTS} tenants of {USERS} users, {CALLS} calls per round spread evenly over them; release build; "
          f"{CORES} cores shared by PostgreSQL, RabbitMQ, the simulator and sua")
    print(f"# simulator {'enforcing' if THROTTLES else 'without'} Microsoft's documented budgets; sua's own "
          "call-records limiter (Microsoft's 1,500 requests / 20 s per tenant, kept by a bucket of 100 refilled at "
          "65/s, shared by the replicas through PostgreSQL) on as always")
    print("# defaults: callrecords.fetch_concurrency=64, amqp.prefetch=32, analytics.prefetch=256, writers=4, "
          "db.pool_size=10 per replica")
    results = defaultdict(list)
    for k in ROUNDS if CALLS else ():
        placed = place(tenants, CALLS // TENANTS)
        phase, extra = collector_phase(k, placed)
        results[("collector", k)].append(report("collector", k, placed, phase, extra))
        phase, extra = analytics_phase(k, placed)
        results[("analytics", k)].append(report("analytics", k, placed, phase, extra))
    if SINGLE:
        print(f"# one tenant: {SINGLE} calls in one tenant (its call-records budget binds)")
        for k in (1, 2):
            placed = place(tenants[:1], SINGLE)
            phase, extra = collector_phase(k, placed)
            results[("collector, one tenant", k)].append(
                report("collector, one tenant", k, placed, phase, extra))
    size = float(sql("SELECT avg(octet_length(raw)) FROM analytics.call_records"))
    print(f"# a stored call record's raw JSON: {size / 1000:.1f} KB on average")
    print("# summary (records/s per run, in run order)")
    for (kind, k), rates in results.items():
        print(f"{kind} x{k}: " + ", ".join(f"{r:.0f}" for r in rates))
finally:
    bench.close()
