"""Thing-group membership: which way to read it, what a reading holds, the cache, a refresh,
and the AWS IoT answers parsed (a hand-written IotAPI and client, no AWS)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ggwatch import errors
from ggwatch.aws import shapes
from ggwatch.aws.callguard import CallCounter
from ggwatch.aws.iot import AioIot
from ggwatch.aws.quota import TokenBucket
from ggwatch.aws.shapes import parsed
from ggwatch.inventory.cache import MembershipRead, NestedReach, RegionCache
from ggwatch.inventory.calls import Collector
from ggwatch.inventory.membership import (
    Plan,
    full_plan,
    group_name,
    plan,
    read_membership,
    refresh_membership,
    targeted_groups,
)
from ggwatch.model import CoreDevice, Deployment

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
GROUP = "arn:aws:iot:us-west-2:123456789012:thinggroup/"
THING = "arn:aws:iot:us-west-2:123456789012:thing/"


def deployment(target: str, n: int = 0) -> Deployment:
    return Deployment(f"d-{n}", None, target, "1", "ACTIVE", is_latest=True, created=NOW)


def device(name: str) -> CoreDevice:
    return CoreDevice(name, "HEALTHY", NOW)


class FakeIot:
    """IotAPI over a dict of direct members and parents; records every call it answers."""

    region = "us-west-2"

    def __init__(
        self,
        members: Mapping[str, set[str]],
        parents: Mapping[str, str] | None = None,
        denied: bool = False,
    ) -> None:
        self.members = members
        self.parents = dict(parents or {})
        self.denied = denied
        self.calls: list[tuple[str, str]] = []
        self.expected = 0

    @property
    def budget(self) -> float:
        return 10.0

    def expect_calls(self, calls: int) -> None:
        self.expected += calls

    def _check(self, operation: str, name: str) -> None:
        self.calls.append((operation, name))
        if self.denied:
            raise errors.AccessDenied(operation, "AccessDeniedException", "not authorized")

    async def things_in_group(self, name: str, recursive: bool) -> tuple[str, ...]:
        self._check("ListThingsInThingGroup", name)
        return tuple(sorted(self._things(name, recursive)))

    def _things(self, name: str, recursive: bool) -> set[str]:
        found = set(self.members.get(name, ()))
        if recursive:  # AWS answers the nested groups' things in the same call
            for child, parent in self.parents.items():
                if parent == name:
                    found |= self._things(child, recursive=True)
        return found

    async def groups_of_thing(self, name: str) -> tuple[str, ...]:
        self._check("ListThingGroupsForThing", name)
        return tuple(sorted(g for g, things in self.members.items() if name in things))


# -- the ARN and the groups that matter ---------------------------------------------------------


@pytest.mark.parametrize(
    ("arn", "name"),
    [
        (GROUP + "line-01", "line-01"),
        ("arn:aws-cn:iot:cn-north-1:123456789012:thinggroup/a:b", "a:b"),
        (THING + "gg-1", None),
        (GROUP, None),
        ("thinggroup/line-01", None),
        ("arn:aws:greengrass:us-west-2:123456789012:thinggroup/x", None),
    ],
)
def test_group_name_of_a_target_arn(arn: str, name: str | None) -> None:
    assert group_name(arn) == name


def test_only_targeted_groups_matter() -> None:
    deployments = [
        deployment(GROUP + "a", 1),
        deployment(THING + "gg-1", 2),
        deployment(GROUP + "a", 3),
    ]
    assert targeted_groups(deployments) == {"a"}


# -- which way costs fewer calls -----------------------------------------------------------------


def test_fewer_groups_than_devices_are_listed_group_by_group() -> None:
    things = frozenset(f"gg-{i}" for i in range(100))
    chosen = full_plan(frozenset({"a", "b"}), things, {}, "direct")
    assert chosen == Plan(groups=("a", "b"), calls=2)


def test_large_groups_are_estimated_by_their_pages_and_then_devices_are_cheaper() -> None:
    things = frozenset(f"gg-{i}" for i in range(10))
    groups = frozenset({"a", "b", "c"})
    assert full_plan(groups, things, {}, "direct").calls == 3  # no estimate: a page each
    sizes = {"a": 1000, "b": 251, "c": 0}  # 4 + 2 + 1 pages of 250
    assert full_plan(groups, things, sizes, "direct").calls == 7
    sizes["a"] = 2500  # 10 pages: more than asking each of the ten devices once
    chosen = full_plan(groups, things, sizes, "direct")
    assert chosen == Plan(things=tuple(sorted(things)), calls=10)


def test_inherited_reach_is_read_by_the_group_listing_only() -> None:
    things = frozenset({"gg-1"})
    chosen = full_plan(frozenset({"a", "b", "c"}), things, {}, "inherited")
    assert chosen == Plan(groups=("a", "b", "c"), calls=3)


def test_nothing_to_read_without_groups_or_devices() -> None:
    assert full_plan(frozenset(), frozenset({"gg-1"}), {}, "direct") == Plan()
    assert full_plan(frozenset({"a"}), frozenset(), {}, "inherited") == Plan()


def reading(
    groups: set[str], things: set[str], nested: NestedReach = "direct", **by_thing: set[str]
) -> MembershipRead:
    return MembershipRead(
        nested,
        frozenset(groups),
        frozenset(things),
        {t: frozenset(g) for t, g in by_thing.items()},
        dict.fromkeys(groups, 1),
        NOW,
    )


def test_a_fresh_reading_is_topped_up_with_what_is_new() -> None:
    seen = reading({"a", "b"}, {"gg-1", "gg-2"})
    groups, things = frozenset({"a", "b", "c"}), frozenset({"gg-1", "gg-2", "gg-3"})
    assert plan(groups, things, seen, seen.members, "direct") == Plan(
        groups=("c",), things=("gg-3",), calls=2, top_up=True
    )
    unchanged = plan(frozenset({"a"}), frozenset({"gg-1"}), seen, seen.members, "direct")
    assert unchanged == Plan(top_up=True)  # no call at all


def test_many_new_devices_are_cheaper_read_again_by_group() -> None:
    seen = reading({"a", "b"}, {"gg-1"})
    things = frozenset({"gg-1", *(f"new-{i}" for i in range(5))})
    chosen = plan(frozenset({"a", "b"}), things, seen, seen.members, "direct")
    assert chosen == Plan(groups=("a", "b"), calls=2)


def test_inherited_reach_reads_everything_again_for_a_new_device() -> None:
    seen = reading({"a"}, {"gg-1"}, "inherited")
    chosen = plan(frozenset({"a"}), frozenset({"gg-1", "gg-2"}), seen, {}, "inherited")
    assert chosen == Plan(groups=("a",), calls=1)
    new_group = plan(frozenset({"a", "b"}), frozenset({"gg-1"}), seen, {}, "inherited")
    assert new_group == Plan(groups=("b",), calls=1, top_up=True)


# -- a reading -----------------------------------------------------------------------------------

MEMBERS = {
    "line-01": {"gg-1", "gg-2", "not-a-core-device"},
    "line-02": {"gg-2"},
    "untargeted": {"gg-1", "gg-3"},
    "site": set(),
}
DEPLOYMENTS = [deployment(GROUP + g, i) for i, g in enumerate(("line-01", "line-02", "site"))]
DEVICES = [device(t) for t in ("gg-1", "gg-2", "gg-3", "gg-4")]


async def read(
    iot: FakeIot,
    cache: RegionCache,
    devices: list[CoreDevice] = DEVICES,
    nested: NestedReach = "direct",
    when: dt.datetime = NOW,
) -> tuple[Any, Collector]:
    c = Collector(4)
    found = await read_membership(iot, c, cache, DEPLOYMENTS, devices, nested=nested, started=when)
    return found, c


async def test_a_reading_names_each_device_s_targeted_groups_sorted() -> None:
    iot, cache = FakeIot(MEMBERS), RegionCache()
    found, c = await read(iot, cache)
    assert not c.errors
    # gg-3 is only in a group no deployment targets, gg-4 in none: both absent.
    assert dict(found.membership) == {"gg-1": ("line-01",), "gg-2": ("line-01", "line-02")}
    assert sorted(iot.calls) == [
        ("ListThingsInThingGroup", "line-01"),
        ("ListThingsInThingGroup", "line-02"),
        ("ListThingsInThingGroup", "site"),
    ]
    assert found.calls == 3 == iot.expected
    assert cache.membership is not None
    assert cache.membership.members == {"line-01": 3, "line-02": 1, "site": 0}


async def test_a_fresh_cache_costs_nothing_and_a_stale_one_is_read_again() -> None:
    iot, cache = FakeIot(MEMBERS), RegionCache(membership_refresh=900.0)
    first, _ = await read(iot, cache)
    iot.calls.clear()
    again, _ = await read(iot, cache, when=NOW + dt.timedelta(seconds=899))
    assert iot.calls == []
    assert again.membership == first.membership
    assert again.calls == first.calls  # what a full scan needs, cache or not
    await read(iot, cache, when=NOW + dt.timedelta(seconds=900))
    assert len(iot.calls) == 3


async def test_a_new_device_is_asked_for_its_own_groups() -> None:
    iot, cache = FakeIot(MEMBERS), RegionCache()
    await read(iot, cache)
    iot.calls.clear()
    iot.members = {**MEMBERS, "line-02": {"gg-2", "gg-5"}}
    found, _ = await read(iot, cache, [*DEVICES, device("gg-5")])
    assert iot.calls == [("ListThingGroupsForThing", "gg-5")]
    assert found.membership["gg-5"] == ("line-02",)
    assert found.membership["gg-2"] == ("line-01", "line-02")


async def test_inherited_reach_includes_the_groups_nested_above() -> None:
    members = {"site": set(), "site-a": {"gg-1"}, "line-01": {"gg-2"}}
    deployments = [deployment(GROUP + "site", 1), deployment(GROUP + "line-01", 2)]
    devices = [device("gg-1"), device("gg-2")]
    cases: list[tuple[NestedReach, dict[str, tuple[str, ...]]]] = [
        ("direct", {"gg-2": ("line-01",)}),
        ("inherited", {"gg-1": ("site",), "gg-2": ("line-01",)}),
    ]
    for nested, expected in cases:
        iot = FakeIot(members, parents={"site-a": "site"})
        c = Collector(4)
        found = await read_membership(
            iot,
            c,
            RegionCache(),
            deployments,
            devices,
            nested=nested,
            started=NOW,
        )
        assert dict(found.membership or {}) == expected, nested


async def test_a_failed_call_records_one_error_and_reads_nothing() -> None:
    iot, cache = FakeIot(MEMBERS, denied=True), RegionCache()
    found, c = await read(iot, cache)
    assert found.membership is None
    assert [(e.operation, e.code) for e in c.errors] == [
        ("ListThingsInThingGroup", "AccessDeniedException")
    ]
    assert cache.membership is None


# -- a refresh -----------------------------------------------------------------------------------


async def test_a_refresh_re_reads_the_named_devices_only() -> None:
    iot, cache = FakeIot(MEMBERS), RegionCache()
    found, _ = await read(iot, cache)
    iot.calls.clear()
    iot.members = {**MEMBERS, "line-01": {"gg-2"}, "line-02": {"gg-1", "gg-2"}}
    c = Collector(4)
    after = await refresh_membership(
        iot, c, cache, found.membership, DEPLOYMENTS, ["gg-1"], nested="direct"
    )
    assert iot.calls == [("ListThingGroupsForThing", "gg-1")]
    assert dict(after or {}) == {"gg-1": ("line-02",), "gg-2": ("line-01", "line-02")}
    assert cache.membership is not None
    assert cache.membership.by_thing["gg-1"] == {"line-02"}  # the next scan starts from it


async def test_inherited_membership_is_kept_and_read_again_by_the_next_scan() -> None:
    iot, cache = FakeIot(MEMBERS), RegionCache()
    found, _ = await read(iot, cache, nested="inherited")
    iot.calls.clear()
    c = Collector(4)
    kept = await refresh_membership(
        iot, c, cache, found.membership, DEPLOYMENTS, ["gg-1"], nested="inherited"
    )
    assert kept == found.membership
    assert iot.calls == []
    await read(iot, cache, nested="inherited", when=NOW + dt.timedelta(seconds=1))
    assert len(iot.calls) == 3  # expired: every targeted group again


async def test_a_refresh_without_a_reading_reads_nothing() -> None:
    iot = FakeIot(MEMBERS)
    assert (
        await refresh_membership(
            iot, Collector(4), RegionCache(), None, DEPLOYMENTS, ["gg-1"], nested="direct"
        )
        is None
    )
    assert iot.calls == []


# -- the answers, parsed -------------------------------------------------------------------------


def test_answers_are_parsed_sorted_and_once() -> None:
    assert shapes.thing_names(["gg-2", "gg-1", "gg-2"]) == ("gg-1", "gg-2")
    groups = [{"groupName": "b", "groupArn": GROUP + "b"}, {"groupName": "a"}]
    assert shapes.group_names(groups) == ("a", "b")


@pytest.mark.parametrize(
    ("operation", "convert"),
    [
        ("ListThingsInThingGroup", lambda: shapes.thing_names([{"name": "gg-1"}])),
        ("ListThingsInThingGroup", lambda: shapes.thing_names([""])),
        ("ListThingGroupsForThing", lambda: shapes.group_names([{"groupArn": GROUP + "a"}])),
        ("ListThingGroupsForThing", lambda: shapes.group_names(["a"])),
        ("ListThingGroupsForThing", lambda: shapes.group_names([{"groupName": 7}])),
    ],
)
def test_a_malformed_answer_is_a_malformed_response(operation: str, convert: Any) -> None:
    with pytest.raises(errors.MalformedResponse) as caught:
        parsed(operation, convert)
    assert caught.value.operation == operation


class FakeClient:
    """Stands for aiobotocore's iot client: pages of canned answers, or a 404."""

    def __init__(self, pages: list[dict[str, Any]] | None) -> None:
        self.pages = pages
        self.params: list[dict[str, Any]] = []

    async def _answer(self, **params: Any) -> dict[str, Any]:
        self.params.append(params)
        if self.pages is None:
            error = {"Error": {"Code": "ResourceNotFoundException", "Message": "gone"}}
            raise ClientError(error | {"ResponseMetadata": {"HTTPStatusCode": 404}}, "op")
        return self.pages[len(self.params) - 1]

    list_things_in_thing_group = _answer
    list_thing_groups_for_thing = _answer


def adapter(client: FakeClient) -> AioIot:
    return AioIot(client, "us-west-2", TokenBucket(1000.0), CallCounter())


async def test_the_adapter_pages_by_250_and_a_gone_group_has_no_members() -> None:
    client = FakeClient([{"things": ["gg-2"], "nextToken": "t"}, {"things": ["gg-1"]}])
    assert await adapter(client).things_in_group("line-01", recursive=True) == ("gg-1", "gg-2")
    assert client.params == [
        {"maxResults": 250, "thingGroupName": "line-01", "recursive": True},
        {"maxResults": 250, "thingGroupName": "line-01", "recursive": True, "nextToken": "t"},
    ]
    gone = adapter(FakeClient(None))
    assert await gone.things_in_group("line-01", recursive=False) == ()
    assert await gone.groups_of_thing("gg-1") == ()
    assert gone.counter.counts == {
        ("ListThingsInThingGroup", "ResourceNotFoundException"): 1,
        ("ListThingGroupsForThing", "ResourceNotFoundException"): 1,
    }
