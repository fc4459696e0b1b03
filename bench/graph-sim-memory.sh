#!/usr/bin/env bash
# Benchmark: the Graph simulator serves every users page of a 100,000-user tenant (with signInActivity, 500 per
# page, and again without it, 999 per page) and the full Teams activity report, while its peak RSS is measured
# (VmHWM). Target (issue 3): under 100 MB.
#   bench/graph-sim-memory.sh [users]
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${1:-100000}
cargo build --release --bin sua >/dev/null
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
TLS=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
CA=$(mktemp)
target/release/sua graph-sim --users "$USERS" --consent-all --listen 127.0.0.1:$PORT --tls-listen 127.0.0.1:$TLS --ca-file "$CA" >/dev/null &
PID=$!
trap 'kill $PID 2>/dev/null; rm -f "$CA"' EXIT
python3 - "$PORT" "$TLS" "$CA" "$PID" "$USERS" <<'PY'
import json, ssl, sys, time, urllib.parse, urllib.request
port, tls, ca, pid, users = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
base = f"http://127.0.0.1:{port}"
for _ in range(600):
    try:
        tenants = json.load(urllib.request.urlopen(f"{base}/_sim/tenants")); break
    except Exception:
        time.sleep(0.1)
tenant = tenants[0]["id"]
ctx = ssl.create_default_context(cafile=ca)
form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": "5f0b7c2a-6e1d-4c38-9a3b-2d4e6f8a1b2c",
    "client_secret": "sim-client-secret", "scope": "https://graph.microsoft.com/.default"}).encode()
token = json.load(urllib.request.urlopen(f"https://127.0.0.1:{tls}/{tenant}/oauth2/v2.0/token", form, context=ctx))["access_token"]
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM"): return int(line.split()[1]) / 1024
def page_all(url):
    count = pages = 0
    start = time.time()
    while url:
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        body = json.load(urllib.request.urlopen(req))
        count += len(body["value"]); pages += 1
        url = body.get("@odata.nextLink")
    return count, pages, time.time() - start
before = rss()
n1, p1, t1 = page_all(f"{base}/v1.0/users?$select=id,displayName,userPrincipalName,department,accountEnabled,userType,createdDateTime,assignedLicenses,assignedPlans,signInActivity&$top=999")
n2, p2, t2 = page_all(f"{base}/v1.0/users?$select=id,displayName,assignedLicenses&$top=999")
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k): return None
opener = urllib.request.build_opener(NoRedirect)
try:
    opener.open(urllib.request.Request(f"{base}/v1.0/reports/getTeamsUserActivityUserDetail(period='D30')", headers={"Authorization": f"Bearer {token}"}))
except urllib.error.HTTPError as e:
    location = e.headers["Location"]
start = time.time(); rows = sum(1 for _ in urllib.request.urlopen(location)) - 1; t3 = time.time() - start
assert n1 == users and n2 == users, (n1, n2)
print(f"users={users}")
print(f"users with signInActivity: {n1} users in {p1} pages, {t1:.1f} s")
print(f"users without signInActivity: {n2} users in {p2} pages, {t2:.1f} s")
print(f"activity report: {rows} rows, {t3:.1f} s")
print(f"peak RSS after start-up: {before:.1f} MB; peak RSS overall: {rss():.1f} MB (target < 100 MB)")
PY
