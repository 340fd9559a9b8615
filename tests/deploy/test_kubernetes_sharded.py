"""deploy/kubernetes-sharded/: the sharded overlay of the base, rendered by real kustomize.

The overlay turns the base's one-replica Deployment into a StatefulSet of replicas, each the
owner of one shard of the targets. It is rendered exactly as `kubectl apply -k` would, every
core kind is validated strictly by kubernetes-validate for the same Kubernetes versions as the
base, and what sharding depends on is checked: one workload, as many replicas as
GGWATCH_TOTAL_SHARDS says, the pod's name (its shard) from the downward API, a headless Service
for the StatefulSet, and the PodDisruptionBudget, PodMonitor and NetworkPolicy on its pods.
Each replica's state file (GGWATCH_STATE_PATH) is on a persistent volume of its own, a claim
template mounted read-write at the file's directory and deleted with its replica.
"""

from __future__ import annotations

import copy
import re
import textwrap
from pathlib import Path, PurePosixPath
from typing import Any, cast

import pytest
from kubernetes_validate import utils as kv

from ggwatch.settings import Settings, load_settings
from tests.deploy.test_kubernetes import (
    BASE,
    KUBERNETES_VERSIONS,
    POD_LABELS,
    REPO,
    alert_groups,
    assert_labelled_in_namespace,
    container,
    kustomize,
    one,
    validate_strictly,
)

SHARDED = REPO / "deploy" / "kubernetes-sharded"
# What the overlay renders: the base's kinds, the StatefulSet for the Deployment, a second
# (headless) Service, a PodDisruptionBudget, and a PodMonitor for the ServiceMonitor.
RENDERED_KINDS = sorted(
    [
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "Service",
        "Service",
        "StatefulSet",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "PodMonitor",
        "PrometheusRule",
    ]
)
SHARDED_OPERATOR_KINDS = {"PodMonitor", "PrometheusRule"}
CORE_KINDS = {kind for kind in RENDERED_KINDS if kind not in SHARDED_OPERATOR_KINDS}
WORKLOAD_KINDS = {"Pod", "ReplicaSet", "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}
SHARD_ENV = ("GGWATCH_TOTAL_SHARDS", "GGWATCH_POD_NAME")
STATE_ENV = "GGWATCH_STATE_PATH"
STATE_PATH = "/var/lib/ggwatch/state.db"
STATE_CLAIM = "state"


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    return kustomize(SHARDED)


@pytest.fixture(scope="module")
def base() -> list[dict[str, Any]]:
    return kustomize(BASE)


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The container's environment by name (each item as it is: value or valueFrom)."""
    items = {item["name"]: item for item in container["env"]}
    assert len(items) == len(container["env"]), "a variable is set twice"
    return items


def pod_labels(docs: list[dict[str, Any]]) -> dict[str, str]:
    return cast(dict[str, str], one(docs, "StatefulSet")["spec"]["template"]["metadata"]["labels"])


def state_mount(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The container's mount of the directory GGWATCH_STATE_PATH is in."""
    directory = str(PurePosixPath(env(container(docs, "StatefulSet"))[STATE_ENV]["value"]).parent)
    mounts = [
        m for m in container(docs, "StatefulSet")["volumeMounts"] if m["mountPath"] == directory
    ]
    assert len(mounts) == 1, f"expected one mount at {directory}, found {len(mounts)}"
    return cast(dict[str, Any], mounts[0])


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a label selector of matchLabels only (all that this overlay uses) picks labels."""
    assert set(selector) == {"matchLabels"}, selector
    return bool(selector["matchLabels"]) and selector["matchLabels"].items() <= labels.items()


# -- rendering and schemas ------------------------------------------------------------------


def test_kustomize_renders_the_overlay(rendered: list[dict[str, Any]]) -> None:
    assert sorted(doc["kind"] for doc in rendered) == RENDERED_KINDS
    assert_labelled_in_namespace(rendered)


def test_exactly_one_workload_a_statefulset(rendered: list[dict[str, Any]]) -> None:
    workloads = [doc for doc in rendered if doc["kind"] in WORKLOAD_KINDS]
    assert [(w["kind"], w["metadata"]["name"]) for w in workloads] == [("StatefulSet", "ggwatch")]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_core_kinds_validate_strictly(rendered: list[dict[str, Any]], version: str) -> None:
    assert validate_strictly(rendered, version, SHARDED_OPERATOR_KINDS) == CORE_KINDS
    # What the StatefulSet adds to a pod template is in what was validated.
    spec = one(rendered, "StatefulSet")["spec"]
    assert spec["volumeClaimTemplates"]
    assert spec["persistentVolumeClaimRetentionPolicy"]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize(
    ("where", "field", "misspelt"),
    [
        (("volumeClaimTemplates", 0, "spec"), "accessModes", "accesModes"),
        (("volumeClaimTemplates", 0, "spec", "resources"), "requests", "request"),
        (("volumeClaimTemplates", 0, "metadata"), "name", "nmae"),
        (("persistentVolumeClaimRetentionPolicy",), "whenScaled", "whenScale"),
    ],
)
def test_strict_validation_reaches_the_claim_template(
    rendered: list[dict[str, Any]],
    version: str,
    where: tuple[str | int, ...],
    field: str,
    misspelt: str,
) -> None:
    # A misspelt field in the claim template or the retention policy fails validation: they are
    # checked as strictly as the pod template, not passed over as free-form objects.
    statefulset = copy.deepcopy(one(rendered, "StatefulSet"))
    node: Any = statefulset["spec"]
    for key in where:
        node = node[key]
    node[misspelt] = node.pop(field)
    with pytest.raises(kv.ValidationError, match=misspelt):
        kv.validate(statefulset, version, strict=True)


def test_the_base_is_the_overlays_base(
    rendered: list[dict[str, Any]], base: list[dict[str, Any]]
) -> None:
    # What the overlay does not replace is the base's, unchanged.
    for kind in ("Namespace", "ServiceAccount", "ConfigMap", "NetworkPolicy", "PrometheusRule"):
        assert one(rendered, kind) == one(base, kind), kind
    assert named(rendered, "Service", "ggwatch") == one(base, "Service")


# -- the StatefulSet ------------------------------------------------------------------------


def test_replicas_equal_total_shards(rendered: list[dict[str, Any]]) -> None:
    replicas = one(rendered, "StatefulSet")["spec"]["replicas"]
    assert replicas == 2  # the default the overlay ships
    total = env(container(rendered, "StatefulSet"))["GGWATCH_TOTAL_SHARDS"]
    assert total == {"name": "GGWATCH_TOTAL_SHARDS", "value": str(replicas)}


def test_pod_name_comes_from_the_downward_api(rendered: list[dict[str, Any]]) -> None:
    pod_name = env(container(rendered, "StatefulSet"))["GGWATCH_POD_NAME"]
    assert pod_name == {
        "name": "GGWATCH_POD_NAME",
        "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
    }
    # The shard is the pod's ordinal: GGWATCH_SHARD would override it with one value for all.
    assert "GGWATCH_SHARD" not in env(container(rendered, "StatefulSet"))


def test_statefulset_runs_shards_in_parallel(rendered: list[dict[str, Any]]) -> None:
    spec = one(rendered, "StatefulSet")["spec"]
    assert spec["podManagementPolicy"] == "Parallel"
    assert spec["updateStrategy"] == {"type": "RollingUpdate"}
    assert spec["selector"] == {"matchLabels": POD_LABELS}
    assert selects(spec["selector"], pod_labels(rendered))


def test_service_name_is_a_headless_service_of_the_pods(rendered: list[dict[str, Any]]) -> None:
    name = one(rendered, "StatefulSet")["spec"]["serviceName"]
    service = named(rendered, "Service", name)
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"].items() <= pod_labels(rendered).items()
    assert service["spec"]["publishNotReadyAddresses"] is True
    container_ports = {port["name"] for port in container(rendered, "StatefulSet")["ports"]}
    assert [port["targetPort"] for port in service["spec"]["ports"]] == ["http"]
    assert "http" in container_ports
    # The base's Service keeps its cluster IP (port-forward, the webhook).
    assert named(rendered, "Service", "ggwatch")["spec"]["type"] == "ClusterIP"


def test_pod_template_is_the_base_deployments_plus_the_shard_and_state_settings(
    rendered: list[dict[str, Any]], base: list[dict[str, Any]]
) -> None:
    statefulset = one(rendered, "StatefulSet")
    deployment = one(base, "Deployment")
    assert statefulset["metadata"]["labels"] == deployment["metadata"]["labels"]
    assert statefulset["spec"]["selector"] == deployment["spec"]["selector"]
    assert statefulset["spec"]["revisionHistoryLimit"] == deployment["spec"]["revisionHistoryLimit"]
    template = copy.deepcopy(statefulset["spec"]["template"])
    (container,) = template["spec"]["containers"]
    added = {*SHARD_ENV, STATE_ENV}
    container["env"] = [item for item in container["env"] if item["name"] not in added]
    mounts = container["volumeMounts"]
    container["volumeMounts"] = [m for m in mounts if m["name"] != STATE_CLAIM]
    assert template == deployment["spec"]["template"]


def test_container_keeps_the_base_security_context_and_probes(
    rendered: list[dict[str, Any]], base: list[dict[str, Any]]
) -> None:
    # Said again, explicitly, for what matters most of the template compared above.
    pod = container(rendered, "StatefulSet")
    base_container = container(base)
    for key in ("securityContext", "startupProbe", "livenessProbe", "readinessProbe"):
        assert pod[key] == base_container[key], key
    assert pod["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert pod["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    spec = one(rendered, "StatefulSet")["spec"]["template"]["spec"]
    base_spec = one(base, "Deployment")["spec"]["template"]["spec"]
    assert spec["securityContext"] == base_spec["securityContext"]
    assert spec["volumes"] == base_spec["volumes"]
    config = next(volume for volume in spec["volumes"] if "configMap" in volume)
    assert config["configMap"]["name"] == one(rendered, "ConfigMap")["metadata"]["name"]


def test_every_replica_gets_a_shard_ggwatch_accepts(
    rendered: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # What each pod starts with (the settings file, the StatefulSet's env, its own name) passes
    # ggwatch's settings validation.
    if "total_shards" not in Settings.model_fields:
        pytest.skip("ggwatch's settings have no total_shards yet")
    statefulset = one(rendered, "StatefulSet")
    replicas = statefulset["spec"]["replicas"]
    downward_name = {"fieldRef": {"fieldPath": "metadata.name"}}
    for ordinal in range(replicas):
        pod_name = f"{statefulset['metadata']['name']}-{ordinal}"
        values = {}
        for name, item in env(container(rendered, "StatefulSet")).items():
            assert "value" in item or item["valueFrom"] == downward_name, item
            values[name] = item.get("value", pod_name)
        for name, value in values.items():
            if name != "GGWATCH_CONFIG":
                monkeypatch.setenv(name, value)
        settings = load_settings(BASE / "ggwatch.yaml", values)
        assert settings.total_shards == replicas
        assert settings.pod_name == pod_name
        if "state_path" in Settings.model_fields:
            assert settings.state_path == Path(STATE_PATH)


# -- each replica's state volume ------------------------------------------------------------


def test_each_replica_claims_a_state_volume(rendered: list[dict[str, Any]]) -> None:
    (claim,) = one(rendered, "StatefulSet")["spec"]["volumeClaimTemplates"]
    assert claim["metadata"] == {"name": STATE_CLAIM}
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"] == {"requests": {"storage": "1Gi"}}
    # No class: the cluster's default StorageClass applies (an overlay picks another).
    assert "storageClassName" not in claim["spec"]


def test_state_volume_is_mounted_read_write_at_the_state_files_directory(
    rendered: list[dict[str, Any]],
) -> None:
    assert env(container(rendered, "StatefulSet"))[STATE_ENV] == {
        "name": STATE_ENV,
        "value": STATE_PATH,
    }
    mount = state_mount(rendered)
    assert mount["name"] == STATE_CLAIM
    assert mount["mountPath"] == "/var/lib/ggwatch"
    assert not mount.get("readOnly", False)
    # The directory, not the file alone: SQLite's journal and the replacement of a corrupt
    # file are written beside it.
    assert not {"subPath", "subPathExpr"} & mount.keys()
    # The claim, not a pod volume of the same name (the controller adds the claim's volume).
    volumes = one(rendered, "StatefulSet")["spec"]["template"]["spec"]["volumes"]
    assert STATE_CLAIM not in {volume["name"] for volume in volumes}
    # No other mount is nearer the file: it lands on the claim.
    nearer = [
        m["mountPath"]
        for m in container(rendered, "StatefulSet")["volumeMounts"]
        if PurePosixPath(STATE_PATH).is_relative_to(m["mountPath"])
        and len(m["mountPath"]) > len(mount["mountPath"])
    ]
    assert nearer == []


def test_only_tmp_and_the_state_volume_are_writable(rendered: list[dict[str, Any]]) -> None:
    # The root filesystem stays read-only (the base's security context, compared above).
    writable = [
        m["mountPath"]
        for m in container(rendered, "StatefulSet")["volumeMounts"]
        if not m.get("readOnly")
    ]
    assert sorted(writable) == ["/tmp", "/var/lib/ggwatch"]
    context = container(rendered, "StatefulSet")["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    # The volume is the pod's fsGroup's, so the non-root process can write it.
    pod = one(rendered, "StatefulSet")["spec"]["template"]["spec"]["securityContext"]
    assert pod["fsGroup"] == context["runAsGroup"] == 10001


def test_claims_go_with_their_replica(rendered: list[dict[str, Any]]) -> None:
    # A replica's cache serves its own shard only: deleted with the StatefulSet or when a
    # scale-down removes the replica, kept across restarts (no policy concerns those).
    policy = one(rendered, "StatefulSet")["spec"]["persistentVolumeClaimRetentionPolicy"]
    assert policy == {"whenDeleted": "Delete", "whenScaled": "Delete"}


# -- PodDisruptionBudget, PodMonitor, NetworkPolicy -----------------------------------------


def test_disruption_budget_takes_one_replica_at_a_time(rendered: list[dict[str, Any]]) -> None:
    spec = one(rendered, "PodDisruptionBudget")["spec"]
    assert spec["maxUnavailable"] == 1
    assert "minAvailable" not in spec
    assert selects(spec["selector"], pod_labels(rendered))
    assert spec["selector"] == one(rendered, "StatefulSet")["spec"]["selector"]


def test_pod_monitor_scrapes_each_pods_http_port(rendered: list[dict[str, Any]]) -> None:
    monitor = one(rendered, "PodMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert selects(monitor["spec"]["selector"], pod_labels(rendered))
    assert "namespaceSelector" not in monitor["spec"]  # the pods' own namespace
    ports = {port["name"] for port in container(rendered, "StatefulSet")["ports"]}
    endpoints = monitor["spec"]["podMetricsEndpoints"]
    assert endpoints, "spec.podMetricsEndpoints is required"
    for endpoint in endpoints:
        assert endpoint["port"] in ports
        assert endpoint.get("path", "/metrics") == "/metrics"
    # Scraped once: no ServiceMonitor too (a second scrape would look like a second claim on
    # each shard to GGWatchShardsDisagree).
    assert not [doc for doc in rendered if doc["kind"] == "ServiceMonitor"]


def test_scrape_job_is_the_one_the_alerts_expect(rendered: list[dict[str, Any]]) -> None:
    # The operator names the job after the pod label that jobLabel names.
    job = pod_labels(rendered)[one(rendered, "PodMonitor")["spec"]["jobLabel"]]
    assert job == "ggwatch"
    exprs = [rule["expr"] for group in alert_groups() for rule in group["rules"]]
    assert {m for expr in exprs for m in re.findall(r'job="([^"]*)"', str(expr))} <= {job}


def test_network_policy_selects_the_pods(
    rendered: list[dict[str, Any]], base: list[dict[str, Any]]
) -> None:
    policy = one(rendered, "NetworkPolicy")
    assert policy == one(base, "NetworkPolicy")
    assert selects(policy["spec"]["podSelector"], pod_labels(rendered))


# -- overlays of the overlay ----------------------------------------------------------------


def checkout(tmp_path: Path, kustomization: str) -> Path:
    """overlays/prod with this kustomization, next to a deploy/ that is the repository's."""
    root = tmp_path / "checkout"
    prod = root / "overlays" / "prod"
    prod.mkdir(parents=True)
    (root / "deploy").symlink_to(REPO / "deploy")
    (prod / "kustomization.yaml").write_text(kustomization, encoding="utf-8")
    return prod


def deploy_doc_sharded_overlay() -> str:
    """The overlay of docs/deploy.md's section on the sharded overlay."""
    doc = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    text = doc.split("\n## Sharded: a StatefulSet of replicas\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```yaml\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)
    (block,) = (b for b in blocks if b.startswith("# overlays/prod/kustomization.yaml\n"))
    return cast(str, block)


def test_deploy_doc_sharded_overlay_renders_and_validates(tmp_path: Path) -> None:
    overlay = deploy_doc_sharded_overlay()
    assert overlay.startswith("# overlays/prod/kustomization.yaml\n")
    docs = kustomize(checkout(tmp_path, overlay))
    assert sorted(doc["kind"] for doc in docs) == RENDERED_KINDS
    for doc in docs:
        if doc["kind"] not in SHARDED_OPERATOR_KINDS:
            kv.validate(doc, KUBERNETES_VERSIONS[-1], strict=True)
    replicas = one(docs, "StatefulSet")["spec"]["replicas"]
    assert replicas == 4
    variables = env(container(docs, "StatefulSet"))
    assert variables["GGWATCH_TOTAL_SHARDS"]["value"] == str(replicas)
    assert variables["GGWATCH_REGIONS"]["value"] == "us-west-2,eu-central-1"
    assert variables["GGWATCH_POD_NAME"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.name"}
    }
    # The overlay's patch of the container keeps the state volume.
    assert variables[STATE_ENV]["value"] == STATE_PATH
    assert state_mount(docs)["name"] == STATE_CLAIM
    claims = one(docs, "StatefulSet")["spec"]["volumeClaimTemplates"]
    assert [claim["metadata"]["name"] for claim in claims] == [STATE_CLAIM]
    assert container(docs, "StatefulSet")["image"] == (
        "123456789012.dkr.ecr.us-west-2.amazonaws.com/ggwatch:0.1.0"
    )
    role = one(docs, "ServiceAccount")["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert role == "arn:aws:iam::123456789012:role/ggwatch"


def test_an_overlay_can_rename_and_replace_settings(tmp_path: Path) -> None:
    # kustomize keeps the references of a genuine StatefulSet (not a Deployment with its kind
    # edited): a name prefix reaches serviceName, a replaced settings file the config volume.
    prod = checkout(
        tmp_path,
        textwrap.dedent(
            """\
            apiVersion: kustomize.config.k8s.io/v1beta1
            kind: Kustomization
            resources:
              - ../../deploy/kubernetes-sharded
            namePrefix: prod-
            configMapGenerator:
              - name: ggwatch-config
                behavior: replace
                files:
                  - ggwatch.yaml
            """
        ),
    )
    (prod / "ggwatch.yaml").write_text("regions: [us-west-2]\n", encoding="utf-8")
    docs = kustomize(prod)
    statefulset = one(docs, "StatefulSet")
    assert statefulset["metadata"]["name"] == "prod-ggwatch"
    headless = named(docs, "Service", statefulset["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    configmap = one(docs, "ConfigMap")
    assert configmap["data"] == {"ggwatch.yaml": "regions: [us-west-2]\n"}
    volumes = statefulset["spec"]["template"]["spec"]["volumes"]
    assert {"name": "config", "configMap": {"name": configmap["metadata"]["name"]}} in volumes
    service_account = statefulset["spec"]["template"]["spec"]["serviceAccountName"]
    assert service_account == one(docs, "ServiceAccount")["metadata"]["name"] == "prod-ggwatch"
    # A claim template's name is no resource's: the prefix leaves it, and the mount, alone.
    claims = statefulset["spec"]["volumeClaimTemplates"]
    assert [claim["metadata"]["name"] for claim in claims] == [STATE_CLAIM]
    assert state_mount(docs)["name"] == STATE_CLAIM
