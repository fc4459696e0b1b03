"""Orchestrates bench/licence-sync.sh: simulator, collector, consent, timing, memory."""
import json, os, subprocess, sys, time

from benchlib import ROOT, Bench, psql, vm_hwm

users = int(sys.argv[1])
# No calls: the consent's call-record backfill would otherwise run beside the sync being measured.
bench = Bench(users, sim_args=["--calls-per-user", "0"])
try:
    collector = bench.collector()
    bench.onboard()
    deadline = time.time() + 900
    while time.time() < deadline:
        status = psql("SELECT status FROM collector.sync_runs WHERE kind = 'licence'", bench.db)
        if status in ("completed", "failed"):
            break
        time.sleep(0.2)
    assert status == "completed", psql("SELECT error FROM collector.sync_runs WHERE kind = 'licence'", bench.db)
    sync_seconds = float(psql("SELECT EXTRACT(EPOCH FROM finished_at - started_at) FROM collector.sync_runs WHERE kind = 'licence'", bench.db))
    counts = json.loads(psql("SELECT counts FROM collector.sync_runs WHERE kind = 'licence'", bench.db))
    collector_rss = vm_hwm(collector.pid)

    # Baseline: the same Graph reads by a Rust client that only reads them (reqwest with connection reuse, the
    # collector's own HTTP stack), the median of three runs.
    paging = os.path.join(ROOT, "target", "release", "sua-graph-paging")
    runs = []
    for _ in range(3):
        out = subprocess.run([paging, "--graph", bench.base, "--login", f"https://127.0.0.1:{bench.tls_port}",
                              "--tenant", bench.tenant, "--ca", bench.ca], check=True, capture_output=True, text=True)
        runs.append(json.loads(out.stdout))
    runs.sort(key=lambda r: r["seconds"])
    baseline, paged = runs[1]["seconds"], runs[1]["users"]
    assert paged == users == counts["parts"]["users"]["records"], (paged, counts)
    print(f"users={users} pages={counts['parts']['users']['messages']} report_rows={counts['parts']['teams_activity']['records']}")
    print(f"licence sync (collector, publish confirmed to RabbitMQ, run recorded): {sync_seconds:.1f} s")
    print(f"paging the simulator alone (same reads by a Rust client reusing its connections): {baseline:.1f} s")
    print(f"ratio: {sync_seconds / baseline:.2f}x (target <= 1.15x)")
    print(f"collector peak RSS: {collector_rss:.1f} MB (target < 100 MB)")
finally:
    bench.close()
