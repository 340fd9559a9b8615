"""Deployments kept sorted newest first, overall and per target, for keyset pagination."""

from __future__ import annotations

import bisect

from ggwatch.sim.store.records import Deployment


class DeploymentIndex:
    """Deployments kept sorted newest first, overall and per target, for keyset pagination."""

    def __init__(self) -> None:
        self.by_id: dict[str, Deployment] = {}
        self.all: list[tuple[tuple[float, str], Deployment]] = []
        self.by_target: dict[str, list[tuple[tuple[float, str], Deployment]]] = {}
        self.latest: dict[str, Deployment] = {}

    def add(self, deployment: Deployment) -> None:
        entry = (deployment.sort_key, deployment)
        self.by_id[deployment.deployment_id] = deployment
        bisect.insort(self.all, entry, key=lambda e: e[0])
        bisect.insort(self.by_target.setdefault(deployment.target_arn, []), entry, key=_key)
        if deployment.is_latest:
            self.latest[deployment.target_arn] = deployment

    def remove(self, deployment: Deployment) -> None:
        del self.by_id[deployment.deployment_id]
        _remove_entry(self.all, deployment)
        target_list = self.by_target[deployment.target_arn]
        _remove_entry(target_list, deployment)
        if not target_list:
            del self.by_target[deployment.target_arn]
        # A deleted latest deployment stays in `latest`: the devices that received it keep
        # running it, and later deployments to their other targets merge with it.

    def __len__(self) -> int:
        return len(self.by_id)


def _key(entry: tuple[tuple[float, str], Deployment]) -> tuple[float, str]:
    return entry[0]


def _remove_entry(entries: list[tuple[tuple[float, str], Deployment]], dep: Deployment) -> None:
    index = bisect.bisect_left(entries, dep.sort_key, key=_key)
    if index < len(entries) and entries[index][1] is dep:
        del entries[index]
