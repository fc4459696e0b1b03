"""What the benchmark orchestrators share: a simulator, a database, a release collector, a customer's consent."""
import json, os, socket, ssl, subprocess, time, urllib.error, urllib.request, uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUA = os.path.join(ROOT, "target", "release", "sua")


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port


def psql(sql, db="postgres"):
    return subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-tAc", sql],
                          check=True, capture_output=True, text=True).stdout.strip()


def rabbitmqctl(*args):
    return subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, text=True,
                          timeout=120).stdout


def cpu_seconds(pids):
    """User + system CPU seconds the processes used so far."""
    total = 0.0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def pids_of(name):
    out = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def machine_jiffies():
    """(busy, total) CPU time of the whole machine so far, all cores, from /proc/stat."""
    fields = [int(f) for f in open("/proc/stat").readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def loadavg():
    return open("/proc/loadavg").read().split()[:3]


def vm_hwm(pid):
    """Peak resident memory of a process, MB."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024


def wait_http(url, seconds=60):
    deadline = time.time() + seconds
    while True:
        try:
            return urllib.request.urlopen(url).read()
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.1)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


class Bench:
    """Simulator + database + broker prefix; `collector()` starts release collectors against them.

    `private_vhost`: the services use a RabbitMQ virtual host of their own, deleted (with everything in it) on
    `close()`, instead of prefixed names in `/` that are left to expire."""

    def __init__(self, users, tenants=1, sim_args=(), private_vhost=False):
        self.procs = []
        self.vhost = f"sua-bench-{uuid.uuid4().hex[:10]}" if private_vhost else None
        if self.vhost:
            rabbitmqctl("add_vhost", self.vhost)
            rabbitmqctl("set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*")
        self.http_port, self.tls_port, self.collector_port = free_port(), free_port(), free_port()
        self.ca = f"/tmp/sua-bench-ca-{os.getpid()}.pem"
        self.db = f"sua_bench_{uuid.uuid4().hex[:10]}"
        self.base = f"http://127.0.0.1:{self.http_port}"
        sim = [SUA, "graph-sim", "--users", str(users), "--listen", f"127.0.0.1:{self.http_port}",
               "--tls-listen", f"127.0.0.1:{self.tls_port}", "--ca-file", self.ca]
        if tenants > 1:
            sim += ["--tenants", str(tenants)]
        sim += list(sim_args)
        self.procs.append(subprocess.Popen(sim, stdout=subprocess.DEVNULL))
        self.tenants = json.loads(wait_http(f"{self.base}/_sim/tenants"))
        self.tenant = self.tenants[0]["id"]
        psql(f"CREATE DATABASE {self.db}")
        self.env = dict(os.environ,
            SUA_DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{self.db}",
            SUA_AMQP_URL=f"amqp://guest:guest@127.0.0.1:5672/{self.vhost or '%2f'}",
            SUA_AMQP__PREFIX=f"bench{uuid.uuid4().hex[:8]}.", SUA_AMQP__QUEUE_EXPIRES_MS="3600000",
            SUA_GRAPH_URL=self.base, SUA_LOGIN_URL=f"https://127.0.0.1:{self.tls_port}",
            SUA_CLIENT_ID="5f0b7c2a-6e1d-4c38-9a3b-2d4e6f8a1b2c", SUA_CLIENT_SECRET="sim-client-secret",
            SUA_EXTRA_CA_FILE=self.ca, SUA_PUBLIC_URL=f"http://127.0.0.1:{self.collector_port}",
            SUA_LISTEN=f"127.0.0.1:{self.collector_port}",
            SUA_STATE_SIGNING_KEY="bench-state-signing-key-0123456789abcdef",
            # The simulator does not enforce Microsoft's 10/min signInActivity budget; the limiter would measure itself.
            SUA_GRAPH__SIGN_IN_ACTIVITY_PER_MINUTE="0", SUA_SYNC__SCHEDULER="false", SUA_LOG__FILTER="warn")
        subprocess.run([SUA, "migrate"], env=self.env, check=True)
        self.tls = ssl.create_default_context(cafile=self.ca)

    def collector(self, **env):
        proc = subprocess.Popen([SUA, "collector"], env=dict(self.env, **env))
        self.procs.append(proc)
        wait_http(f"http://127.0.0.1:{self.collector_port}/healthz")
        return proc

    def collector_at(self, port, **env):
        """Another collector replica (a worker: Graph's notifications and the consent go to the first)."""
        proc = subprocess.Popen([SUA, "collector"], env=dict(self.env, SUA_LISTEN=f"127.0.0.1:{port}", **env))
        self.procs.append(proc)
        wait_http(f"http://127.0.0.1:{port}/healthz")
        return proc

    def analytics(self, port, **env):
        """An analytics replica (its health and metrics on `port`)."""
        proc = subprocess.Popen([SUA, "analytics"], env=dict(self.env, SUA_LISTEN=f"127.0.0.1:{port}", **env))
        self.procs.append(proc)
        wait_http(f"http://127.0.0.1:{port}/healthz")
        return proc

    def stop(self, proc):
        proc.terminate()
        proc.wait(timeout=30)
        self.procs.remove(proc)

    def onboard(self):
        """A customer's admin follows the consent link; returns once the collector's callback answered."""
        invite = subprocess.run([SUA, "invite", "--customer", "Bench", "--email", "admin@bench.example"],
                                env=self.env, check=True, capture_output=True, text=True).stdout
        link = [l for l in invite.splitlines() if "adminconsent" in l][0]
        opener = urllib.request.build_opener(NoRedirect, urllib.request.HTTPSHandler(context=self.tls))
        try:
            opener.open(link)
            raise RuntimeError("the consent page did not redirect")
        except urllib.error.HTTPError as redirect:
            callback = redirect.headers["Location"]
        urllib.request.urlopen(callback).read()

    def close(self):
        for proc in reversed(self.procs):
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except Exception:
                proc.kill()
        try:
            psql(f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)")
        except Exception:
            pass
        if self.vhost:
            try:
                rabbitmqctl("delete_vhost", self.vhost)
            except Exception:
                pass
        if os.path.exists(self.ca):
            os.remove(self.ca)
