"""Orchestrates bench/webhook-intake.sh: a consented tenant with a live subscription, then the same notification
load against an intake-only collector and against a no-op actix endpoint."""
import json, os, resource, subprocess, sys, time, urllib.request

from benchlib import ROOT, Bench, cpu_seconds, free_port, pids_of, psql, vm_hwm, wait_http

seconds, sweep = int(sys.argv[1]), [int(c) for c in sys.argv[2].split(",")]
load = os.path.join(ROOT, "target", "release", "sua-load")
noop = os.path.join(ROOT, "target", "release", "sua-noop")


def run_load(url, spec, server_pid, connections):
    """Runs the load; returns its summary with the CPU seconds the server, RabbitMQ and the load generator used."""
    watched = {"server": [server_pid], "rabbitmq": pids_of("beam.smp"), "postgres": pids_of("postgres")}
    before = {k: cpu_seconds(v) for k, v in watched.items()}
    proc = subprocess.Popen([load, "--url", url, "--notifications", spec, "--connections", str(connections),
                             "--seconds", str(seconds)], stdout=subprocess.PIPE, text=True)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    out, _ = proc.communicate()
    assert proc.returncode == 0, "the load generator failed"
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = json.loads(out.strip().splitlines()[-1])
    summary["cpu"] = {k: cpu_seconds(v) - before[k] for k, v in watched.items()}
    summary["cpu"]["load generator"] = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    return summary


bench = Bench(users=100)
try:
    # A worker replica subscribes for the customer through the real validation handshake ...
    worker = bench.collector()
    bench.onboard()
    deadline = time.time() + 60
    while not (subs := json.loads(urllib.request.urlopen(f"{bench.base}/_sim/tenants/{bench.tenant}/subscriptions").read())):
        assert time.time() < deadline, "no subscription was created"
        time.sleep(0.2)
    sub = subs[0]
    while psql("SELECT count(*) FROM collector.subscriptions WHERE verified_at IS NOT NULL", bench.db) != "1":
        assert time.time() < deadline, "the subscription was not recorded"
        time.sleep(0.2)
    bench.stop(worker)
    # ... then an intake-only replica takes the notifications (fetch workers would run elsewhere).
    intake = bench.collector(SUA_SYNC__JOBS="false")
    spec = f"{sub['id']},{sub['client_state']},{bench.tenant}"
    url = f"http://127.0.0.1:{bench.collector_port}/graph/notifications"
    noop_port = free_port()
    baseline_proc = subprocess.Popen([noop, "--listen", f"127.0.0.1:{noop_port}"])
    bench.procs.append(baseline_proc)
    wait_http(f"http://127.0.0.1:{noop_port}/")
    rows = []
    for connections in sweep:
        # Alternating, so that both see the same machine state.
        sua = run_load(url, spec, intake.pid, connections)
        baseline = run_load(f"http://127.0.0.1:{noop_port}/graph/notifications", spec, baseline_proc.pid, connections)
        rows.append((connections, sua, baseline))
    sua_rss = vm_hwm(intake.pid)
    metrics = subprocess.run(["curl", "-s", f"http://127.0.0.1:{bench.collector_port}/metrics"],
                             capture_output=True, text=True).stdout
    accepted = sum(float(l.split()[-1]) for l in metrics.splitlines()
                   if l.startswith("sua_webhook_items_total") and 'outcome="accepted"' in l)
    messages = sum(float(l.split()[-1]) for l in metrics.splitlines()
                   if l.startswith("sua_broker_published_total") and "jobs" in l)

    print(f"each run {seconds} s after a 3 s warm-up; one notification per POST, each for a new call record")
    print("collector: intake-only replica (release), clientState checked, fetch job published with confirm, then 202")
    print("no-op: actix-web reading the body and answering 202")
    print(f"{'conns':>5} | {'sua req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'fail':>4} | {'no-op req/s':>11} {'p50 ms':>7} "
          f"{'p99 ms':>7} | {'ratio':>5} | CPU s (collector run: sua, rabbitmq, load; no-op run: no-op, load)")
    for connections, sua, base in rows:
        c, b = sua["cpu"], base["cpu"]
        print(f"{connections:>5} | {sua['per_second']:>9.0f} {sua['p50_ms']:>7.1f} {sua['p99_ms']:>7.1f} "
              f"{sua['failures']:>4} | {base['per_second']:>11.0f} {base['p50_ms']:>7.1f} {base['p99_ms']:>7.1f} | "
              f"{sua['per_second'] / base['per_second']:>4.2f}x | {c['server']:.1f}, {c['rabbitmq']:.1f}, "
              f"{c['load generator']:.1f}; {b['server']:.1f}, {b['load generator']:.1f}")
    print(f"notifications accepted {accepted:.0f} in {messages:.0f} confirmed jobs ({accepted / max(messages, 1):.1f} "
          f"per job); collector peak RSS {sua_rss:.1f} MB")
    print("targets: ratio >= 0.5x, p99 < 100 ms")
finally:
    bench.close()
