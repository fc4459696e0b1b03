"""Orchestrates bench/licence-sync.sh: simulator, collector, consent, timing, memory."""
import json, os, socket, ssl, subprocess, sys, time, urllib.parse, urllib.request, uuid

users = int(sys.argv[1])
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sua = os.path.join(root, "target", "release", "sua")

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port

def psql(sql, db="postgres"):
    return subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-tAc", sql],
                          check=True, capture_output=True, text=True).stdout.strip()

def vm_hwm(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024

http_port, tls_port, collector_port = free_port(), free_port(), free_port()
ca = f"/tmp/sua-bench-ca-{os.getpid()}.pem"
db = f"sua_bench_{uuid.uuid4().hex[:10]}"
prefix = f"bench{uuid.uuid4().hex[:8]}."
procs = []
try:
    sim = subprocess.Popen([sua, "graph-sim", "--users", str(users), "--listen", f"127.0.0.1:{http_port}",
                            "--tls-listen", f"127.0.0.1:{tls_port}", "--ca-file", ca], stdout=subprocess.DEVNULL)
    procs.append(sim)
    base = f"http://127.0.0.1:{http_port}"
    for _ in range(600):
        try:
            tenant = json.load(urllib.request.urlopen(f"{base}/_sim/tenants"))[0]["id"]; break
        except Exception:
            time.sleep(0.1)
    psql(f"CREATE DATABASE {db}")
    env = dict(os.environ,
        SUA_DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{db}",
        SUA_AMQP_URL="amqp://guest:guest@127.0.0.1:5672/%2f",
        SUA_AMQP__PREFIX=prefix, SUA_AMQP__QUEUE_EXPIRES_MS="3600000",
        SUA_GRAPH_URL=base, SUA_LOGIN_URL=f"https://127.0.0.1:{tls_port}",
        SUA_CLIENT_ID="5f0b7c2a-6e1d-4c38-9a3b-2d4e6f8a1b2c", SUA_CLIENT_SECRET="sim-client-secret",
        SUA_EXTRA_CA_FILE=ca, SUA_PUBLIC_URL=f"http://127.0.0.1:{collector_port}",
        SUA_LISTEN=f"127.0.0.1:{collector_port}", SUA_STATE_SIGNING_KEY="bench-state-signing-key-0123456789abcdef",
        # The simulator does not enforce Microsoft's 10/min signInActivity budget; the limiter would measure itself.
        SUA_GRAPH__SIGN_IN_ACTIVITY_PER_MINUTE="0", SUA_SYNC__SCHEDULER="false", SUA_LOG__FILTER="warn")
    subprocess.run([sua, "migrate"], env=env, check=True)
    collector = subprocess.Popen([sua, "collector"], env=env)
    procs.append(collector)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{collector_port}/healthz"); break
        except Exception:
            time.sleep(0.1)
    invite = subprocess.run([sua, "invite", "--customer", "Bench", "--email", "admin@bench.example"], env=env,
                            check=True, capture_output=True, text=True).stdout
    link = [l for l in invite.splitlines() if "adminconsent" in l][0]
    ctx = ssl.create_default_context(cafile=ca)
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k): return None
    opener = urllib.request.build_opener(NoRedirect, urllib.request.HTTPSHandler(context=ctx))
    try:
        opener.open(link)
    except urllib.error.HTTPError as redirect:
        callback = redirect.headers["Location"]
    urllib.request.urlopen(callback).read()
    while True:
        status = psql(f"SELECT status FROM collector.sync_runs", db)
        if status in ("completed", "failed"):
            break
        time.sleep(0.2)
    assert status == "completed", psql("SELECT error FROM collector.sync_runs", db)
    sync_seconds = float(psql("SELECT EXTRACT(EPOCH FROM finished_at - started_at) FROM collector.sync_runs", db))
    counts = json.loads(psql("SELECT counts FROM collector.sync_runs", db))
    collector_rss = vm_hwm(collector.pid)

    # Baseline: the same Graph reads by a client that only reads them.
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": env["SUA_CLIENT_ID"],
        "client_secret": "sim-client-secret", "scope": f"{base}/.default"}).encode()
    token = json.load(urllib.request.urlopen(f"https://127.0.0.1:{tls_port}/{tenant}/oauth2/v2.0/token", form, context=ctx))["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    start = time.time()
    urllib.request.urlopen(urllib.request.Request(f"{base}/v1.0/subscribedSkus", headers=auth)).read()
    fields = ("id,displayName,userPrincipalName,mail,department,jobTitle,officeLocation,city,country,usageLocation,"
              "accountEnabled,userType,createdDateTime,assignedLicenses,assignedPlans,signInActivity")
    url, paged = f"{base}/v1.0/users?$select={fields}&$top=500", 0
    while url:
        page = json.load(urllib.request.urlopen(urllib.request.Request(url, headers=auth)))
        paged += len(page["value"]); url = page.get("@odata.nextLink")
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
    for proc in reversed(procs):
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except Exception:
            proc.kill()
    try:
        psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    except Exception:
        pass
    if os.path.exists(ca):
        os.remove(ca)
