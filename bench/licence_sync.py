"""Orchestrates bench/licence-sync.sh: simulator, collector, consent, timing, memory."""
import json, sys, time, urllib.error, urllib.parse, urllib.request

from benchlib import Bench, NoRedirect, psql, vm_hwm

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

    # Baseline: the same Graph reads by a client that only reads them.
    base, env = bench.base, bench.env
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": env["SUA_CLIENT_ID"],
        "client_secret": "sim-client-secret", "scope": f"{base}/.default"}).encode()
    token_url = f"https://127.0.0.1:{bench.tls_port}/{bench.tenant}/oauth2/v2.0/token"
    token = json.load(urllib.request.urlopen(token_url, form, context=bench.tls))["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    start = time.time()
    urllib.request.urlopen(urllib.request.Request(f"{base}/v1.0/subscribedSkus", headers=auth)).read()
    fields = ("id,displayName,userPrincipalName,mail,department,jobTitle,officeLocation,city,country,usageLocation,"
              "accountEnabled,userType,createdDateTime,assignedLicenses,assignedPlans,signInActivity")
    url, paged = f"{base}/v1.0/users?$select={fields}&$top=500", 0
    while url:
        page = json.load(urllib.request.urlopen(urllib.request.Request(url, headers=auth)))
        paged += len(page["value"]); url = page.get("@odata.nextLink")
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(urllib.request.Request(f"{base}/v1.0/reports/getTeamsUserActivityUserDetail(period='D30')", headers=auth))
    except urllib.error.HTTPError as redirect:
        rows = sum(1 for _ in urllib.request.urlopen(redirect.headers["Location"])) - 1
    baseline = time.time() - start
    assert paged == users == counts["parts"]["users"]["records"], (paged, counts)
    print(f"users={users} pages={counts['parts']['users']['messages']} report_rows={counts['parts']['teams_activity']['records']}")
    print(f"licence sync (collector, publish confirmed to RabbitMQ, run recorded): {sync_seconds:.1f} s")
    print(f"paging the simulator alone (same reads, no processing): {baseline:.1f} s")
    print(f"ratio: {sync_seconds / baseline:.2f}x (target <= 1.5x)")
    print(f"collector peak RSS: {collector_rss:.1f} MB (target < 150 MB)")
finally:
    bench.close()
