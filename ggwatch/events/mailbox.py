"""Refresh requests for one target, coalesced until its poller takes them.

The events consumer posts what a message asks for (a device to re-read, or every guidance
read); the target's poller, the only task that scans it, takes everything posted so far in one
batch. Each post gets an `Ack`, resolved once the scan or refresh that answered it has been
evaluated: the consumer deletes a message only then, and only if that pass was complete.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import anyio

COALESCE_CAP = 5.0  # a burst that never goes quiet still gets its refresh after 5x the quiet


class Ack:
    """Resolved once the pass that answered a request has been evaluated."""

    def __init__(self) -> None:
        self._event = anyio.Event()
        self.ok = False

    def resolve(self, ok: bool) -> None:
        if not self._event.is_set():
            self.ok = ok
            self._event.set()

    async def wait(self) -> bool:
        await self._event.wait()
        return self.ok


@dataclass(frozen=True, slots=True)
class Batch:
    things: frozenset[str] = frozenset()
    deployments: frozenset[str] = frozenset()  # deployment ids events named
    guidance: bool = False
    acks: tuple[Ack, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.acks)

    def resolve(self, ok: bool) -> None:
        for ack in self.acks:
            ack.resolve(ok)


@dataclass
class Mailbox:
    things: set[str] = field(default_factory=set)
    deployments: set[str] = field(default_factory=set)
    guidance: bool = False
    acks: list[Ack] = field(default_factory=list)
    first_post: float | None = None
    last_post: float = 0.0
    _posted: anyio.Event = field(default_factory=anyio.Event)

    def post(
        self, things: Iterable[str] = (), *, deployments: Iterable[str] = (), guidance: bool = False
    ) -> Ack:
        ack = Ack()
        self.things.update(things)
        self.deployments.update(deployments)
        self.guidance |= guidance
        self.acks.append(ack)
        now = anyio.current_time()
        self.first_post = now if self.first_post is None else self.first_post
        self.last_post = now
        self._posted.set()
        return ack

    async def wait(self) -> None:
        """Until something is posted (returns at once if something is waiting)."""
        await self._posted.wait()

    async def settle(self, quiet: float) -> None:
        """Until posts have stopped for `quiet` seconds, or COALESCE_CAP x quiet since the first."""
        if self.first_post is None:
            return
        cap = self.first_post + quiet * COALESCE_CAP
        while True:
            now = anyio.current_time()
            until = min(self.last_post + quiet, cap)
            if now >= until:
                return
            await anyio.sleep(until - now)

    def put_back(self, batch: Batch) -> None:
        """Requests a refresh could not answer, for the full scan that comes next."""
        self.things.update(batch.things)
        self.deployments.update(batch.deployments)
        self.guidance |= batch.guidance
        self.acks.extend(batch.acks)

    def take(self) -> Batch:
        batch = Batch(
            frozenset(self.things), frozenset(self.deployments), self.guidance, tuple(self.acks)
        )
        self.things, self.deployments, self.guidance, self.acks = set(), set(), False, []
        self.first_post = None
        self._posted = anyio.Event()
        return batch
