"""Sinks: where findings and the daemon's view go out.

Two kinds, both fed by the evaluator and neither calling AWS:
- finding sinks receive each finding event once, in order, over their own bounded stream
  (`FindingSink`; the finding log in `finding_log`). `ggwatch.daemon.run` builds the tuple of
  them; adding one is a module here and a line there.
- readers of `ggwatch.state.StateHolder.view`, taken whole: the Prometheus collector in
  `metrics` (and, in ggwatch.web, the status page and health endpoints).

The other ways out have their own stages: cleanup in ggwatch.cleanup, archives in
ggwatch.archive.
"""

from __future__ import annotations

from typing import Protocol

from anyio.abc import ObjectReceiveStream

from ggwatch.tracker import FindingEvent


class FindingSink(Protocol):
    """Consumes finding events until the stream closes; must not raise for one bad event."""

    name: str

    async def run(self, events: ObjectReceiveStream[FindingEvent]) -> None: ...
