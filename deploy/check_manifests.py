#!/usr/bin/env python3
"""Checks sua's deployment manifests against Kubernetes' schemas, the Pod Security `restricted` profile and sua's
own code. deploy/check runs it inside its tool venv; every problem is reported, then it exits 1 when any was found.

  check_manifests.py --kustomize "kubectl kustomize" --config-keys FILE

Checks, for every kustomization under k8s/ (base and overlays), on the rendered output:
  schemas      every object validates strictly (unknown fields refused) against Kubernetes' published schemas
               (kubernetes-validate, offline) at the oldest and newest supported versions; KEDA's and the Prometheus
               operator's custom resources against models generated from their published CRD schemas
  security     every pod template meets Pod Security `restricted`, with a read-only root file system, and its
               namespace enforces `restricted`
  scaling      no Deployment that an HPA or a ScaledObject scales sets `replicas`; ScaledObjects watch the queue
               their target consumes (shared/core/src/topology.rs); every Deployment has a disruption budget
  lifecycle    probes on /readyz and /healthz, a preStop pause, a grace period that covers it and the drain
  release      the migrate Job's name ends in its image's tag
  settings     every SUA_ name a workload gets is a setting sua reads (`sua config-keys`), each workload gets the
               settings it cannot run without, and every Secret key it reads is in the documented template
  exposure     Ingresses have a class and TLS for every host; the collector's exposes exactly its public routes
               (collector/src) on SUA_PUBLIC_URL's host; a default-deny NetworkPolicy; internet egress only for
               the collector and portal-api; analytics admits nothing but the metrics scrape
and, outside the kustomizations: the Secret templates (valid, no values), the ExternalSecret example (keys match
the template; not schema-checked: no offline schema for external-secrets.io), the compose file's SUA_ names, and
that .dockerignore keeps every file git tracks in the build context.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import yaml

ROOT = Path(__file__).resolve().parent.parent
K8S_VERSIONS = ["1.30.0", "1.37.0"]  # oldest supported (native sidecars, preStop sleep) and newest known
CRD_MODELS = {  # apiVersion -> module with models generated from the published CRD schema
    "keda.sh/v1alpha1": "cloudcoil.models.keda.v1alpha1",
    "monitoring.coreos.com/v1": "cloudcoil.models.prometheus_operator.v1",
}
POD_SPEC_PATHS = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
ALLOWED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected",
                   "secret"}
# Names other than SUA_ settings that a sua container may get.
OTHER_ENV = {"OTEL_EXPORTER_OTLP_ENDPOINT", "RUST_LOG", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY"}
# What each sua command cannot run without in a cluster (the built-in defaults point at 127.0.0.1 or are empty).
REQUIRED = {
    "migrate": {"SUA_DATABASE_URL", "SUA_LOG__FORMAT"},
    "sync": {"SUA_DATABASE_URL", "SUA_AMQP_URL", "SUA_LOG__FORMAT"},
    "analytics": {"SUA_DATABASE_URL", "SUA_AMQP_URL", "SUA_LOG__FORMAT", "SUA_LISTEN",
                  "OTEL_EXPORTER_OTLP_ENDPOINT"},
    "collector": {"SUA_DATABASE_URL", "SUA_AMQP_URL", "SUA_LOG__FORMAT", "SUA_LISTEN", "OTEL_EXPORTER_OTLP_ENDPOINT",
                  "SUA_GRAPH_URL", "SUA_LOGIN_URL", "SUA_CLIENT_ID", "SUA_CLIENT_SECRET", "SUA_PUBLIC_URL",
                  "SUA_SYNC__JOBS", "SUA_SYNC__SCHEDULER"},
    "portal-api": {"SUA_DATABASE_URL", "SUA_AMQP_URL", "SUA_LOG__FORMAT", "SUA_LISTEN", "OTEL_EXPORTER_OTLP_ENDPOINT",
                   "SUA_LOGIN_URL", "SUA_CLIENT_ID", "SUA_PUBLIC_URL", "SUA_PORTAL__AUDIENCE",
                   "SUA_PORTAL__OPERATOR_TENANT"},
}
INTERNET_EGRESS = {"sua-collector", "sua-collector-worker", "sua-portal-api"}


class Report:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.checked = 0

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")


def load_yaml_docs(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


def render(kustomize: list[str], path: Path) -> list[dict]:
    out = subprocess.run(kustomize + [str(path)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"kustomize failed for {path}:\n{out.stderr}")
    return load_yaml_docs(out.stdout)


def name_of(doc: dict) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


# ---------------------------------------------------------------------------------------------------- schemas

def strict_models(module_name: str):
    """The generated models of a CRD group with unknown fields refused, as the API server's validation does."""
    import pydantic

    for name in CRD_MODELS.values():  # import every group first: patched configs must not leak into others
        importlib.import_module(name)
    modules = [importlib.import_module(module_name), importlib.import_module("cloudcoil.apimachinery")]
    classes = [c for m in modules for c in vars(m).values()
               if inspect.isclass(c) and issubclass(c, pydantic.BaseModel) and c.__module__ == m.__name__
               and not issubclass(c, pydantic.RootModel)]
    for c in classes:
        c.model_config = {**c.model_config, "extra": "forbid"}
    for c in classes:
        c.model_rebuild(force=True)
    return modules[0]


_models: dict[str, object] = {}


def _cached_schemas():
    import functools

    import kubernetes_validate.utils as kv

    if not hasattr(kv.schema_contents, "cache_info"):
        # Each call parses the version's whole definitions file again; the schemas never change during a run.
        kv.schema_contents = functools.lru_cache(maxsize=None)(kv.schema_contents)
    return kv


_validated: dict[str, list[str]] = {}


def validate_schema(report: Report, where: str, doc: dict) -> None:
    """Schema problems of one object; an object seen before (the same in several renders) is not validated again."""
    key = json.dumps(doc, sort_keys=True)
    if key not in _validated:
        scratch = Report()
        _validate_schema(scratch, doc)
        _validated[key] = scratch.problems
    for problem in _validated[key]:
        report.fail(where, problem)


def _validate_schema(report: Report, doc: dict) -> None:
    import pydantic

    kv = _cached_schemas()

    api = doc.get("apiVersion", "")
    if api in CRD_MODELS:
        if api not in _models:
            _models[api] = strict_models(CRD_MODELS[api])
        module = _models[api]
        model = getattr(module, doc.get("kind", ""), None)
        if model is None:
            report.problems.append(f"{name_of(doc)}: no published schema for kind {doc.get('kind')} in {api}")
            return
        try:
            model.model_validate(doc)
        except pydantic.ValidationError as e:
            report.problems.append(f"{name_of(doc)} does not match {api}'s schema: {e}")
        return
    for version in K8S_VERSIONS:
        try:
            kv.validate(doc, version, strict=True)
        except kv.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            report.problems.append(f"{name_of(doc)} invalid for Kubernetes {version}: {path}: {e.message}")
        except kv.SchemaNotFoundError as e:
            report.problems.append(f"{name_of(doc)}: {e.message}")


# ---------------------------------------------------------------------------------------------------- security

def pod_template(doc: dict) -> dict | None:
    path = POD_SPEC_PATHS.get(doc.get("kind", ""))
    if not path:
        return None
    node = doc
    for key in path:
        node = node.get(key, {})
    return node


def all_containers(spec: dict) -> list[dict]:
    return spec.get("initContainers", []) + spec.get("containers", []) + spec.get("ephemeralContainers", [])


def check_restricted(report: Report, where: str, doc: dict, spec: dict) -> None:
    who = name_of(doc)
    pod_sc = spec.get("securityContext", {})
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            report.fail(where, f"{who}: {flag} is not allowed")
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUMES:
            report.fail(where, f"{who}: volume {volume['name']} of type {sorted(kinds)} is not allowed")
    for sysctl in pod_sc.get("sysctls", []):
        report.fail(where, f"{who}: sysctl {sysctl.get('name')} is not allowed here")
    if pod_sc.get("runAsUser") == 0:
        report.fail(where, f"{who}: runAsUser 0")
    for c in all_containers(spec):
        cw = f"{who} container {c['name']}"
        sc = c.get("securityContext", {})
        if sc.get("privileged"):
            report.fail(where, f"{cw}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            report.fail(where, f"{cw}: allowPrivilegeEscalation must be false")
        caps = sc.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            report.fail(where, f"{cw}: capabilities must drop ALL")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            report.fail(where, f"{cw}: adds capabilities {caps.get('add')}")
        if not (sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True):
            report.fail(where, f"{cw}: runAsNonRoot must be true")
        if sc.get("runAsUser") == 0:
            report.fail(where, f"{cw}: runAsUser 0")
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            report.fail(where, f"{cw}: seccompProfile must be RuntimeDefault or Localhost")
        if sc.get("readOnlyRootFilesystem") is not True:
            report.fail(where, f"{cw}: readOnlyRootFilesystem must be true")
        if any(p.get("hostPort") for p in c.get("ports", [])):
            report.fail(where, f"{cw}: hostPort is not allowed")
        if sc.get("procMount", "Default") != "Default":
            report.fail(where, f"{cw}: procMount must be Default")
        if not c.get("resources", {}).get("requests"):
            report.fail(where, f"{cw}: no resource requests")
        if not c.get("resources", {}).get("limits", {}).get("memory"):
            report.fail(where, f"{cw}: no memory limit")


def check_namespaces(report: Report, where: str, docs: list[dict]) -> None:
    namespaces = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Namespace"}
    if not namespaces:
        report.fail(where, "no Namespace object (its Pod Security labels must ship with the workloads)")
    for name, ns in namespaces.items():
        labels = ns["metadata"].get("labels", {})
        if labels.get("pod-security.kubernetes.io/enforce") != "restricted":
            report.fail(where, f"Namespace/{name} does not enforce Pod Security restricted")
    for d in docs:
        ns = d.get("metadata", {}).get("namespace")
        if d["kind"] != "Namespace" and ns is not None and ns not in namespaces:
            report.fail(where, f"{name_of(d)} is in namespace {ns}, which the manifests do not define")


# ---------------------------------------------------------------------------------------------------- scaling

def selects(selector: dict, labels: dict) -> bool:
    for k, v in selector.get("matchLabels", {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions", []):
        value = labels.get(expr["key"])
        op = expr["operator"]
        if op == "In" and value not in expr["values"]:
            return False
        if op == "NotIn" and value in expr["values"]:
            return False
        if op == "Exists" and value is None:
            return False
        if op == "DoesNotExist" and value is not None:
            return False
    return True


def topology_queues() -> dict[str, str]:
    text = (ROOT / "shared/core/src/topology.rs").read_text()
    return dict(re.findall(r'pub const (\w+_QUEUE): &str = "([^"]+)";', text))


def check_scaling(report: Report, where: str, docs: list[dict]) -> None:
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    scaled: dict[str, str] = {}
    for d in docs:
        if d["kind"] == "HorizontalPodAutoscaler":
            scaled[d["spec"]["scaleTargetRef"]["name"]] = name_of(d)
        if d["kind"] == "ScaledObject":
            scaled[d["spec"]["scaleTargetRef"]["name"]] = name_of(d)
    for target, by in scaled.items():
        if target not in deployments:
            report.fail(where, f"{by} scales Deployment/{target}, which does not exist")
        elif "replicas" in deployments[target]["spec"]:
            report.fail(where, f"Deployment/{target} sets replicas although {by} scales it")
    queues = topology_queues()
    consumes = {"sua-analytics": queues.get("ANALYTICS_QUEUE"), "sua-collector-worker": queues.get("COLLECTOR_JOBS_QUEUE")}
    auths = {d["metadata"]["name"] for d in docs if d["kind"] == "TriggerAuthentication"}
    for d in docs:
        if d["kind"] != "ScaledObject":
            continue
        target = d["spec"]["scaleTargetRef"]["name"]
        for trigger in d["spec"].get("triggers", []):
            if trigger.get("type") != "rabbitmq":
                continue
            queue = trigger.get("metadata", {}).get("queueName")
            if target in consumes and queue != consumes[target]:
                report.fail(where, f"{name_of(d)} watches {queue}, but {target} consumes {consumes[target]}")
            auth = trigger.get("authenticationRef", {}).get("name")
            if auth not in auths:
                report.fail(where, f"{name_of(d)} refers to TriggerAuthentication {auth}, which does not exist")
    pdbs = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    for name, dep in deployments.items():
        labels = dep["spec"]["template"]["metadata"].get("labels", {})
        if not any(selects(p["spec"]["selector"], labels) for p in pdbs):
            report.fail(where, f"Deployment/{name} has no PodDisruptionBudget")


# ---------------------------------------------------------------------------------------------------- lifecycle

def check_lifecycle(report: Report, where: str, docs: list[dict], config: dict[str, str]) -> None:
    grace = int(config.get("SUA_SHUTDOWN_GRACE_SECS", "20"))
    for d in docs:
        if d["kind"] != "Deployment":
            continue
        spec = d["spec"]["template"]["spec"]
        for c in spec.get("containers", []):
            cw = f"{name_of(d)} container {c['name']}"
            if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
                report.fail(where, f"{cw}: readiness must be /readyz (it checks the schema version)")
            if c.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
                report.fail(where, f"{cw}: liveness must be /healthz")
            pause = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds")
            if not pause:
                report.fail(where, f"{cw}: no preStop sleep (endpoints must be removed before the drain)")
                continue
            total = spec.get("terminationGracePeriodSeconds", 30)
            if total < pause + grace:
                report.fail(where, f"{cw}: terminationGracePeriodSeconds {total} < preStop {pause} + drain {grace}")


def check_release(report: Report, where: str, docs: list[dict]) -> None:
    jobs = [d for d in docs if d["kind"] == "Job" and d["metadata"].get("labels", {}).get("app.kubernetes.io/name") == "sua-migrate"]
    if len(jobs) != 1:
        report.fail(where, f"expected one migrate Job, found {len(jobs)}")
    for job in jobs:
        image = job["spec"]["template"]["spec"]["containers"][0]["image"]
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        if not tag or not job["metadata"]["name"].endswith("-" + tag):
            report.fail(where, f"{name_of(job)} does not end in its image's tag ({image})")
        if job["spec"]["template"]["spec"]["containers"][0].get("args") != ["migrate"]:
            report.fail(where, f"{name_of(job)} does not run `sua migrate`")


# ---------------------------------------------------------------------------------------------------- settings

def sua_containers(spec: dict):
    for c in all_containers(spec):
        if c.get("image", "").split("@")[0].rsplit(":", 1)[0].endswith("sua") and c.get("args"):
            yield c


def container_env(c: dict, configmaps: dict[str, dict]) -> tuple[dict[str, str | None], list[tuple[str, str]]]:
    """Names a container gets with their values (None when from a Secret), and the Secret keys it reads."""
    env: dict[str, str | None] = {}
    secret_refs: list[tuple[str, str]] = []
    for source in c.get("envFrom", []):
        if "configMapRef" in source:
            env.update(configmaps.get(source["configMapRef"]["name"], {}).get("data", {}))
        if "secretRef" in source:
            secret_refs.append((source["secretRef"]["name"], "*"))
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        else:
            env[e["name"]] = None
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                secret_refs.append((ref["name"], ref["key"]))
    return env, secret_refs


def check_settings(report: Report, where: str, docs: list[dict], keys: set[str], secret_keys: dict[str, set[str]]) -> None:
    configmaps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    for cm in configmaps.values():
        for name in cm.get("data", {}):
            if name.startswith("SUA_") and name not in keys:
                report.fail(where, f"{name_of(cm)} sets {name}, which sua does not read")
    for d in docs:
        template = pod_template(d)
        if template is None:
            continue
        for c in sua_containers(template["spec"]):
            cw = f"{name_of(d)} container {c['name']}"
            command = c["args"][0]
            env, refs = container_env(c, configmaps)
            for name in env:
                if name.startswith("SUA_") and name not in keys:
                    report.fail(where, f"{cw} gets {name}, which sua does not read")
                elif not name.startswith("SUA_") and name not in OTHER_ENV:
                    report.fail(where, f"{cw} gets {name}, which sua does not read")
            for name in sorted(REQUIRED.get(command, set())):
                if name not in env:
                    report.fail(where, f"{cw} (sua {command}) does not get {name}")
                elif env[name] == "" and name != "OTEL_EXPORTER_OTLP_ENDPOINT":
                    report.fail(where, f"{cw} (sua {command}) gets an empty {name}")
            for secret, key in refs:
                if secret not in secret_keys:
                    report.fail(where, f"{cw} reads Secret {secret}, which k8s/secrets does not document")
                elif key != "*" and key not in secret_keys[secret]:
                    report.fail(where, f"{cw} reads {secret}.{key}, which k8s/secrets does not document")


# ---------------------------------------------------------------------------------------------------- exposure

def collector_public_routes() -> set[str]:
    routes = set()
    for path in (ROOT / "collector/src").rglob("*.rs"):
        routes.update(re.findall(r'\.route\("(/[^"]*)"', path.read_text()))
    return routes


def check_exposure(report: Report, where: str, docs: list[dict]) -> None:
    config = next((d.get("data", {}) for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("sua-config")), {})
    for ing in (d for d in docs if d["kind"] == "Ingress"):
        spec = ing["spec"]
        if not spec.get("ingressClassName"):
            report.fail(where, f"{name_of(ing)} has no ingressClassName")
        tls_hosts = {h for t in spec.get("tls", []) for h in t.get("hosts", [])}
        for rule in spec.get("rules", []):
            if rule.get("host") not in tls_hosts:
                report.fail(where, f"{name_of(ing)}: host {rule.get('host')} has no TLS")
        backends = {p["backend"]["service"]["name"] for r in spec.get("rules", []) for p in r["http"]["paths"]}
        if "sua-collector" in backends:
            paths = {p["path"] for r in spec["rules"] for p in r["http"]["paths"]}
            routes = collector_public_routes()
            if paths != routes:
                report.fail(where, f"{name_of(ing)} exposes {sorted(paths)}; the collector's public routes are {sorted(routes)}")
            exact = all(p["pathType"] == "Exact" for r in spec["rules"] for p in r["http"]["paths"])
            if not exact:
                report.fail(where, f"{name_of(ing)}: collector paths must be Exact")
            public = urlparse(config.get("SUA_PUBLIC_URL", ""))
            hosts = {r.get("host") for r in spec["rules"]}
            if public.scheme != "https" or hosts != {public.hostname}:
                report.fail(where, f"{name_of(ing)} serves {sorted(hosts)} but SUA_PUBLIC_URL is {public.geturl()!r}")
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    if not any(p["spec"].get("podSelector") == {} and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
               and not p["spec"].get("ingress") and not p["spec"].get("egress") for p in policies):
        report.fail(where, "no default-deny NetworkPolicy")
    pods = []
    for d in docs:
        template = pod_template(d)
        if template is not None:
            pods.append((name_of(d), template.get("metadata", {}).get("labels", {})))
    for pod, labels in pods:
        selected = [p for p in policies if selects(p["spec"].get("podSelector", {}), labels)]
        for p in selected:
            for rule in p["spec"].get("egress", []):
                for peer in rule.get("to", []):
                    cidr = peer.get("ipBlock", {}).get("cidr")
                    if cidr in ("0.0.0.0/0", "::/0") and labels.get("app.kubernetes.io/name") not in INTERNET_EGRESS:
                        report.fail(where, f"{pod} may reach the internet through {name_of(p)}")
                if not rule.get("to") and labels.get("app.kubernetes.io/name") not in INTERNET_EGRESS:
                    ports = {pt.get("port") for pt in rule.get("ports", [])}
                    if not ports or ports & {80, 443}:
                        report.fail(where, f"{pod} may reach the internet through {name_of(p)} (ports {sorted(ports)})")
            if labels.get("app.kubernetes.io/name") == "sua-analytics":
                for rule in p["spec"].get("ingress", []):
                    peers = rule.get("from", [])
                    monitoring = peers and all(
                        peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") == "monitoring"
                        and "podSelector" not in peer for peer in peers)
                    if not monitoring:
                        report.fail(where, f"{pod} admits more than the metrics scrape through {name_of(p)}")


# ---------------------------------------------------------------------------------------------------- outside k8s

def check_secret_templates(report: Report, template: str, example: str) -> dict[str, set[str]]:
    """The Secret templates hold no values; the ExternalSecret example makes only documented keys."""
    where = "k8s/secrets/sua-secrets.template.yaml"
    keys: dict[str, set[str]] = {}
    for d in load_yaml_docs(template):
        validate_schema(report, where, d)
        values = {**(d.get("stringData") or {}), **(d.get("data") or {})}
        for k, v in values.items():
            if v not in ("", None):
                report.fail(where, f"{name_of(d)} holds a value for {k}: templates must stay empty")
        keys[d["metadata"]["name"]] = set(values)
    where = "k8s/secrets/external-secret.example.yaml"
    for d in load_yaml_docs(example):
        target = d["spec"]["target"]["name"]
        names = {e["secretKey"] for e in d["spec"].get("data", [])}
        if target not in keys:
            report.fail(where, f"{name_of(d)} makes Secret {target}, which the template does not document")
        elif not names <= keys[target]:
            report.fail(where, f"{name_of(d)} sets {sorted(names - keys[target])}, not in the template")
    return keys


def check_compose(report: Report, compose: dict, keys: set[str]) -> None:
    where = "deploy/compose.yaml"
    for name, service in compose.get("services", {}).items():
        env = service.get("environment", {})
        names = env.keys() if isinstance(env, dict) else [e.split("=", 1)[0] for e in env]
        for n in names:
            if n.startswith("SUA_") and n not in keys:
                report.fail(where, f"service {name} sets {n}, which sua does not read")


def dockerignore_excludes(patterns: list[str], path: str) -> bool:
    """Docker's .dockerignore rules: globs on the path or a parent folder, `**` across folders, `!` re-includes."""
    excluded = False
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        pattern = pattern.strip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, c) for c in candidates):
            excluded = not negate
    return excluded


def git_tracked() -> list[str]:
    return subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()


def check_dockerignore(report: Report, dockerignore: str, tracked: list[str]) -> None:
    lines = dockerignore.splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    left_out = [f for f in tracked if dockerignore_excludes(patterns, f)]
    for f in left_out[:10]:
        report.fail(".dockerignore", f"leaves out {f}, which git tracks (the build may need it)")
    for must in ("target/release/sua", "web/node_modules/x", ".git/HEAD", "collector/target/x"):
        if not dockerignore_excludes(patterns, must):
            report.fail(".dockerignore", f"keeps {must} in the build context")


# ---------------------------------------------------------------------------------------------------- main

def check_rendered(report: Report, where: str, docs: list[dict], keys: set[str],
                   secret_keys: dict[str, set[str]]) -> None:
    """Every check of one rendered kustomization."""
    config = next((d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"), {})
    for d in docs:
        validate_schema(report, where, d)
        template = pod_template(d)
        if template is not None:
            check_restricted(report, where, d, template["spec"])
    check_namespaces(report, where, docs)
    check_scaling(report, where, docs)
    check_lifecycle(report, where, docs, config)
    check_release(report, where, docs)
    check_settings(report, where, docs, keys, secret_keys)
    check_exposure(report, where, docs)


def read_keys(text: str) -> set[str]:
    return {line.split("\t")[0] for line in text.splitlines() if line.strip()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kustomize", required=True, help="the render command, e.g. 'kubectl kustomize'")
    parser.add_argument("--config-keys", required=True, type=Path, help="output of `sua config-keys`")
    args = parser.parse_args()
    kustomize = shlex.split(args.kustomize)
    keys = read_keys(args.config_keys.read_text())
    if "SUA_DATABASE_URL" not in keys:
        raise SystemExit("the config keys file lists no SUA_DATABASE_URL: is it `sua config-keys` output?")
    for names in REQUIRED.values():
        for name in names - keys:
            raise SystemExit(f"check_manifests.py requires {name}, which sua no longer reads: update REQUIRED")

    report = Report()
    secret_keys = check_secret_templates(report, (ROOT / "k8s/secrets/sua-secrets.template.yaml").read_text(),
                                         (ROOT / "k8s/secrets/external-secret.example.yaml").read_text())
    check_compose(report, yaml.safe_load((ROOT / "deploy/compose.yaml").read_text()), keys)
    check_dockerignore(report, (ROOT / ".dockerignore").read_text(), git_tracked())
    kustomizations = sorted(p.parent for p in (ROOT / "k8s").rglob("kustomization.yaml"))
    for path in kustomizations:
        where = str(path.relative_to(ROOT))
        docs = render(kustomize, path)
        check_rendered(report, where, docs, keys, secret_keys)
        kinds: dict[str, int] = {}
        for d in docs:
            kinds[d["kind"]] = kinds.get(d["kind"], 0) + 1
        print(f"check_manifests: {where}: {len(docs)} objects rendered and checked "
              f"({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))})")
    if report.problems:
        for p in report.problems:
            print(f"  PROBLEM {p}", file=sys.stderr)
        print(f"check_manifests: {len(report.problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"check_manifests: {len(kustomizations)} kustomizations, the Secret templates, compose and .dockerignore are sound")
    return 0


if __name__ == "__main__":
    sys.exit(main())
