"""The snapshot of a scan that could not start or failed outside any AWS call."""

from __future__ import annotations

import datetime as dt
from types import MappingProxyType

from ggwatch.aws.callguard import CallCounter
from ggwatch.errors import AWSError
from ggwatch.model import CallCount, TargetError, TargetId, TargetSnapshot


def failed_snapshot(
    target: TargetId,
    account: str | None,
    counter: CallCounter,
    exc: Exception,
    now: dt.datetime,
) -> TargetSnapshot:
    """An incomplete, empty snapshot for a scan that could not start (its account unknown) or
    failed outside any AWS call."""
    if isinstance(exc, AWSError):
        error = TargetError(exc.operation, exc.code, exc.message)
    else:
        text = str(exc).splitlines()[0] if str(exc) else ""
        error = TargetError("scan", type(exc).__name__, text)
    return TargetSnapshot(
        target=target,
        account=account,
        complete=False,
        errors=(error,),
        deployments=(),
        details=MappingProxyType({}),
        devices=(),
        versions=MappingProxyType({}),
        recommended=MappingProxyType({}),
        private_components=frozenset(),
        calls=tuple(CallCount(op, out, n) for (op, out), n in sorted(counter.counts.items())),
        started=now,
        finished=now,
    )
