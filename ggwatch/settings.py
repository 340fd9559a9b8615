"""One frozen Settings object, built once at start-up and passed down.

Sources, strongest first: environment variables (`GGWATCH_<NAME>`), then the YAML file named
by `--config` or `GGWATCH_CONFIG`, then the defaults below. A bad value is reported as one line
that names the setting the way the user wrote it.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from ggwatch import accounts, names
from ggwatch.errors import ConfigError
from ggwatch.findings import Rule
from ggwatch.rules.config import Exclusions, RuleOverride, RulesConfig
from ggwatch.shards import Shard, pod_ordinal

ENV_PREFIX = "GGWATCH_"
CONFIG_ENV = "GGWATCH_CONFIG"
DAY = 86_400.0


class _AssumesRoles(BaseModel):
    """What AssumeRole is asked for, checked alike wherever a role is configured."""

    @field_validator("session_name", check_fields=False)
    @classmethod
    def _check_session(cls, value: str) -> str:
        return names.check_session_name(value)

    @field_validator("external_id", check_fields=False)
    @classmethod
    def _check_external_id(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not 2 <= len(value.get_secret_value()) <= 1224:
            raise ValueError("must be 2-1224 characters")
        return value


class TargetConfig(_AssumesRoles):
    """One watched account: an alias, how to reach it, and its Regions."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    account: str = Field(
        description="The account's alias: names the target in metrics (account_alias), logs, "
        "findings and alerts. Letters, digits, '.', '_', '-'."
    )
    role_arn: str | None = Field(
        default=None,
        description="IAM role ARN (arn:aws:iam::123456789012:role/NAME; also aws-cn and "
        "aws-us-gov) to assume with STS, credentials refreshed before they expire. None: the "
        "SDK's own credentials.",
    )
    external_id: SecretStr | None = Field(
        default=None,
        description="AssumeRole ExternalId, 2-1224 characters; a secret, which error "
        "messages never echo. None: none sent.",
    )
    session_name: str = Field(
        default="ggwatch",
        description="AssumeRole RoleSessionName (2-64 letters, digits and +=,.@_-), as the "
        "account's CloudTrail shows it.",
    )
    duration_seconds: int = Field(
        default=3600,
        ge=900,
        le=43200,
        description="Lifetime asked of assumed credentials, seconds; the role's maximum "
        "session duration must allow it.",
    )
    regions: tuple[str, ...] = Field(
        default=(),
        description="Regions to watch; `all`: those offered and enabled in the account; "
        "empty: the top-level `regions` setting.",
    )
    endpoint_url: str | None = Field(
        default=None,
        description="Greengrass V2 endpoint for this target (a VPC interface endpoint); "
        "default: AWS_ENDPOINT_URL_GREENGRASSV2 or the public one.",
    )
    iot_endpoint_url: str | None = Field(
        default=None,
        description="AWS IoT endpoint for this target's thing-group reads (a VPC interface "
        "endpoint serves one service, so `endpoint_url` is not used for them); default: "
        "AWS_ENDPOINT_URL_IOT or the public one.",
    )

    account_id: str | None = Field(
        default=None,
        description="The 12-digit account id. Default: the role ARN's; without a role, "
        "STS GetCallerIdentity answers it before the first scan.",
    )

    @field_validator("account_id")
    @classmethod
    def _check_account_id(cls, value: str | None) -> str | None:
        return None if value is None else names.check_account_id(value)

    @model_validator(mode="after")
    def _account_from_role(self) -> TargetConfig:
        # A finding's identity includes its account, so it is fixed here, once, and never
        # derived from whichever listing happened to succeed.
        named = names.role_account(self.role_arn or "")
        if named is not None and self.account_id not in (None, named):
            raise ValueError(f"account_id {self.account_id} is not the role's account {named}")
        if named is not None and self.account_id is None:
            object.__setattr__(self, "account_id", named)  # frozen: set once, while validating
        return self

    @field_validator("account")
    @classmethod
    def _check_alias(cls, value: str) -> str:
        return names.check_alias(value)

    @field_validator("role_arn")
    @classmethod
    def _check_role(cls, value: str | None) -> str | None:
        return None if value is None else names.check_role_arn(value)

    @field_validator("regions")
    @classmethod
    def _check_regions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return names.check_regions(value)

    @field_validator("endpoint_url", "iot_endpoint_url")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s):// URL")
        return value


class OrganizationConfig(_AssumesRoles):
    """How `targets_from: organization` finds its targets in AWS Organizations."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    role_name: str = Field(
        default="OrganizationAccountAccessRole",
        description="The role ggwatch assumes in each member account, a template: "
        "{account_id} and {account_name} are replaced (path/NAME allowed). Usually the "
        "read-only role of deploy/events/ggwatch-member.yaml. The account ggwatch runs in "
        "is read with the SDK's own credentials.",
    )
    external_id: SecretStr | None = Field(
        default=None,
        description="AssumeRole ExternalId for every member role; a secret. None: none sent.",
    )
    session_name: str = Field(
        default="ggwatch", description="AssumeRole RoleSessionName in every member account."
    )
    duration_seconds: int = Field(
        default=3600, ge=900, le=43200, description="Lifetime asked of assumed credentials."
    )
    include_accounts: tuple[str, ...] = Field(
        default=(), description="Account ids to watch; empty: every account the rest admit."
    )
    exclude_accounts: tuple[str, ...] = Field(
        default=(), description="Account ids never watched (wins over every include)."
    )
    include_ous: tuple[str, ...] = Field(
        default=(),
        description="OU (ou-...) or root (r-...) ids: only accounts anywhere below one of "
        "them (nested OUs included). Empty: no OU filter.",
    )
    exclude_ous: tuple[str, ...] = Field(
        default=(), description="OU or root ids whose accounts, at any depth, are never watched."
    )
    include_tags: tuple[str, ...] = Field(
        default=(),
        description="Account tags, 'key=value' or 'key' (any value): only accounts with one "
        "of them. Costs one ListTagsForResource per account per refresh.",
    )
    exclude_tags: tuple[str, ...] = Field(
        default=(), description="Account tags ('key=value' or 'key') never watched."
    )
    refresh_seconds: float = Field(
        default=900.0,
        ge=1.0,
        le=DAY,
        description="How often `ggwatch run` asks Organizations again: accounts that join "
        "become targets and accounts that leave or are suspended stop being targets, "
        "without a restart.",
    )

    @field_validator("role_name")
    @classmethod
    def _check_role_name(cls, value: str) -> str:
        return accounts.check_role_template(value)

    @field_validator("include_accounts", "exclude_accounts")
    @classmethod
    def _check_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(names.check_account_id(v) for v in value)

    @field_validator("include_ous", "exclude_ous")
    @classmethod
    def _check_ous(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return accounts.check_parent_ids(value)

    @field_validator("include_tags", "exclude_tags")
    @classmethod
    def _check_tags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return accounts.check_tags(value)

    @property
    def filters(self) -> accounts.AccountFilter:
        return accounts.AccountFilter(
            include_accounts=frozenset(self.include_accounts),
            exclude_accounts=frozenset(self.exclude_accounts),
            include_ous=frozenset(self.include_ous),
            exclude_ous=frozenset(self.exclude_ous),
            include_tags=self.include_tags,
            exclude_tags=self.exclude_tags,
        )


# Section views: what one stage needs, read off the settings once, so a stage takes its section
# rather than the whole Settings (and a reader sees at a glance what a stage depends on).


@dataclass(frozen=True, slots=True)
class ClientSection:
    """How ggwatch calls Greengrass V2: its share of the quota, retries, timeouts."""

    quota_share: float
    service_rate: float | None
    max_in_flight: int
    max_attempts: int
    connect_timeout_seconds: float
    read_timeout_seconds: float
    scan_deadline_seconds: float | None


@dataclass(frozen=True, slots=True)
class ResolutionSection:
    """What dependency resolution reads: recipes and AWS IoT thing-group membership, how often,
    at what pace, and how far a recommended version may move."""

    resolve_dependencies: bool
    upgrade_policy: Literal["patch", "minor", "major"]
    membership_refresh_seconds: float
    nested_group_deployments: Literal["direct", "inherited"]
    iot_rate: float
    conflict_reading: Literal["deferred", "eager"]


@dataclass(frozen=True, slots=True)
class PollSection:
    """When the daemon scans, and how long what it read stays fresh."""

    interval_seconds: float
    jitter: float
    describe_refresh_seconds: float
    device_refresh_seconds: float


@dataclass(frozen=True, slots=True)
class CleanupSection:
    """The cleaner's mode, archive, guards and exclusions."""

    mode: Literal["off", "dry-run", "enforce"]
    archive_uri: str | None
    stale_after_days: float
    grace_seconds: float
    max_percent: float
    max_per_cycle: int
    rate_per_second: float
    exclude_target_arns: tuple[str, ...]
    exclude_deployment_names: tuple[str, ...]
    on_scan: bool


@dataclass(frozen=True, slots=True)
class EventsSection:
    """The SQS queues of EventBridge events and how they are read."""

    queue_urls: tuple[str, ...]
    wait_seconds: int
    coalesce_seconds: float


@dataclass(frozen=True, slots=True)
class HttpSection:
    """Where the daemon listens, what one client may hold, and the webhook."""

    host: str
    port: int
    max_connections: int
    idle_timeout_seconds: float
    send_timeout_seconds: float
    body_timeout_seconds: float
    webhook_token: SecretStr | None
    webhook_deadline_seconds: float


class Settings(BaseSettings):
    """Everything ggwatch can be told. Fields are grouped by concern; each says its unit."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="forbid", allow_inf_nan=False
    )

    # Where the file values come from; set by `load_settings`, never by the user.
    _file_values: ClassVar[Mapping[str, Any]] = {}

    # -- logging ---------------------------------------------------------------------------
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info",
        description="Lowest level written: debug, info, warning or error.",
        json_schema_extra={"section": "logging"},
    )
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto",
        description="auto: JSON lines when stderr is not a terminal (containers, CI), "
        "readable console output when it is; json or console force one.",
        json_schema_extra={"section": "logging"},
    )

    # -- AWS targets and quota --------------------------------------------------------------
    regions: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Regions to watch, comma-separated in the environment. Empty: the SDK's "
        "default Region (AWS_REGION / AWS_DEFAULT_REGION / profile). `all`: every Region "
        "where botocore's endpoint data offers Greengrass V2 that the account has enabled "
        "(account:ListRegions), per account.",
        json_schema_extra={"section": "targets"},
    )
    quota_share: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="Share of the account's 30 requests/second Greengrass V2 budget ggwatch "
        "may use; the rest stays for the deploy pipelines that share it.",
        json_schema_extra={"section": "aws"},
    )

    account_id: str | None = Field(
        default=None,
        description="The 12-digit account of the SDK's own credentials (the default target, "
        "and targets without a role). Default: asked of STS GetCallerIdentity at start.",
        json_schema_extra={"section": "targets"},
    )
    service_rate: float | None = Field(
        default=None,
        gt=0.0,
        le=1_000_000.0,
        description="The account's whole Greengrass V2 request budget, requests/second. "
        "Default: AWS's quota for the Region (30; 10 in China and GovCloud).",
        json_schema_extra={"section": "aws"},
    )
    iot_rate: float = Field(
        default=10.0,
        gt=0.0,
        le=1_000_000.0,
        description="The account's AWS IoT request budget for the thing-group reads "
        "(ListThingsInThingGroup, ListThingGroupsForThing), requests/second per Region, apart "
        "from Greengrass V2's; ggwatch takes quota_share of it. AWS publishes no figure "
        "ggwatch could confirm: 10 is a conservative guess; set your account's quota.",
        json_schema_extra={"section": "aws"},
    )
    max_in_flight: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Greengrass V2 calls in flight per account and Region. The quota, not "
        "this, sets the pace; a few in flight hide the network's latency.",
        json_schema_extra={"section": "aws"},
    )
    max_attempts: int = Field(
        default=8,
        ge=1,
        le=20,
        description="Attempts per call when throttled, on 5xx or on connection errors "
        "(honouring Retry-After), before the target is reported incomplete.",
        json_schema_extra={"section": "aws"},
    )
    # -- sharding across replicas --------------------------------------------------------------
    shard: int | None = Field(
        default=None,
        ge=0,
        le=9_999,
        description="This replica's shard, 0..total_shards-1: `ggwatch run` scans, cleans and "
        "answers webhooks only for the targets a jump hash of `<account alias>/<region>` gives "
        "it (one-shot commands such as scan and plan cover every target). Default: the "
        "ordinal of pod_name, else 0.",
        json_schema_extra={"section": "sharding"},
    )
    total_shards: int = Field(
        default=1,
        ge=1,
        le=10_000,
        description="How many replicas share the targets; every replica must be given the "
        "same number (a StatefulSet's replicas). 1: this one owns every target.",
        json_schema_extra={"section": "sharding"},
    )
    pod_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        description="The pod's name in a StatefulSet (`metadata.name` through the downward "
        "API): its ordinal (`ggwatch-2` -> 2) is the shard when `shard` is unset.",
        json_schema_extra={"section": "sharding"},
    )
    targets_from: Literal["settings", "organization"] = Field(
        default="settings",
        description="settings: watch `targets` (or the SDK's own account). organization: "
        "watch the ACTIVE accounts of the AWS Organization the SDK's credentials can list "
        "(the management account or a delegated administrator), as `organization` says, in "
        "`regions` each.",
        json_schema_extra={"section": "targets"},
    )
    organization: OrganizationConfig = Field(
        default_factory=OrganizationConfig,
        description="With targets_from: organization: {role_name, include_accounts, "
        "exclude_accounts, include_ous, exclude_ous, include_tags, exclude_tags, "
        "refresh_seconds, external_id, session_name, duration_seconds} (see the "
        "organization table).",
        json_schema_extra={"section": "targets"},
    )
    targets: tuple[TargetConfig, ...] = Field(
        default=(),
        description="Accounts to watch, each {account: alias, role_arn, account_id, "
        "external_id, session_name, duration_seconds, regions, endpoint_url, "
        "iot_endpoint_url} (see the targets "
        "table); a JSON list in GGWATCH_TARGETS. Empty: one target, alias 'default', with the "
        "SDK's own credentials and `regions`.",
        json_schema_extra={"section": "targets"},
    )
    connect_timeout_seconds: float = Field(
        default=5.0,
        gt=0.0,
        le=300.0,
        description="Seconds to wait for a connection (TCP and TLS) to an AWS endpoint, per "
        "HTTP request; a timeout counts as a connection error and is retried.",
        json_schema_extra={"section": "aws"},
    )
    read_timeout_seconds: float = Field(
        default=30.0,
        gt=0.0,
        le=900.0,
        description="Seconds to wait for an AWS endpoint's answer once connected, per HTTP "
        "request; a timeout counts as a connection error and is retried.",
        json_schema_extra={"section": "aws"},
    )
    scan_deadline_seconds: float | None = Field(
        default=None,
        gt=0.0,
        le=7 * DAY,
        description="Seconds after which a scan still running ends incomplete (what was read "
        "is kept). Default: the largest of the poll interval, two calls' full timeouts, and 4x "
        "the time the quota floor needs for the scan's calls (recomputed as the scan learns "
        "its size).",
        json_schema_extra={"section": "scan"},
    )

    # -- rules -------------------------------------------------------------------------------
    stale_after_days: float = Field(
        default=30.0,
        ge=0.0,
        le=36_500.0,
        description="Days after which a deployment that is not latest for its target (or is "
        "latest and CANCELED) is stale.",
        json_schema_extra={"section": "scan"},
    )
    rules: dict[Rule, RuleOverride] = Field(
        default_factory=dict,
        description="Per rule id: enabled (default true) and severity (override; see the rule "
        "overrides table); JSON in the environment. Empty: every rule on, at its default "
        "severity.",
        json_schema_extra={"section": "scan"},
    )
    exclusions: Exclusions = Field(
        default_factory=Exclusions,
        description="Target ARN globs, component name globs and deployment tags whose findings "
        "are left out (see the exclusions table); JSON in the environment. Empty: nothing is "
        "left out.",
        json_schema_extra={"section": "scan"},
    )

    resolve_dependencies: bool = Field(
        default=True,
        description="Read what dependency resolution needs: recipes (GetComponent) and AWS IoT "
        "thing-group membership. false: neither is called, for accounts whose IAM does not "
        "grant them yet; the rules that resolve dependencies then stay silent.",
        json_schema_extra={"section": "scan"},
    )
    upgrade_policy: Literal["patch", "minor", "major"] = Field(
        default="minor",
        description="Recommended versions stay within this distance of the version in use: "
        "patch = same minor, minor = same major, major = any.",
        json_schema_extra={"section": "scan"},
    )
    conflict_reading: Literal["deferred", "eager"] = Field(
        default="deferred",
        description="When a component that no version satisfies fails a device's resolution, "
        "which no source settles: deferred, once nothing that requires it is still to be "
        "re-picked (its requirement may yet go away); eager, at the first visit that finds none.",
        json_schema_extra={"section": "scan"},
    )
    nested_group_deployments: Literal["direct", "inherited"] = Field(
        default="direct",
        description="Whether a deployment to a thing group reaches the devices of its child "
        "groups, which no AWS document settles. direct: only the group's own members; "
        "inherited: members of nested groups too (read with ListThingsInThingGroup recursive).",
        json_schema_extra={"section": "scan"},
    )

    # -- cleanup of stale deployments ------------------------------------------------------
    cleanup_mode: Literal["off", "dry-run", "enforce"] = Field(
        default="off",
        description="off: never delete. dry-run: run every check, log and count what would be "
        "deleted, call nothing mutating. enforce: archive, then DeleteDeployment.",
        json_schema_extra={"section": "cleanup"},
    )
    archive_uri: str | None = Field(
        default=None,
        description="Where full deployment definitions are archived before deletion: "
        "file:///dir or s3://bucket/prefix. Required by enforce; none: no archive.",
        json_schema_extra={"section": "cleanup"},
    )
    cleanup_grace_seconds: float = Field(
        default=3600.0,
        ge=0.0,
        le=365 * DAY,
        description="Seconds a stale-deployment finding is open before cleanup acts, so "
        "alerts and dry-run reports reach people first.",
        json_schema_extra={"section": "cleanup"},
    )
    cleanup_max_percent: float = Field(
        default=50.0,
        gt=0.0,
        le=100.0,
        description="Percent: if the candidates exceed this share of a target's deployments, "
        "nothing is deleted there: a sign of misconfiguration, not of a fleet to purge.",
        json_schema_extra={"section": "cleanup"},
    )
    cleanup_max_per_cycle: int = Field(
        default=10,
        ge=0,
        le=10_000,
        description="Deletions per target and cycle, and per target and webhook request; the "
        "rest wait.",
        json_schema_extra={"section": "cleanup"},
    )
    cleanup_rate_per_second: float = Field(
        default=1.0,
        gt=0.0,
        le=10.0,
        description="Deletions per second, under the service's ceiling of 10 in progress.",
        json_schema_extra={"section": "cleanup"},
    )
    cleanup_exclude_target_arns: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Target ARN globs (shell syntax) whose deployments are never cleaned; "
        "comma-separated in the environment. Empty: none.",
        json_schema_extra={"section": "cleanup"},
    )
    cleanup_exclude_deployment_names: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Deployment name globs (shell syntax) never cleaned; comma-separated in "
        "the environment. Empty: none.",
        json_schema_extra={"section": "cleanup"},
    )
    cleanup_on_scan: bool = Field(
        default=True,
        description="Clean after every complete scan. false: only alerts (POST /alertmanager) "
        "trigger cleanup; the same caps apply to both.",
        json_schema_extra={"section": "cleanup"},
    )
    webhook_token: SecretStr | None = Field(
        default=None,
        description="Enables POST /alertmanager; callers send Authorization: Bearer <token>. "
        "At least 16 characters; a secret: set it in the environment, not the file "
        "(check-config shows it redacted). None: no webhook.",
        json_schema_extra={"section": "webhook"},
    )
    webhook_deadline_seconds: float = Field(
        default=25.0,
        gt=0.0,
        le=3600.0,
        description="Seconds of work one webhook request may cause; what is left at the "
        "deadline is answered as held back. Below Alertmanager's 30 s default timeout.",
        json_schema_extra={"section": "webhook"},
    )

    # -- daemon ----------------------------------------------------------------------------
    poll_interval_seconds: float = Field(
        default=300.0,
        ge=1.0,
        le=DAY,
        description="Seconds between full scans in the daemon. Vendor guidance changes "
        "rarely; five minutes keeps alerts timely at a small share of the quota.",
        json_schema_extra={"section": "daemon"},
    )
    describe_refresh_seconds: float = Field(
        default=900.0,
        ge=0.0,
        le=30 * DAY,
        description="Seconds after which the daemon re-describes a version in use (vendor "
        "guidance); a version newly in use is described at once. No event announces guidance "
        "changes.",
        json_schema_extra={"section": "daemon"},
    )
    device_refresh_seconds: float = Field(
        default=86_400.0,
        ge=0.0,
        le=30 * DAY,
        description="The daemon re-reads a device's installed components when its "
        "lastStatusUpdateTimestamp moves, and at the latest after this many seconds.",
        json_schema_extra={"section": "daemon"},
    )
    state_path: Path | None = Field(
        default=None,
        description="An SQLite file where the daemon keeps what it read that stays true across "
        "a restart (deployment details, recipes, installed components, guidance and membership "
        "with when they were read), so the first scan after a restart reads only what changed. "
        "A volume of its own (emptyDir or a PVC). Unset: every start is a full scan.",
        json_schema_extra={"section": "daemon"},
    )
    membership_refresh_seconds: float = Field(
        default=900.0,
        ge=0.0,
        le=30 * DAY,
        description="Seconds after which the daemon re-reads AWS IoT thing-group membership "
        "(an event about a device re-reads that device's groups at once). 0: every scan.",
        json_schema_extra={"section": "daemon"},
    )
    poll_jitter: float = Field(
        default=0.1,
        ge=0.0,
        le=0.5,
        description="Each wait is the interval times 1 +/- this, so that many daemons (or "
        "Regions) do not call in lockstep.",
        json_schema_extra={"section": "daemon"},
    )
    max_finding_series: int = Field(
        default=2000,
        ge=0,
        le=1_000_000,
        description="Cap on ggwatch_finding_info series (one per open finding), so a huge "
        "fleet cannot overload Prometheus; ggwatch_finding_info_dropped says how many were "
        "left out.",
        json_schema_extra={"section": "http"},
    )

    # -- event-driven refresh -----------------------------------------------------------------
    events_queue_url: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="SQS queues receiving EventBridge's Greengrass V2 and AWS Health events "
        "(comma-separated; one per Region or one shared). Empty: polling only.",
        json_schema_extra={"section": "events"},
    )
    events_wait_seconds: int = Field(
        default=20,
        ge=1,
        le=20,
        description="SQS long-poll wait per ReceiveMessage, seconds.",
        json_schema_extra={"section": "events"},
    )
    events_coalesce_seconds: float = Field(
        default=1.0,
        ge=0.0,
        le=60.0,
        description="Seconds a target's refresh waits for its events to be quiet (at most 5 "
        "times as long in all), so a burst for one device causes one refresh.",
        json_schema_extra={"section": "events"},
    )

    # -- HTTP (metrics and health) -------------------------------------------------------------
    http_host: str = Field(
        default="0.0.0.0",  # noqa: S104 - a container's port is published, not its loopback
        description="Address the status page, /metrics and the health endpoints listen on; "
        "0.0.0.0: every IPv4 interface.",
        json_schema_extra={"section": "http"},
    )
    http_port: int = Field(
        default=8419,
        ge=0,
        le=65535,
        description="Port for /metrics, health and the status page. Outside 9100-9999, the "
        "range exporters commonly take, so it does not clash with one on the same host.",
        json_schema_extra={"section": "http"},
    )
    http_max_connections: int = Field(
        default=256,
        ge=8,
        le=65_536,
        description="Open HTTP connections at most; past it the oldest idle one is closed, "
        "and a new one waits when none is idle. Keeps slow clients from exhausting memory "
        "and file descriptors.",
        json_schema_extra={"section": "http"},
    )
    http_idle_timeout_seconds: float = Field(
        default=15.0,
        gt=0.0,
        le=3600.0,
        description="Seconds: a connection that sends no complete request for this long is "
        "closed (also a client trickling its headers).",
        json_schema_extra={"section": "http"},
    )
    http_send_timeout_seconds: float = Field(
        default=30.0,
        gt=0.0,
        le=3600.0,
        description="Seconds: a response the client does not read within this long is "
        "abandoned and the connection closed.",
        json_schema_extra={"section": "http"},
    )
    http_body_timeout_seconds: float = Field(
        default=10.0,
        gt=0.0,
        le=3600.0,
        description="Seconds within which a request body (the webhook's) must arrive; else 408.",
        json_schema_extra={"section": "http"},
    )

    @property
    def rules_config(self) -> RulesConfig:
        return RulesConfig(
            stale_after_days=self.stale_after_days,
            rules=self.rules,
            exclusions=self.exclusions,
            upgrade_policy=self.upgrade_policy,
            conflict_reading=self.conflict_reading,
        )

    @property
    def resolution(self) -> ResolutionSection:
        return ResolutionSection(
            resolve_dependencies=self.resolve_dependencies,
            upgrade_policy=self.upgrade_policy,
            membership_refresh_seconds=self.membership_refresh_seconds,
            nested_group_deployments=self.nested_group_deployments,
            iot_rate=self.iot_rate,
            conflict_reading=self.conflict_reading,
        )

    @property
    def client(self) -> ClientSection:
        return ClientSection(
            quota_share=self.quota_share,
            service_rate=self.service_rate,
            max_in_flight=self.max_in_flight,
            max_attempts=self.max_attempts,
            connect_timeout_seconds=self.connect_timeout_seconds,
            read_timeout_seconds=self.read_timeout_seconds,
            scan_deadline_seconds=self.scan_deadline_seconds,
        )

    @property
    def poll(self) -> PollSection:
        return PollSection(
            interval_seconds=self.poll_interval_seconds,
            jitter=self.poll_jitter,
            describe_refresh_seconds=self.describe_refresh_seconds,
            device_refresh_seconds=self.device_refresh_seconds,
        )

    @property
    def cleanup(self) -> CleanupSection:
        return CleanupSection(
            mode=self.cleanup_mode,
            archive_uri=self.archive_uri,
            stale_after_days=self.stale_after_days,
            grace_seconds=self.cleanup_grace_seconds,
            max_percent=self.cleanup_max_percent,
            max_per_cycle=self.cleanup_max_per_cycle,
            rate_per_second=self.cleanup_rate_per_second,
            exclude_target_arns=self.cleanup_exclude_target_arns,
            exclude_deployment_names=self.cleanup_exclude_deployment_names,
            on_scan=self.cleanup_on_scan,
        )

    @property
    def events(self) -> EventsSection:
        return EventsSection(
            queue_urls=self.events_queue_url,
            wait_seconds=self.events_wait_seconds,
            coalesce_seconds=self.events_coalesce_seconds,
        )

    @property
    def http(self) -> HttpSection:
        return HttpSection(
            host=self.http_host,
            port=self.http_port,
            max_connections=self.http_max_connections,
            idle_timeout_seconds=self.http_idle_timeout_seconds,
            send_timeout_seconds=self.http_send_timeout_seconds,
            body_timeout_seconds=self.http_body_timeout_seconds,
            webhook_token=self.webhook_token,
            webhook_deadline_seconds=self.webhook_deadline_seconds,
        )

    @field_validator(
        "regions",
        "cleanup_exclude_target_arns",
        "cleanup_exclude_deployment_names",
        "events_queue_url",
        mode="before",
    )
    @classmethod
    def _split_lists(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("regions")
    @classmethod
    def _check_regions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return names.check_regions(value)

    @field_validator("events_queue_url")
    @classmethod
    def _check_queues(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return names.check_queue_urls(value)

    @field_validator("targets")
    @classmethod
    def _check_targets(cls, value: tuple[TargetConfig, ...]) -> tuple[TargetConfig, ...]:
        aliases = [t.account for t in value]
        if len(set(aliases)) != len(aliases):
            raise ValueError("an account alias is listed twice")
        return value

    @model_validator(mode="after")
    def _one_source_of_targets(self) -> Settings:
        if self.targets_from == "organization" and self.targets:
            raise ValueError(
                "targets_from: organization finds the targets itself: leave `targets` empty"
            )
        return self

    @field_validator("account_id")
    @classmethod
    def _check_account_id(cls, value: str | None) -> str | None:
        return None if value is None else names.check_account_id(value)

    @field_validator("archive_uri")
    @classmethod
    def _check_archive_uri(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("file:///", "s3://")):
            raise ValueError("must be file:///absolute/dir or s3://bucket/prefix")
        return value

    @property
    def sharding(self) -> Shard:
        """This replica's shard (checked when the settings were built)."""
        if self.shard is not None:
            return Shard(self.shard, self.total_shards)
        if self.pod_name is not None:
            return Shard(pod_ordinal(self.pod_name), self.total_shards)
        return Shard(0, self.total_shards)

    @model_validator(mode="after")
    def _check_shard(self) -> Settings:
        if self.shard is not None and self.pod_name is not None:
            ordinal = pod_ordinal(self.pod_name)
            if ordinal != self.shard:
                raise ValueError(
                    f"shard {self.shard} and pod_name {self.pod_name!r} (ordinal {ordinal}) "
                    "disagree; set one of them"
                )
        try:
            self.sharding  # noqa: B018 - a shard outside its total, a pod name without ordinal
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return self

    @model_validator(mode="after")
    def _enforce_needs_archive(self) -> Settings:
        if self.cleanup_mode == "enforce" and not self.archive_uri:
            raise ValueError(
                "cleanup_mode enforce needs an archive: set GGWATCH_ARCHIVE_URI "
                "(file:///dir or s3://bucket/prefix)"
            )
        if self.webhook_token is not None and len(self.webhook_token.get_secret_value()) < 16:
            raise ValueError("webhook_token must be at least 16 characters")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        # pydantic-settings passes every source by keyword; ggwatch reads no .env file and no
        # secrets directory, so these two are left out.
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Arguments (tests) first, then the environment, then the config file.
        return (init_settings, env_settings, _FileSource(settings_cls, cls._file_values))


class _FileSource(PydanticBaseSettingsSource):
    """Values read from the YAML config file, weakest of the sources."""

    def __init__(self, settings_cls: type[BaseSettings], values: Mapping[str, Any]) -> None:
        super().__init__(settings_cls)
        self.values = dict(values)

    def get_field_value(self, _field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.values)


class _Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's booleans: only true and false.

    YAML 1.1 also reads on/off/yes/no/y/n as booleans, so `cleanup_mode: off` would arrive as
    False; in 1.2, as in every other YAML tool people check a file with, it is the word.
    """


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def read_config_file(path: Path) -> dict[str, Any]:
    """The file's settings as a mapping; any problem is one ConfigError line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8 YAML"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = yaml.load(text, Loader=_Yaml12Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must be a mapping of setting: value")
    known = set(Settings.model_fields)
    for key in data:
        if key not in known:
            raise ConfigError(f"config file {path}: unknown setting {key!r}")
    return data


def load_settings(
    config: Path | None, environ: Mapping[str, str], overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Build the one Settings object from the environment and the optional config file;
    `overrides` (command-line flags, by field name) are stronger than both."""
    path = config
    if path is None and environ.get(CONFIG_ENV):
        path = Path(environ[CONFIG_ENV])
    file_values = read_config_file(path) if path is not None else {}
    bound = type("Settings", (Settings,), {"_file_values": file_values})
    try:
        return bound(**(overrides or {}))  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise ConfigError(describe(exc, environ, overrides or {})) from None
    except SettingsError:
        # pydantic-settings could not decode a structured variable (JSON in the environment).
        raise ConfigError(_undecodable(environ)) from None


def _undecodable(environ: Mapping[str, str]) -> str:
    """One line for the structured variable that is not JSON, naming where it fails."""
    for field, info in Settings.model_fields.items():
        name = ENV_PREFIX + field.upper()
        value = _lookup(environ, name)
        if value is None or any(m is NoDecode for m in info.metadata):
            continue
        if isinstance(info.default, str | int | float | bool) or info.default is None:
            continue  # a plain value; pydantic-settings decodes only structured ones
        if not value.strip():
            return f"invalid setting {field} [{name}]: empty; unset it or give a JSON value"
        try:
            json.loads(value)
        except json.JSONDecodeError as exc:
            return f"invalid setting {field} [{name}]: not valid JSON ({exc.msg} at char {exc.pos})"
    return "invalid settings: a GGWATCH_* variable could not be decoded as JSON"


def _lookup(environ: Mapping[str, str], name: str) -> str | None:
    # pydantic-settings matches variable names case-insensitively; so does this.
    for key, value in environ.items():
        if key.upper() == name:
            return value
    return None


def unknown_variables(environ: Mapping[str, str]) -> tuple[str, ...]:
    """Each GGWATCH_* variable that names no setting, with the closest one if any.

    The environment allows anything, so a typo (GGWATCH_CLEANUP_MOD) would otherwise leave a
    setting at its default without a word, while the file rejects unknown keys.
    """
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields} | {CONFIG_ENV}
    problems = []
    for key in sorted(environ):
        name = key.upper()
        if not name.startswith(ENV_PREFIX) or name in known:
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.8)
        hint = f" (did you mean {close[0]}?)" if close else ""
        problems.append(f"{key}{hint}")
    return tuple(problems)


def describe(
    exc: ValidationError, environ: Mapping[str, str], overrides: Mapping[str, Any] | None = None
) -> str:
    """One line naming the first bad setting as the user wrote it (env name, file key or the
    command line)."""
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    message = str(error["msg"]).removeprefix("Value error, ")
    if not loc:  # a rule across settings
        return f"invalid settings: {message}"
    field = loc[0]
    env_name = ENV_PREFIX + field.upper()
    if field in (overrides or {}):
        origin = "command line"
    else:
        origin = env_name if env_name in environ else "config file"
    value = error.get("input")
    # Never echo a credential, wherever it sits (a target's external id is one).
    secret = any(word in part for part in loc for word in ("token", "secret", "external_id"))
    shown = f" (got {value!r})" if isinstance(value, str | int | float) and not secret else ""
    return f"invalid setting {'.'.join(loc) or field} [{origin}]: {message}{shown}"
