"""The seeded fleet generator: the same spec and `now` give the same world.

Vendor guidance is assigned after deployments were made, as in life: a version is withdrawn
while fleets still run it.
"""

from __future__ import annotations

import bisect
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from ggwatch.sim import catalog
from ggwatch.sim.fleet import cases, recipes, stacks
from ggwatch.sim.fleet.base import (
    DAY,
    DEFAULT_ACCOUNT,
    FleetSpec,
    access_key,
    finish_public,
    install_latest,
    moving_from,
    new_version,
    public_catalog,
)
from ggwatch.sim.store import (
    CoreDevice,
    Deployment,
    RegionState,
    World,
    thing_arn,
    thing_group_arn,
)

SITES = (
    "berlin",
    "austin",
    "osaka",
    "lyon",
    "pune",
    "monterrey",
    "gdansk",
    "ohio",
    "perth",
    "porto",
    "busan",
    "leeds",
)
PRIVATE_NAMES = (
    "Telemetry",
    "CameraIngest",
    "ModbusAdapter",
    "EdgeInference",
    "OpcUaBridge",
    "LocalHistorian",
    "AlarmRouter",
    "FirmwareAgent",
    "VisionQA",
    "EnergyMeter",
    "PlcGateway",
    "LabelPrinter",
)
PUBLIC_STACK = (
    "aws.greengrass.Cli",
    "aws.greengrass.LogManager",
    "aws.greengrass.ShadowManager",
    "aws.greengrass.StreamManager",
    "aws.greengrass.clientdevices.Auth",
    "aws.greengrass.SecureTunneling",
    "aws.greengrass.DeviceDefender",
    "aws.iot.SiteWiseEdgePublisher",
    "aws.greengrass.SecretManager",
)


# Device platforms by share: Linux on amd64 or aarch64, a few armv7. Generated fleets have no
# Windows devices (a fleet file can declare them): a Windows device rarely shares a thing
# group's deployment with Linux ones.
PLATFORMS = (
    (0.60, ("linux", "amd64")),
    (0.95, ("linux", "aarch64")),
    (1.0, ("linux", "armv7")),
)
# The share of devices provisioned after versions were deleted: they resolve what their groups
# deploy today, where older members keep what they installed (cases.py).
LATE_SHARE = 0.02


def account_ids(count: int, rng: random.Random) -> list[str]:
    ids = [DEFAULT_ACCOUNT]
    while len(ids) < count:
        candidate = str(rng.randrange(10**11, 10**12))
        if candidate not in ids:
            ids.append(candidate)
    return ids


def generate(spec: FleetSpec, now: float, clock: Callable[[], float] | None = None) -> World:
    """A deterministic fleet: the same spec and `now` give the same world."""
    spec.check()
    rng = random.Random(spec.seed)
    world = World(lambda: now)  # frozen while generating, so the same `now` gives the same world
    # The reading the fleet was made under holds for the control API too, as a fleet file's does.
    world.readings.private_guidance = spec.private_guidance
    world.readings.conflicts = spec.conflicts
    world.default_region = spec.regions[0]
    for region in spec.regions:
        public_catalog(world.public_catalog(region), region, spec, now, rng)
    for index, account in enumerate(account_ids(spec.accounts, rng)):
        world.access_keys[access_key(index)] = account
        for region in spec.regions:
            _Generator(world.region(account, region), spec, now, rng).run()
    finish_public(world)
    world.set_clock(clock or moving_from(now))
    return world


@dataclass(slots=True)
class _Generator:
    state: RegionState
    spec: FleetSpec
    now: float
    rng: random.Random
    timeline: dict[str, tuple[list[float], list[str]]] = field(default_factory=dict)

    def run(self) -> None:
        self.private_components()
        groups = self.devices()
        # Some site groups nest under an earlier one, from a stream of their own (never canary).
        state = self.state
        state.thing_groups.nest_some(
            groups[:-1] if "canary" in groups else groups,
            random.Random(f"{self.spec.seed}/{state.account}/{state.region}/thing-groups"),
        )
        targets = self.targets(groups)
        self.deployments(targets)
        self.install()

    def private_components(self) -> None:
        spec, state = self.spec, self.state
        oldest = self.now - spec.max_age_days * DAY
        for i in range(spec.private_components):
            base = PRIVATE_NAMES[i % len(PRIVATE_NAMES)]
            suffix = "" if i < len(PRIVATE_NAMES) else str(i // len(PRIVATE_NAMES) + 1)
            name = f"com.example.{base}{suffix}"
            step = (self.now - 2 * DAY - oldest) / spec.private_versions
            for v in range(spec.private_versions):
                version = f"1.{v // 4}.{v % 4}" if v < 8 else f"{1 + v // 8}.{v % 8 // 4}.{v % 4}"
                created = oldest + step * (v + self.rng.random() * 0.8)
                state.add_private_version(
                    new_version(state.region, state.account, name, version, created, "Example")
                )
        recipes.private_recipes(state, spec.seed)
        cases.add_dependencies(state)

    def devices(self) -> list[str]:
        spec, state, rng = self.spec, self.state, self.rng
        n_groups = spec.thing_groups or max(1, spec.devices // 25)
        groups = [
            f"{SITES[g % len(SITES)]}-line-{g // len(SITES) + 1:02d}" for g in range(n_groups)
        ]
        canary = "canary"
        nucleus = catalog.versions(catalog.NUCLEUS)
        images: dict[str, str] = {}  # group -> the nucleus its devices' image carries
        # Platforms from a stream of their own: the rest of a seeded fleet stays as it was.
        platforms = random.Random(f"{spec.seed}:{state.account}:{state.region}:platforms")
        for i in range(spec.devices):
            group = groups[i % n_groups]
            member_of = (group, canary) if rng.random() < 0.05 else (group,)
            name = f"gg-{group.split('-')[0]}-{i:05d}"
            provisioned = self.now - rng.uniform(30, spec.max_age_days) * DAY
            status = "HEALTHY" if rng.random() < 0.95 else "UNHEALTHY"
            roll = platforms.random()
            os, arch = next(p for share, p in PLATFORMS if roll < share)
            device = CoreDevice(name, status, provisioned, member_of, os, arch)
            # Most of a group's devices come from one image, so run its nucleus; some were
            # set up another time, with another (versions drift inside a group).
            start = images.setdefault(
                group, nucleus[rng.randrange(len(nucleus) // 2, len(nucleus))]
            )
            if rng.random() < 0.15:
                start = nucleus[rng.randrange(len(nucleus) // 2, len(nucleus))]
            device.provision(start, provisioned)
            state.add_device(device)
        return (
            [*groups, canary]
            if any(canary in d.thing_groups for d in state.devices.values())
            else groups
        )

    def targets(self, groups: list[str]) -> list[str]:
        state, spec, rng = self.state, self.spec, self.rng
        total = spec.deployments if spec.deployments is not None else 2 * spec.devices
        group_arns = [thing_group_arn(state.region, state.account, g) for g in groups]
        things = sorted(state.devices)
        rng.shuffle(things)
        room = max(0, total - len(group_arns))
        thing_arns = [
            thing_arn(state.region, state.account, t)
            for t in things[: min(room, len(things) // 10)]
        ]
        targets = (group_arns + thing_arns)[:total]
        extra = total - len(targets)
        depth = dict.fromkeys(targets, 1)
        if targets and extra > 0:
            weights = [8.0 if ":thinggroup/" in t else 1.0 for t in targets]
            for target in rng.choices(targets, weights=weights, k=extra):
                depth[target] += 1
        return [t for t in targets for _ in range(depth[t])]

    def version_at(self, name: str, when: float) -> str:
        """The version a team would have picked at `when`: mostly the newest, sometimes older."""
        if name not in self.timeline:
            component = self.state.component(name)
            assert component is not None
            records = sorted(component.versions.values(), key=lambda v: v.created)
            self.timeline[name] = ([v.created for v in records], [v.version for v in records])
        times, names = self.timeline[name]
        index = max(0, bisect.bisect_right(times, when) - 1)
        if self.rng.random() < 0.3:
            index = max(0, index - self.rng.randint(1, 3))
        return names[index]

    def deployments(self, revisions: list[str]) -> None:
        state, spec, rng = self.state, self.spec, self.rng
        by_target: dict[str, int] = {}
        for target in revisions:
            by_target[target] = by_target.get(target, 0) + 1
        # The cases' components (cases.py) go to one site group each, the rest anywhere.
        special = cases.case_components(state)
        working = stacks.Stacks(state)
        privates = sorted(set(state.private) - set(special))
        made: list[Deployment] = []
        named: dict[str, set[str]] = {}  # thing group -> the components its deployments name
        for target, depth in by_target.items():  # thing groups come first
            is_group = ":thinggroup/" in target
            if is_group:
                stack = rng.sample(PUBLIC_STACK, rng.randint(1, 3)) + rng.sample(
                    privates, min(len(privates), rng.randint(1, 4))
                )
                if len(named) < len(special):
                    stack.append(special[len(named)])
                if rng.random() < 0.5:
                    stack.append(catalog.NUCLEUS)
                named[target.rpartition("/")[2]] = set(stack)
            else:
                # A device's own deployment adds what its groups do not deploy.
                device = state.devices[target.rpartition("/")[2]]
                taken = set().union(*(named.get(g, set()) for g in device.thing_groups))
                free = [p for p in privates if p not in taken] or privates
                stack = rng.sample(free, min(len(free), rng.randint(1, 2)))
            floor = stacks.newest_nucleus(state.devices_for_target(target))
            start = self.now - rng.uniform(0.2, 1.0) * spec.max_age_days * DAY
            times = sorted(rng.uniform(start, self.now - 3600.0) for _ in range(depth))
            for revision, created in enumerate(times, start=1):
                last = revision == depth
                chosen = {name: self.version_at(name, created) for name in sorted(stack)}
                if last:  # the revision devices resolve: one that works on them
                    chosen = working.coherent(chosen, floor)
                    working.settle(chosen, floor, target.rpartition(":")[2])
                made.append(
                    Deployment(
                        deployment_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        revision_id=str(revision),
                        target_arn=target,
                        name=f"Deployment for {target.rpartition('/')[2]}",
                        created=created,
                        status=self.status(is_group, last),
                        components={n: {"componentVersion": v} for n, v in chosen.items()},
                        account=state.account,
                        region=state.region,
                        is_latest=last,
                    )
                )
        for dep in sorted(made, key=lambda d: d.created):
            state.deployments.add(dep)

    def status(self, is_group: bool, latest: bool) -> str:
        roll = self.rng.random()
        if latest:
            if roll < 0.03:
                return "CANCELED"
            return "ACTIVE" if is_group else ("FAILED" if roll < 0.06 else "COMPLETED")
        if roll < 0.08:
            return "CANCELED"
        if roll < 0.12:
            return "FAILED"
        return self.state.readings.superseded_status

    def install(self) -> None:
        """Every device installs what its targets deploy, but the late ones: they come after
        versions were deleted."""
        state = self.state
        late = cases.late_devices(state, LATE_SHARE)
        for device in state.devices.values():
            if device.thing_name not in late:
                install_latest(state, device, self.rng.uniform(0, DAY))
        self.withdraw()
        for thing in late:
            cases.provision_late(state, state.devices[thing], self.now, self.rng)

    def withdraw(self) -> None:
        """Withdraw a share of private versions, never a component's newest: with
        `private_guidance`, as DISCONTINUED or DELETED guidance (the undocumented reading);
        otherwise as AWS offers it, DeleteComponent for the deleted share (devices keep what
        they run) and nothing for the discontinued one."""
        spec, rng, state = self.spec, self.rng, self.state
        for name in sorted(state.private):
            component = state.private[name]
            for version in component.order[1:]:
                roll = rng.random()
                record = component.versions[version]
                newest = component.order[0]
                if not spec.private_guidance:
                    if roll < spec.deleted_share:
                        state.delete_private_version(record)
                    continue
                if roll < spec.deleted_share:
                    record.vendor_guidance = "DELETED"
                    record.guidance_message = f"Removed: upgrade to {newest}."
                elif roll < spec.deleted_share + spec.discontinued_share:
                    record.vendor_guidance = "DISCONTINUED"
                    record.guidance_message = f"Discontinued: upgrade to {newest}."
                elif roll > 0.9:
                    record.vendor_guidance = None  # some versions carry no guidance at all
        cases.withdraw_dependency(
            state, private_guidance=spec.private_guidance, deletes=spec.deleted_share > 0
        )
