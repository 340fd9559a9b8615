"""POST /alertmanager: an Alertmanager webhook (version 4) that triggers the cleanup procedure.

A firing alert whose labels name `rule="stale-deployment"`, the Region (`aws_region`, or
`region`), the target's account alias (`account_alias`; "default" when absent, the target of the
SDK's own credentials) and the deployment (`resource_id`) runs the same re-check, archive and
delete as the daemon's own cycle, at once: the alert (perhaps silenced, then let through) is the
human's go, so the grace period does not apply. Everything else is answered and ignored.

Guards, in order: a bearer token (constant-time comparison; 401 and nothing done without it), a
body of at most 1 MiB (413), a well-formed payload (400 with a one-line reason), label values
that look like a Region and a deployment id (checked before any AWS call). Alertmanager delivers
at least once and an HA pair sends duplicates by design: a notification seen before (same
fingerprint and startsAt) gets its earlier answer and costs no AWS call.
"""

from __future__ import annotations

import hmac
import json
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
from aiohttp import web

from ggwatch.findings import Rule
from ggwatch.model import DEFAULT_ALIAS, TargetId

MAX_BODY = 1024 * 1024
DEDUP_MEMORY = 4096  # notifications remembered
REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")
ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DEPLOYMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,127}$")


class PayloadError(ValueError):
    """The body is not an Alertmanager v4 payload; the message is the one-line reason."""


class Outcome(Protocol):
    def to_json(self) -> dict[str, str]: ...


class Remediator(Protocol):
    async def remediate(self, where: TargetId, deployment_id: str, reason: str) -> Outcome: ...


@dataclass(frozen=True, slots=True)
class Alert:
    status: str
    labels: dict[str, str]
    fingerprint: str
    starts_at: str

    @property
    def identity(self) -> tuple[str, str]:
        return (self.fingerprint, self.starts_at)


def parse(body: bytes) -> list[Alert]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"body is not JSON: {exc}") from None
    except RecursionError:
        raise PayloadError("body is not JSON this service reads: nested too deep") from None
    if not isinstance(data, dict):
        raise PayloadError("body must be a JSON object")
    if str(data.get("version")) != "4":
        raise PayloadError("only Alertmanager webhook payloads of version 4 are accepted")
    alerts = data.get("alerts")
    if not isinstance(alerts, list):
        raise PayloadError("alerts must be a list")
    parsed = []
    for index, item in enumerate(alerts):
        if not isinstance(item, dict) or not isinstance(item.get("labels"), dict):
            raise PayloadError(f"alerts[{index}] must be an object with labels")
        labels = item["labels"]
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
            raise PayloadError(f"alerts[{index}].labels must map strings to strings")
        status = item.get("status")
        if status not in ("firing", "resolved"):
            raise PayloadError(f"alerts[{index}].status must be firing or resolved")
        fingerprint, starts_at = item.get("fingerprint", ""), item.get("startsAt", "")
        if not isinstance(fingerprint, str) or not isinstance(starts_at, str):
            raise PayloadError(f"alerts[{index}].fingerprint and startsAt must be strings")
        parsed.append(Alert(status, dict(labels), fingerprint, starts_at))
    return parsed


def _ignored(alert: Alert, why: str) -> dict[str, str]:
    return {"fingerprint": alert.fingerprint, "action": "ignored", "outcome": why}


class AlertmanagerWebhook:
    def __init__(self, token: str, remediator: Remediator | None) -> None:
        self._token = f"Bearer {token}".encode()
        self._remediator = remediator
        self._seen: OrderedDict[tuple[str, str], dict[str, str]] = OrderedDict()
        # A repeat may arrive while the first delivery still runs (an HA peer, a retry).
        self._lock = anyio.Lock()

    def _authorized(self, request: web.Request) -> bool:
        try:
            given = request.headers.get("Authorization", "").encode()
        except UnicodeEncodeError:  # bytes that were not UTF-8: no token of ours
            return False
        return hmac.compare_digest(given, self._token)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return web.json_response({"error": "missing or wrong bearer token"}, status=401)
        if (request.content_length or 0) > MAX_BODY:
            return web.json_response({"error": "body larger than 1 MiB"}, status=413)
        parts: list[bytes] = []
        size = 0
        while size <= MAX_BODY:  # read() returns what has arrived, perhaps only a part
            part = await request.content.read(MAX_BODY + 1 - size)
            if not part:
                break
            parts.append(part)
            size += len(part)
        if size > MAX_BODY:
            return web.json_response({"error": "body larger than 1 MiB"}, status=413)
        try:
            alerts = parse(b"".join(parts))
        except PayloadError as exc:
            return web.json_response({"error": str(exc).splitlines()[0]}, status=400)
        results = [await self._one(alert) for alert in alerts]
        return web.json_response({"results": results})

    async def _one(self, alert: Alert) -> dict[str, Any]:
        if alert.status != "firing":
            return _ignored(alert, "resolved alerts are ignored")
        labels = alert.labels
        if labels.get("rule") != Rule.STALE_DEPLOYMENT.value:
            return _ignored(alert, "not a stale-deployment alert")
        region = labels.get("aws_region") or labels.get("region") or ""
        deployment_id = labels.get("resource_id", "")
        alias = labels.get("account_alias") or DEFAULT_ALIAS
        if not REGION.fullmatch(region):
            return _ignored(alert, "label aws_region is missing or not a Region name")
        if not ALIAS.fullmatch(alias):
            return _ignored(alert, "label account_alias is not an account alias")
        if not DEPLOYMENT_ID.fullmatch(deployment_id):
            return _ignored(alert, "label resource_id is missing or not a deployment id")
        if self._remediator is None:
            return _ignored(alert, "cleanup is off (GGWATCH_CLEANUP_MODE)")
        async with self._lock:
            if alert.fingerprint and alert.identity in self._seen:
                return {**self._seen[alert.identity], "duplicate": "true"}
            name = labels.get("alertname", "?")
            why = f"Alertmanager alert {name} ({alert.fingerprint or 'no fingerprint'})"
            where = TargetId(alias, region)
            outcome = (await self._remediator.remediate(where, deployment_id, why)).to_json()
            result = {"fingerprint": alert.fingerprint, **outcome}
            if alert.fingerprint:
                self._seen[alert.identity] = result
                while len(self._seen) > DEDUP_MEMORY:
                    self._seen.popitem(last=False)
            return result
