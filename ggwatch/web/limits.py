"""What one HTTP client may hold of the daemon: connections, descriptors, time and memory.

The port answers without authentication (Prometheus, the kubelet's probes, people, Alertmanager),
so without limits any client can take the daemon past its memory limit or its descriptors, and
then /healthz stops answering and the pod is killed for it. The limits (`HttpLimits`):

- **Connections** (`max_connections`, 256). A connection that arrives at the cap makes room by
  closing the connection that has gone longest without delivering a complete request: idle
  between requests, or still trickling its headers in. Those cost the daemon nothing to drop and
  are the shape slow-client attacks take, so a probe is still answered while slow clients hold
  every other connection. Only when every connection is in a request is the newcomer closed.
- **Descriptors.** At start the soft RLIMIT_NOFILE is raised to the hard limit (Go's runtime
  does the same) and the cap lowered to what it leaves: `FD_RESERVE` for the AWS connection
  pools, files and the loop itself, and room for the connections asyncio accepts in one go
  before the guard sees any of them. Clients then cannot make the listener, or anything else in
  the process, run out of descriptors.
- **Idle and headers** (`idle_timeout_seconds`, 15). aiohttp's keep-alive timer, armed when a
  connection opens and again after each response, closes a connection that has not delivered a
  complete request by then. Bytes arriving do not restart it, so headers trickled in a byte at a
  time get the same 15 s as silence.
- **Body** (`body_timeout_seconds`, 10). A request's body must have arrived this long after its
  headers; a late one is answered 408 and the connection closed. A body the handler does not
  read is discarded for at most as long (aiohttp's lingering time).
- **Sending** (`send_timeout_seconds`, 30). A response must be taken by the client within this
  time, and no socket may stop draining for longer; else the response is abandoned and the
  connection aborted, dropping what was queued for it. A shutdown drops the connections stuck
  so at once rather than wait out its grace period for them.
- **Memory.** Big documents are rendered once and written from those shared bytes in `CHUNK`
  pieces, each after the socket has drained below asyncio's high-water mark (64 KiB), so a
  client that does not read holds about that much rather than a copy of the whole body (Python
  3.11's transport copies every byte it cannot send at once).
- **The log.** When accept() fails for lack of descriptors, asyncio logs every failure and
  retries a backlog's worth each loop iteration: thousands of lines a second. Such failures, and
  the connections shed above, are counted and reported once per `REPORT_SECONDS`.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass, fields

# The listen backlog (aiohttp's default), which is also how many connections asyncio accepts
# in one loop iteration before any protocol sees them.
BACKLOG = 128
# Descriptors left to the rest of the daemon: AWS connection pools (2 x max_in_flight per
# target), the archive's files, the loop's own, stdio.
FD_RESERVE = 64
# A refused or evicted connection is closed a loop iteration after it was accepted, so about
# two backlogs' worth of accepted sockets can be open above the cap during a flood.
ACCEPT_OVERSHOOT = 2 * BACKLOG


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """What one HTTP client may hold; each default is explained in the module docstring."""

    max_connections: int = 256
    idle_timeout_seconds: float = 15.0
    send_timeout_seconds: float = 30.0
    body_timeout_seconds: float = 10.0

    def __post_init__(self) -> None:
        for field in fields(self):
            if not getattr(self, field.name) > 0:
                raise ValueError(f"{field.name} must be positive, not {getattr(self, field.name)}")


DEFAULT_LIMITS = HttpLimits()


def raise_descriptor_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard one where allowed; the soft limit after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1 << 20
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):  # a sandbox may forbid it: keep to what was given
            return soft
        return hard
    return soft


def connection_cap(max_connections: int, descriptors: int) -> int:
    """The connections allowed at once under a descriptor limit, at least one."""
    return max(1, min(max_connections, descriptors - FD_RESERVE - ACCEPT_OVERSHOOT))
