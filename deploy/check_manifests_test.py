#!/usr/bin/env python3
"""Each check of check_manifests.py fails on the mistake it exists for: the rendered manifests (or file) with one
mistake put in must be reported, with the expected message, while the untouched ones pass.

  SUA_KUSTOMIZE="kubectl kustomize" SUA_CONFIG_KEYS=target/tools/config-keys.txt python -m unittest deploy/check_manifests_test.py
"""

from __future__ import annotations

import copy
import os
import shlex
import sys
import unittest
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import check_manifests as cm  # noqa: E402

KUSTOMIZE = shlex.split(os.environ.get("SUA_KUSTOMIZE", "kubectl kustomize"))
KEYS = cm.read_keys(Path(os.environ["SUA_CONFIG_KEYS"]).read_text())
TEMPLATE = (cm.ROOT / "k8s/secrets/sua-secrets.template.yaml").read_text()
EXAMPLE = (cm.ROOT / "k8s/secrets/external-secret.example.yaml").read_text()
RENDERED = {name: cm.render(KUSTOMIZE, cm.ROOT / "k8s" / name) for name in ("base", "overlays/prod", "overlays/dev")}


def find(docs: list[dict], kind: str, name_prefix: str) -> dict:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"].startswith(name_prefix))


def container(doc: dict, name: str) -> dict:
    spec = cm.pod_template(doc)["spec"]
    return next(c for c in cm.all_containers(spec) if c["name"] == name)


class Mutations(unittest.TestCase):
    def problems(self, docs: list[dict]) -> list[str]:
        report = cm.Report()
        secret_keys = cm.check_secret_templates(report, TEMPLATE, EXAMPLE)
        cm.check_rendered(report, "test", docs, KEYS, secret_keys)
        return report.problems

    def assert_reported(self, mutate, expected: str, overlay: str = "base") -> None:
        docs = copy.deepcopy(RENDERED[overlay])
        mutate(docs)
        problems = self.problems(docs)
        self.assertTrue(any(expected in p for p in problems), f"expected {expected!r} in {problems}")

    def test_the_shipped_manifests_pass(self):
        for name, docs in RENDERED.items():
            self.assertEqual(self.problems(copy.deepcopy(docs)), [], name)

    def test_a_container_keeping_its_capabilities(self):
        self.assert_reported(lambda d: container(find(d, "Deployment", "sua-analytics"), "analytics")["securityContext"]
                             .pop("capabilities"), "capabilities must drop ALL")

    def test_a_writable_root_file_system(self):
        self.assert_reported(lambda d: container(find(d, "CronJob", "sua-licence-sync"), "sync")["securityContext"]
                             .update(readOnlyRootFilesystem=False), "readOnlyRootFilesystem must be true")

    def test_a_pod_that_may_run_as_root(self):
        def mutate(d):
            find(d, "Job", "sua-migrate")["spec"]["template"]["spec"]["securityContext"].pop("runAsNonRoot")
        self.assert_reported(mutate, "runAsNonRoot must be true")

    def test_a_sidecar_without_seccomp(self):
        def mutate(d):
            spec = find(d, "Deployment", "sua-collector")["spec"]["template"]["spec"]
            spec["securityContext"].pop("seccompProfile")
        self.assert_reported(mutate, "seccompProfile", overlay="overlays/dev")

    def test_a_namespace_not_enforcing_restricted(self):
        self.assert_reported(lambda d: find(d, "Namespace", "sua")["metadata"]["labels"]
                             .update({"pod-security.kubernetes.io/enforce": "baseline"}), "does not enforce")

    def test_replicas_on_an_autoscaled_deployment(self):
        self.assert_reported(lambda d: find(d, "Deployment", "sua-portal-api")["spec"].update(replicas=2),
                             "sets replicas although")

    def test_an_unknown_field_in_a_core_object(self):
        self.assert_reported(lambda d: container(find(d, "Deployment", "sua-collector"), "collector")
                             .update(imagePullPolicyy="Always"), "invalid for Kubernetes")

    def test_an_unknown_field_in_a_scaled_object(self):
        self.assert_reported(lambda d: find(d, "ScaledObject", "sua-analytics")["spec"].update(minReplicaCnt=1),
                             "does not match keda.sh/v1alpha1")

    def test_a_malformed_service_monitor(self):
        self.assert_reported(lambda d: find(d, "ServiceMonitor", "sua")["spec"].update(endpoint=[]),
                             "does not match monitoring.coreos.com/v1")

    def test_a_scaled_object_watching_another_queue(self):
        def mutate(d):
            find(d, "ScaledObject", "sua-collector-worker")["spec"]["triggers"][0]["metadata"]["queueName"] = "sua.analytics"
        self.assert_reported(mutate, "but sua-collector-worker consumes sua.collector.jobs")

    def test_a_deployment_without_a_disruption_budget(self):
        self.assert_reported(lambda d: d.remove(find(d, "PodDisruptionBudget", "sua-analytics")),
                             "Deployment/sua-analytics has no PodDisruptionBudget")

    def test_no_prestop_pause(self):
        self.assert_reported(lambda d: container(find(d, "Deployment", "sua-collector"), "collector").pop("lifecycle"),
                             "no preStop sleep")

    def test_a_grace_period_shorter_than_the_drain(self):
        self.assert_reported(lambda d: find(d, "Deployment", "sua-portal-api")["spec"]["template"]["spec"]
                             .update(terminationGracePeriodSeconds=10), "terminationGracePeriodSeconds 10")

    def test_readiness_that_skips_the_schema_check(self):
        self.assert_reported(lambda d: container(find(d, "Deployment", "sua-analytics"), "analytics")["readinessProbe"]
                             ["httpGet"].update(path="/healthz"), "readiness must be /readyz")

    def test_a_migrate_job_named_for_another_release(self):
        self.assert_reported(lambda d: find(d, "Job", "sua-migrate")["metadata"].update(name="sua-migrate-0.0.9"),
                             "does not end in its image's tag", overlay="overlays/prod")

    def test_a_setting_sua_does_not_read(self):
        self.assert_reported(lambda d: find(d, "ConfigMap", "sua-config")["data"].update(SUA_AMQP__PREFECH="64"),
                             "SUA_AMQP__PREFECH, which sua does not read")

    def test_a_workload_missing_a_setting_it_needs(self):
        def mutate(d):
            c = container(find(d, "Deployment", "sua-analytics"), "analytics")
            c["env"] = [e for e in c["env"] if e["name"] != "SUA_AMQP_URL"]
        self.assert_reported(mutate, "does not get SUA_AMQP_URL")

    def test_a_secret_key_the_template_does_not_document(self):
        def mutate(d):
            c = container(find(d, "Deployment", "sua-portal-api"), "portal-api")
            c["env"].append({"name": "SUA_SMTP__USERNAME",
                             "valueFrom": {"secretKeyRef": {"name": "sua-secrets", "key": "SUA_SMTP__USERNAME"}}})
        self.assert_reported(mutate, "reads sua-secrets.SUA_SMTP__USERNAME")

    def test_a_collector_ingress_exposing_more_than_its_public_routes(self):
        def mutate(d):
            paths = find(d, "Ingress", "sua-collector")["spec"]["rules"][0]["http"]["paths"]
            paths.append(copy.deepcopy(paths[0]) | {"path": "/metrics"})
        self.assert_reported(mutate, "the collector's public routes are")

    def test_a_public_url_on_another_host(self):
        self.assert_reported(lambda d: find(d, "ConfigMap", "sua-config")["data"]
                             .update(SUA_PUBLIC_URL="https://elsewhere.example.com"), "but SUA_PUBLIC_URL is")

    def test_an_ingress_host_without_tls(self):
        self.assert_reported(lambda d: find(d, "Ingress", "sua-portal")["spec"].pop("tls"), "has no TLS")

    def test_no_default_deny(self):
        self.assert_reported(lambda d: d.remove(find(d, "NetworkPolicy", "default-deny")), "no default-deny")

    def test_analytics_reaching_the_internet(self):
        def mutate(d):
            policy = find(d, "NetworkPolicy", "collector-egress-graph")
            policy["spec"]["podSelector"]["matchExpressions"][0]["values"].append("sua-analytics")
        self.assert_reported(mutate, "Deployment/sua-analytics may reach the internet")

    def test_analytics_admitting_more_than_the_scrape(self):
        def mutate(d):
            policy = find(d, "NetworkPolicy", "allow-from-ingress-controller")
            policy["spec"]["podSelector"]["matchExpressions"][0]["values"].append("sua-analytics")
        self.assert_reported(mutate, "admits more than the metrics scrape")


class Files(unittest.TestCase):
    def test_a_value_in_a_secret_template(self):
        report = cm.Report()
        cm.check_secret_templates(report, TEMPLATE.replace('SUA_CLIENT_SECRET: ""', 'SUA_CLIENT_SECRET: "s3cret"'),
                                  EXAMPLE)
        self.assertTrue(any("holds a value for SUA_CLIENT_SECRET" in p for p in report.problems), report.problems)

    def test_an_external_secret_with_an_undocumented_key(self):
        report = cm.Report()
        cm.check_secret_templates(report, TEMPLATE, EXAMPLE.replace("secretKey: SUA_AMQP_URL", "secretKey: SUA_AMQP"))
        self.assertTrue(any("not in the template" in p for p in report.problems), report.problems)

    def test_compose_setting_an_unknown_name(self):
        compose = yaml.safe_load((cm.ROOT / "deploy/compose.yaml").read_text())
        report = cm.Report()
        cm.check_compose(report, compose, KEYS)
        self.assertEqual(report.problems, [])
        compose["services"]["analytics"]["environment"]["SUA_ANALYTICS__PREFECH"] = "1"
        cm.check_compose(report, compose, KEYS)
        self.assertTrue(any("SUA_ANALYTICS__PREFECH" in p for p in report.problems), report.problems)

    def test_dockerignore_leaving_out_tracked_sources(self):
        tracked = cm.git_tracked()
        report = cm.Report()
        cm.check_dockerignore(report, (cm.ROOT / ".dockerignore").read_text(), tracked)
        self.assertEqual(report.problems, [])
        cm.check_dockerignore(report, (cm.ROOT / ".dockerignore").read_text() + "\n**/*.pem\n", tracked)
        self.assertTrue(any("signing-1.pem" in p for p in report.problems), report.problems)

    def test_dockerignore_matching(self):
        self.assertTrue(cm.dockerignore_excludes(["**/target"], "bench/load/target/x"))
        self.assertTrue(cm.dockerignore_excludes(["web/dist"], "web/dist/index.html"))
        self.assertFalse(cm.dockerignore_excludes(["web/dist"], "web/distinct.ts"))
        self.assertFalse(cm.dockerignore_excludes(["**/target", "!keep/target"], "keep/target/x"))


if __name__ == "__main__":
    unittest.main()
