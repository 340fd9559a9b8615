"""The snapshot stage: read one account and Region into an immutable TargetSnapshot.

- collect: a full scan, polling every listing and what it names (collect, failed_snapshot);
- refresh: incremental re-reads of what events named (refresh_devices);
- guidance: vendor guidance of the versions in use, and where to move (both of the above);
- cache: what a daemon keeps between scans of a target (RegionCache and its named entries);
- calls, arns: the bounded pool calls run in, and a component name's ARN.
"""

from ggwatch.inventory.arns import ArnResolver
from ggwatch.inventory.cache import DescribedVersion, InstalledRead, Recommendation, RegionCache
from ggwatch.inventory.calls import Collector, bounded_each
from ggwatch.inventory.collect import collect
from ggwatch.inventory.failed import failed_snapshot
from ggwatch.inventory.refresh import refresh_devices

__all__ = [
    "ArnResolver",
    "Collector",
    "DescribedVersion",
    "InstalledRead",
    "Recommendation",
    "RegionCache",
    "bounded_each",
    "collect",
    "failed_snapshot",
    "refresh_devices",
]
