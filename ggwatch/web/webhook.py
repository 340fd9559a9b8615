"""POST /alertmanager: an Alertmanager webhook (version 4) that triggers the cleanup procedure.

A firing alert whose labels name `rule="stale-deployment"`, the Region (`aws_region`, or
`region`), the target's account alias (`account_alias`; "default" when absent, the target of the
SDK's own credentials) and the deployment (`resource_id`) asks for that deployment's cleanup now.
The cleaner decides exactly as for its own cycle (ggwatch.cleanup): over the target's latest
complete scan, with the grace period, exclusions, the blast-radius cap over all of the target's
candidates and what is left of the per-cycle cap; then the same re-check, archive and delete.
What it holds back (grace, blast radius, the cap, the request's deadline) is answered
`held_back` with the reason, so Alertmanager's next repeat may get it done; an id that is no
deployment is `not_found`. One request does at most the cap's worth of AWS work, within
`deadline_seconds`. Everything else is answered and ignored.

A replica that shares the targets with others (ggwatch.shards) acts only for the targets it
owns: an alert for another shard's target is answered `ignored` with outcome `not_owner` and
the owner's shard, and nothing is done (route alerts by their `shard` label to the owner).

Guards, in order: a bearer token (constant-time comparison; 401 and nothing done without it), a
body of at most 1 MiB (413) that arrives within `body_timeout_seconds` (408), a well-formed
payload (400 with a one-line reason), label values that look like a Region and a deployment id
(checked before any AWS call). Alertmanager delivers at least once and an HA pair sends
duplicates by design: a notification seen before (same fingerprint and startsAt) gets its
earlier answer and costs no AWS call, unless that answer was held back.
"""

from __future__ import annotations

import hmac
import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
from aiohttp import web

from ggwatch.findings import Rule
from ggwatch.model import DEFAULT_ALIAS, TargetId
from ggwatch.names import is_alias, is_deployment_id, is_region
from ggwatch.shards import Shard

MAX_BODY = 1024 * 1024
DEDUP_MEMORY = 4096  # notifications remembered


class PayloadError(ValueError):
    """The body is not an Alertmanager v4 payload; the message is the one-line reason."""


class Outcome(Protocol):
    @property
    def action(self) -> str: ...

    def to_json(self) -> dict[str, str]: ...


class Remediator(Protocol):
    async def request(
        self, where: TargetId, deployment_ids: Sequence[str], reason: str, deadline: float
    ) -> Mapping[str, Outcome]:
        """An outcome for every id (the cleaner's decision), within `deadline` seconds."""
        ...


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


def _reason(asks: Sequence[_Ask]) -> str:
    """What the archive and logs record as the reason: the alerts, by name and fingerprint."""
    names = ", ".join(sorted({a.alert.labels.get("alertname", "?") for a in asks}))
    prints = [a.alert.fingerprint or "no fingerprint" for a in asks[:5]]
    more = f" and {len(asks) - 5} more" if len(asks) > 5 else ""
    return f"Alertmanager alert {names} ({', '.join(prints)}{more})"


def _ignored(alert: Alert, why: str) -> dict[str, str]:
    return {"fingerprint": alert.fingerprint, "action": "ignored", "outcome": why}


@dataclass(frozen=True, slots=True)
class _Ask:
    """A firing stale-deployment alert that names a target and a deployment."""

    alert: Alert
    where: TargetId
    deployment_id: str


class AlertmanagerWebhook:
    def __init__(
        self,
        token: str,
        remediator: Remediator | None,
        *,
        deadline_seconds: float = 25.0,
        body_timeout_seconds: float = 10.0,
        shard: Shard | None = None,
    ) -> None:
        self._shard = shard or Shard()
        self._token = f"Bearer {token}".encode()
        self._remediator = remediator
        self._deadline = deadline_seconds
        self._body_timeout = body_timeout_seconds
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
        started = anyio.current_time()
        if not self._authorized(request):
            return web.json_response({"error": "missing or wrong bearer token"}, status=401)
        if (request.content_length or 0) > MAX_BODY:
            return web.json_response({"error": "body larger than 1 MiB"}, status=413)
        body = None
        with anyio.move_on_after(self._body_timeout):
            body = await self._body(request)
        if body is None:
            why = f"body not received within {self._body_timeout:g} s"
            return web.json_response({"error": why}, status=408)
        if len(body) > MAX_BODY:
            return web.json_response({"error": "body larger than 1 MiB"}, status=413)
        try:
            alerts = parse(body)
        except PayloadError as exc:
            return web.json_response({"error": str(exc).splitlines()[0]}, status=400)
        answers: list[dict[str, Any] | _Ask] = [self._read(alert) for alert in alerts]
        asks = [a for a in answers if isinstance(a, _Ask)]
        if asks:
            left = self._deadline - (anyio.current_time() - started)
            done = await self._ask(asks, left)
            answers = [done[id(a)] if isinstance(a, _Ask) else a for a in answers]
        return web.json_response({"results": answers})

    @staticmethod
    async def _body(request: web.Request) -> bytes:
        parts: list[bytes] = []
        size = 0
        while size <= MAX_BODY:  # read() returns what has arrived, perhaps only a part
            part = await request.content.read(MAX_BODY + 1 - size)
            if not part:
                break
            parts.append(part)
            size += len(part)
        return b"".join(parts)

    def _read(self, alert: Alert) -> dict[str, Any] | _Ask:
        """An alert's answer when it needs no cleanup decision; else what it asks."""
        if alert.status != "firing":
            return _ignored(alert, "resolved alerts are ignored")
        labels = alert.labels
        if labels.get("rule") != Rule.STALE_DEPLOYMENT.value:
            return _ignored(alert, "not a stale-deployment alert")
        region = labels.get("aws_region") or labels.get("region") or ""
        deployment_id = labels.get("resource_id", "")
        alias = labels.get("account_alias") or DEFAULT_ALIAS
        if not is_region(region):
            return _ignored(alert, "label aws_region is missing or not a Region name")
        if not is_alias(alias):
            return _ignored(alert, "label account_alias is not an account alias")
        if not is_deployment_id(deployment_id):
            return _ignored(alert, "label resource_id is missing or not a deployment id")
        where = TargetId(alias, region)
        if not self._shard.owns(where):
            return {
                "fingerprint": alert.fingerprint,
                "action": "ignored",
                "outcome": "not_owner",
                "reason": f"target {where} belongs to shard {self._shard.owner_of(where)} of "
                f"{self._shard.total}; this replica is shard {self._shard.index}",
                "owner_shard": str(self._shard.owner_of(where)),
            }
        if self._remediator is None:
            return _ignored(alert, "cleanup is off (GGWATCH_CLEANUP_MODE)")
        return _Ask(alert, where, deployment_id)

    async def _ask(self, asks: Sequence[_Ask], deadline: float) -> dict[int, dict[str, Any]]:
        """The cleaner's answers, one request per target, keyed by id() of each ask."""
        assert self._remediator is not None
        started = anyio.current_time()
        done: dict[int, dict[str, Any]] = {}
        async with self._lock:
            fresh: dict[TargetId, list[_Ask]] = {}
            repeats: dict[int, _Ask] = {}  # a notification twice in one payload: the first's
            first: dict[tuple[str, str], _Ask] = {}
            for ask in asks:
                identity = ask.alert.identity
                seen = self._seen.get(identity) if ask.alert.fingerprint else None
                if seen is not None:
                    done[id(ask)] = {**seen, "duplicate": "true"}
                elif ask.alert.fingerprint and identity in first:
                    repeats[id(ask)] = first[identity]
                else:
                    first.setdefault(identity, ask)
                    fresh.setdefault(ask.where, []).append(ask)
            for where, group in fresh.items():
                left = deadline - (anyio.current_time() - started)
                ids = [a.deployment_id for a in group]
                outcomes = await self._remediator.request(where, ids, _reason(group), left)
                for ask in group:
                    outcome = outcomes[ask.deployment_id]
                    result = {"fingerprint": ask.alert.fingerprint, **outcome.to_json()}
                    done[id(ask)] = result
                    self._remember(ask.alert, outcome.action, result)
            for key, original in repeats.items():
                done[key] = {**done[id(original)], "duplicate": "true"}
        return done

    def _remember(self, alert: Alert, action: str, result: dict[str, str]) -> None:
        # Held back may pass later: a repeat of that alert must be decided again.
        if not alert.fingerprint or action == "held_back":
            return
        self._seen[alert.identity] = result
        while len(self._seen) > DEDUP_MEMORY:
            self._seen.popitem(last=False)
