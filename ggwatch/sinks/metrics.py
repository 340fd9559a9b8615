"""Prometheus metrics: a custom collector over the daemon's current view.

`collect()` reads `holder.view` once per scrape and turns it into metric families. It does no
I/O and never calls AWS, so a scrape costs no Greengrass V2 quota, and every family is rebuilt
from the view each time: a resolved finding's series simply vanishes.

The app owns its registry: `register_collector(registry, holder, ...)` adds the collector to a
`CollectorRegistry` the caller created; nothing here touches prometheus_client's default one.

Labels name the target as `aws_account_id`, `aws_region` and `account_alias` (the target's name
in the configuration; never `instance` or `job`, which Prometheus sets itself), and every label
but those of `ggwatch_finding_info` takes values from a closed set. `ggwatch_finding_info` has
one series per open finding, so it is capped.

A replica that shares the targets with others (total_shards > 1) adds `shard` to every series:
each target has one owner, so sums across replicas count it once, and Alertmanager can route an
alert to the replica that owns its target by that label. `ggwatch_shard_info`,
`ggwatch_total_shards` and `ggwatch_targets_owned` say where each replica stands.
"""

from __future__ import annotations

import platform
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import product

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import CollectorRegistry

from ggwatch.aws.api import READ_OPERATIONS
from ggwatch.errors import DENIED_CODES, THROTTLE_CODES
from ggwatch.findings import Finding, Verdict
from ggwatch.model import Guidance, TargetSnapshot, VersionRef
from ggwatch.shards import Shard
from ggwatch.state import DaemonView, StateHolder, TargetStatus

TARGET = ["aws_account_id", "aws_region", "account_alias"]
Key = tuple[str, ...]  # label values, in the order of the family's label names
UNKNOWN_ACCOUNT = "unknown"
# The calls a scan makes: their request and throttle counters exist from the first scrape, so
# rate() and increase() see the first request or throttle.
OPERATIONS = tuple(sorted(READ_OPERATIONS))
DEPLOYMENT_STATUSES = ("ACTIVE", "COMPLETED", "CANCELED", "FAILED", "INACTIVE")
DEVICE_STATUSES = ("HEALTHY", "UNHEALTHY")
SCOPES = ("private", "public")
INFO_LABELS = ["rule", "severity", "resource_type", "resource_id", "component", "version"]
ERROR_CODES = frozenset(
    {
        "AccessDeniedException",
        "ThrottlingException",
        "InternalServerException",
        "ResourceNotFoundException",
        "ValidationException",
        "ConflictException",
        "Unreachable",
        "NoCredentials",
    }
)
OK = "ok"

_LAST_SCAN = "as of the last scan of the target"
_LAST_COMPLETE = "as of the last complete scan of the target (an incomplete one leaves it)"
_FINDING_APIS = (
    "from Greengrass V2 ListDeployments, GetDeployment, ListCoreDevices, "
    "ListInstalledComponents and DescribeComponent"
)


def register_collector(
    registry: CollectorRegistry,
    holder: StateHolder,
    max_finding_series: int,
    version: str,
    python_version: str | None = None,
    *,
    shard: Shard | None = None,
) -> ViewCollector:
    """Add a collector over `holder` to `registry`; python_version defaults to the running one.

    Tests pass python_version so that an exposition does not depend on the interpreter.
    """
    python = python_version or platform.python_version()
    collector = ViewCollector(holder, max_finding_series, version, python, shard or Shard())
    registry.register(collector)
    return collector


@dataclass(frozen=True, eq=False)  # eq=False: the registry keys collectors by identity
class ViewCollector:
    """Metric families from `holder.view`; see the module docstring."""

    holder: StateHolder
    max_finding_series: int
    version: str
    python_version: str
    shard: Shard

    def collect(self) -> Iterator[Metric]:
        if not self.shard.sharded:
            yield from self._families()
            return
        label = {"shard": str(self.shard.index)}
        for family in self._families():
            family.samples = [s._replace(labels={**s.labels, **label}) for s in family.samples]
            yield family

    def _families(self) -> Iterator[Metric]:
        view = self.holder.view  # read once: one scrape sees one view, never half an update
        yield from _findings(view, self.max_finding_series)
        yield from _plans(view)
        yield from _inventory(view.targets)
        yield from _scans(view)
        yield from _api_calls(view)
        yield from _cleanup(view)
        yield from _events(view)
        yield _family(
            "ggwatch_build_info",
            "ggwatch's version and the Python running it; always 1.",
            ["version", "python_version"],
            {(self.version, self.python_version): 1},
        )
        yield from _sharding(self.shard, len(view.targets))


def _sharding(shard: Shard, owned: int) -> Iterator[Metric]:
    yield _family(
        "ggwatch_shard_info",
        "This replica's shard and the total it was given (settings shard, total_shards); always 1.",
        ["shard", "total_shards"],
        {(str(shard.index), str(shard.total)): 1},
    )
    yield _family(
        "ggwatch_total_shards",
        "How many replicas this one was told share the targets (setting total_shards).",
        [],
        {(): shard.total},
    )
    yield _family(
        "ggwatch_targets_owned",
        "Targets (account alias and Region) this replica owns, scans and cleans.",
        [],
        {(): owned},
    )


def target_labels(account: str | None, region: str, alias: str) -> Key:
    return (account or UNKNOWN_ACCOUNT, region, alias)


def error_code(outcome: str) -> str:
    """An AWS error code (or Unreachable, NoCredentials) as one of a fixed set of values."""
    if outcome in THROTTLE_CODES:
        return "ThrottlingException"
    if outcome in DENIED_CODES:
        return "AccessDeniedException"
    return outcome if outcome in ERROR_CODES else "Other"


def _family(name: str, doc: str, labels: list[str], values: Mapping[Key, float]) -> Metric:
    """One sample per key, sorted so the exposition is stable; a counter if named `_total`."""
    kind = CounterMetricFamily if name.endswith("_total") else GaugeMetricFamily
    family = kind(name, doc, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family


def _findings(view: DaemonView, cap: int) -> Iterator[Metric]:
    counts: Counter[Key] = Counter()
    for target, (rule, severity) in product(view.targets, view.severities):
        counts[
            (
                rule.value,
                severity.value,
                *target_labels(target.account, target.region, target.alias),
            )
        ] = 0
    for f in view.findings:
        counts[
            (f.rule.value, f.severity.value, *target_labels(f.account, f.region, f.account_alias))
        ] += 1
    yield _family(
        "ggwatch_findings",
        f"Open findings by rule and severity, {_LAST_SCAN}, {_FINDING_APIS}.",
        ["rule", "severity", *TARGET],
        counts,
    )
    # view.findings is in report order (severity first), so the cap keeps the worst.
    kept = view.findings[: max(cap, 0)]
    yield _family(
        "ggwatch_finding_info",
        f"One series (value 1) per open finding, {_LAST_SCAN}, {_FINDING_APIS}; worst severity "
        "first, at most max_finding_series of them.",
        [*INFO_LABELS, *TARGET],
        {_info_labels(f): 1 for f in kept},
    )
    yield _family(
        "ggwatch_finding_info_dropped",
        f"Open findings left out of ggwatch_finding_info by max_finding_series, {_LAST_SCAN}.",
        [],
        {(): len(view.findings) - len(kept)},
    )


def _plans(view: DaemonView) -> Iterator[Metric]:
    """Both verdicts for every target from the first scrape, so an alert can rely on them."""
    counts: Counter[Key] = Counter()
    for target, verdict in product(view.targets, Verdict):
        counts[(verdict.value, *target_labels(target.account, target.region, target.alias))] = 0
    for p in view.plans:
        counts[(p.verdict.value, *target_labels(p.account, p.region, p.target.alias))] += 1
    yield _family(
        "ggwatch_remediation_plans",
        "Remediation plans (proposed revisions of in-force deployments that name a DELETED or "
        "DISCONTINUED version) by verdict: ok (resolves on every device class it reaches, "
        f"ACTIVE versions only) or blocked, {_LAST_SCAN}; proposed, never applied by ggwatch.",
        ["verdict", *TARGET],
        counts,
    )


def _info_labels(f: Finding) -> Key:
    return (
        f.rule.value,
        f.severity.value,
        f.resource_type.value,
        f.resource_id,
        f.details.component_name or "",  # none for a stale deployment
        f.details.component_version or "",
        *target_labels(f.account, f.region, f.account_alias),
    )


def in_use(snapshot: TargetSnapshot) -> set[VersionRef]:
    """Versions named by deployments in force or installed on core devices.

    snapshot.versions also holds versions described only while looking for a recommended one.
    """
    return snapshot.versions_in_use() & snapshot.versions.keys()


def _inventory(targets: tuple[TargetStatus, ...]) -> Iterator[Metric]:
    versions: Counter[Key] = Counter()
    deployments: Counter[Key] = Counter()
    devices: Counter[Key] = Counter()
    for target in targets:
        snapshot = target.complete_snapshot
        if snapshot is None:  # absent, not zero: nothing is known yet
            continue
        where = target_labels(target.account, target.region, target.alias)
        for scope, guidance in product(SCOPES, Guidance):
            versions[(scope, guidance.value, *where)] = 0
        for ref in in_use(snapshot):
            scope = "private" if ref.name in snapshot.private_components else "public"
            versions[(scope, snapshot.versions[ref].guidance.value, *where)] += 1
        for status, latest in product(DEPLOYMENT_STATUSES, ("true", "false")):
            deployments[(status, latest, *where)] = 0
        for d in snapshot.deployments:
            deployments[(d.status, "true" if d.is_latest else "false", *where)] += 1
        for status in DEVICE_STATUSES:
            devices[(status, *where)] = 0
        for device in snapshot.devices:
            devices[(device.status or "unknown", *where)] += 1
    yield _family(
        "ggwatch_component_versions",
        "Component versions in use (in a deployment in force or installed on a core device) by "
        f"scope and vendor guidance, from Greengrass V2 DescribeComponent, {_LAST_COMPLETE}.",
        ["scope", "vendor_guidance", *TARGET],
        versions,
    )
    yield _family(
        "ggwatch_deployments",
        "Deployments (every revision) by status and whether latest for their target, from "
        f"Greengrass V2 ListDeployments, {_LAST_COMPLETE}.",
        ["status", "latest", *TARGET],
        deployments,
    )
    yield _family(
        "ggwatch_core_devices",
        f"Core devices by status, from Greengrass V2 ListCoreDevices, {_LAST_COMPLETE}.",
        ["status", *TARGET],
        devices,
    )


def _scans(view: DaemonView) -> Iterator[Metric]:
    targets = [(target_labels(t.account, t.region, t.alias), t) for t in view.targets]
    yield _family(
        "ggwatch_last_scan_success_timestamp_seconds",
        "Unix time of the last complete scan of the target (every Greengrass V2 call "
        "succeeded); absent before the first.",
        TARGET,
        {k: t.last_success.timestamp() for k, t in targets if t.last_success is not None},
    )
    yield _family(
        "ggwatch_last_scan_duration_seconds",
        "Seconds the last scan of the target took, complete or not.",
        TARGET,
        {k: t.last_duration_seconds for k, t in targets if t.last_duration_seconds is not None},
    )
    yield _family(
        "ggwatch_up",
        "1 if the last scan of the target read every Greengrass V2 API it needed, 0 if it "
        "finished incomplete or none has finished yet (a first scan that hangs shows as 0).",
        TARGET,
        {k: float(t.complete is True) for k, t in targets},
    )
    yield _family(
        "ggwatch_scans_total",
        "Scans of the target attempted since ggwatch started.",
        TARGET,
        {k: t.scans for k, t in targets},
    )
    yield _family(
        "ggwatch_scans_failed_total",
        "Scans of the target that finished incomplete (a Greengrass V2 call failed after its "
        "retries) since ggwatch started.",
        TARGET,
        {k: t.failed_scans for k, t in targets},
    )
    last = [(k, t.snapshot) for k, t in targets if t.snapshot is not None]
    yield _family(
        "ggwatch_last_scan_api_calls",
        "Greengrass V2 calls the last scan of the target made, retries included; with the "
        "daemon's caches, a steady fleet costs only its list pages.",
        TARGET,
        {k: s.api_calls for k, s in last},
    )
    yield _family(
        "ggwatch_scan_minimal_calls",
        "The fewest Greengrass V2 calls a full scan of the target needs, as of the last scan "
        "(list pages at 100, GetDeployment per in-force deployment, DescribeComponent per "
        "version in use, ListInstalledComponents pages per device, recommended-version lookups).",
        TARGET,
        {k: s.minimal_calls for k, s in last},
    )
    yield _family(
        "ggwatch_scan_rate_limit_floor_seconds",
        "Seconds a full scan of the target takes at the least at ggwatch's share of the "
        "Greengrass V2 request budget (minimal calls / budget), as of the last scan.",
        TARGET,
        {k: s.floor_seconds for k, s in last},
    )
    yield _family(
        "ggwatch_cache_entries",
        "Entries in the daemon's caches for the target after the last scan, by cache "
        "(deployment details, installed components, vendor guidance, recommended versions).",
        ["cache", *TARGET],
        {(name, *k): n for k, s in last for name, n in s.cache_sizes},
    )
    yield _family(
        "ggwatch_evaluations_total",
        "Evaluations of the rules over a scan since ggwatch started.",
        [],
        {(): view.evaluations},
    )


def _api_calls(view: DaemonView) -> Iterator[Metric]:
    requests: Counter[Key] = Counter()
    errors: Counter[Key] = Counter()
    throttles: Counter[Key] = Counter()
    for target, operation in product(view.targets, OPERATIONS):
        key = (operation, *target_labels(target.account, target.region, target.alias))
        requests[key] = throttles[key] = 0
    for call in view.api_calls:
        key = (call.operation, *target_labels(call.account, call.region, call.alias))
        requests[key] += call.count
        if call.outcome != OK:
            code = error_code(call.outcome)
            errors[(call.operation, code, *key[1:])] += call.count
            if code == "ThrottlingException":
                throttles[key] += call.count
    yield _family(
        "ggwatch_aws_requests_total",
        "Greengrass V2 API requests by operation, every attempt and retry, since ggwatch started.",
        ["operation", *TARGET],
        requests,
    )
    yield _family(
        "ggwatch_aws_errors_total",
        "Greengrass V2 API requests that failed, by operation and error code (a fixed set; any "
        "other code is Other), since ggwatch started.",
        ["operation", "error_code", *TARGET],
        errors,
    )
    yield _family(
        "ggwatch_aws_throttles_total",
        "Greengrass V2 API requests refused by throttling, by operation, since ggwatch started.",
        ["operation", *TARGET],
        throttles,
    )


EVENT_OUTCOMES = ("refreshed", "ignored", "malformed", "failed", "elsewhere")


def _events(view: DaemonView) -> Iterator[Metric]:
    """The events consumer's counters; absent when no events queue is configured."""
    if not view.events_queues:
        return
    counts = dict(view.event_messages)
    yield _family(
        "ggwatch_event_messages_total",
        "SQS messages from the events queues by outcome: refreshed (deleted after a complete "
        "refresh), ignored (not a Greengrass V2 or AWS Health trigger; deleted), malformed "
        "(left for the dead-letter queue), failed (the refresh was incomplete; redelivered), "
        "elsewhere (for a target another replica owns; made visible again for it).",
        ["outcome"],
        {(outcome,): counts.get(outcome, 0) for outcome in EVENT_OUTCOMES},
    )
    yield _family(
        "ggwatch_event_receive_errors_total",
        "SQS ReceiveMessage calls on the events queues that failed since ggwatch started.",
        [],
        {(): counts.get("receive_errors", 0)},
    )
    yield _family(
        "ggwatch_event_refreshes_total",
        "Targeted refreshes of the target (devices' installed components, after events) since "
        "ggwatch started.",
        TARGET,
        {target_labels(t.account, t.region, t.alias): t.refreshes for t in view.targets},
    )


CLEANUP_ACTIONS = (
    ("deleted", "ok"),
    ("would_delete", "ok"),
    ("archived", "ok"),
    ("archived", "failed"),
)


def _cleanup(view: DaemonView) -> Iterator[Metric]:
    """Cleanup steps since start; absent when cleanup is off, so no alert sees zeros."""
    if view.cleanup_mode == "off":
        return
    values: dict[Key, float] = dict(view.cleanup_actions)
    for target, (action, outcome) in product(view.targets, CLEANUP_ACTIONS):
        values.setdefault((target.alias, target.region, view.cleanup_mode, action, outcome), 0)
    yield _family(
        "ggwatch_cleanup_actions_total",
        "Stale-deployment cleanup steps since ggwatch started, by mode (dry-run or enforce), "
        "action (deleted, would_delete, archived, skipped, blocked) and outcome (ok, "
        "already_deleted, failed, or the reason skipped); deletes use Greengrass V2 "
        "GetDeployment and DeleteDeployment.",
        ["account_alias", "aws_region", "mode", "action", "outcome"],
        values,
    )
