"""Which replica owns which target: jump consistent hashing, as kube-state-metrics shards.

A target's key is its account alias and Region, `"<alias>/<region>"` (TargetId's own form),
encoded as UTF-8 and hashed with SHA-256; the first 8 bytes, big-endian, are the 64-bit key
that jump hash (Lamping and Veach, 2014; the `jump-consistent-hash` package) maps to one of
`total` buckets. The key depends on nothing a replica learns at run time (not the account id
STS answers, not the order of the configuration), so every replica computes the same owner
for every target, before any call, and a restart keeps the partition. Growing from `total` to
`total + 1` shards moves only about 1/(total + 1) of the targets, all of them to the new shard.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import jump

from ggwatch.errors import ConfigError
from ggwatch.model import TargetId

# A StatefulSet names its pods `<name>-<ordinal>`.
_ORDINAL = re.compile(r"-(0|[1-9][0-9]*)$")


def target_key(target: TargetId) -> int:
    digest = hashlib.sha256(str(target).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def owner(target: TargetId, total: int) -> int:
    """The shard, 0..total-1, that owns `target`."""
    return int(jump.hash(target_key(target), total))


def pod_ordinal(pod_name: str) -> int:
    """The ordinal of a StatefulSet pod from its name (`ggwatch-2` -> 2)."""
    found = _ORDINAL.search(pod_name)
    if found is None:
        raise ConfigError(
            f"pod name {pod_name!r} does not end in a StatefulSet ordinal (-0, -1, ...); "
            "set GGWATCH_SHARD instead"
        )
    return int(found.group(1))


@dataclass(frozen=True, slots=True)
class Shard:
    """This replica's place: shard `index` of `total`. Shard(0, 1) owns everything."""

    index: int = 0
    total: int = 1

    def __post_init__(self) -> None:
        if self.total < 1 or not 0 <= self.index < self.total:
            raise ConfigError(
                f"shard {self.index} of {self.total}: the shard must be 0..total_shards-1"
            )

    @property
    def sharded(self) -> bool:
        return self.total > 1

    def owns(self, target: TargetId) -> bool:
        return self.total == 1 or owner(target, self.total) == self.index

    def owner_of(self, target: TargetId) -> int:
        return owner(target, self.total)
