"""Target ownership across replicas (ggwatch.shards): exact partition, stability, balance."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from ggwatch.errors import ConfigError
from ggwatch.model import TargetId
from ggwatch.shards import Shard, owner, pod_ordinal

REGIONS = ("us-east-1", "us-west-2", "eu-central-1", "eu-west-1", "ap-northeast-1")
TARGETS = tuple(TargetId(f"account-{i:03d}", r) for i in range(200) for r in REGIONS)


@pytest.mark.parametrize("total", [1, 2, 3, 4, 7, 16])
def test_every_target_has_exactly_one_owner(total: int) -> None:
    shards = [Shard(i, total) for i in range(total)]
    for target in TARGETS:
        assert sum(s.owns(target) for s in shards) == 1
        assert shards[owner(target, total)].owns(target)


def test_the_owners_are_balanced() -> None:
    counts = Counter(owner(t, 4) for t in TARGETS)
    assert set(counts) == {0, 1, 2, 3}
    expected = len(TARGETS) / 4
    assert all(abs(n - expected) < 0.1 * expected for n in counts.values()), counts


def test_one_more_shard_moves_only_targets_to_it() -> None:
    for total in range(1, 9):
        moved = [t for t in TARGETS if owner(t, total) != owner(t, total + 1)]
        assert {owner(t, total + 1) for t in moved} <= {total}
        # About 1/(total + 1) of them move; far fewer than a modulo hash would move.
        assert len(moved) < 1.3 * len(TARGETS) / (total + 1)


def test_the_key_is_the_documented_one() -> None:
    # Pinned: a different key would move every target on upgrade, two replicas of different
    # versions would disagree, and the docs would be wrong.
    assert [owner(TargetId("default", "us-west-2"), n) for n in (2, 3, 4, 8)] == [1, 2, 3, 3]
    assert [owner(TargetId("prod", "eu-central-1"), n) for n in (2, 3, 4, 8)] == [1, 2, 2, 2]


def test_one_shard_owns_everything() -> None:
    assert all(Shard().owns(t) for t in TARGETS)
    assert not Shard().sharded
    assert Shard(0, 2).sharded


@pytest.mark.parametrize(("index", "total"), [(4, 4), (-1, 2), (0, 0)])
def test_a_shard_outside_its_total_is_a_config_error(index: int, total: int) -> None:
    with pytest.raises(ConfigError, match=re.escape("the shard must be 0..total_shards-1")):
        Shard(index, total)


@pytest.mark.parametrize(
    ("name", "ordinal"), [("ggwatch-0", 0), ("ggwatch-2", 2), ("ggwatch-eu-west-13", 13)]
)
def test_a_statefulset_pod_name_gives_its_ordinal(name: str, ordinal: int) -> None:
    assert pod_ordinal(name) == ordinal


@pytest.mark.parametrize("name", ["ggwatch", "ggwatch-", "ggwatch-01", "ggwatch-7f9c4-xk2lp"])
def test_a_pod_name_without_an_ordinal_is_a_config_error(name: str) -> None:
    with pytest.raises(ConfigError, match="does not end in a StatefulSet ordinal"):
        pod_ordinal(name)
