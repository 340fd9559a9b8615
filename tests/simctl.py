"""The simulator's control API (not AWS), as the tests drive it."""

from __future__ import annotations

import json
import urllib.request
from typing import Any


def patch_knobs(endpoint: str, knobs: dict[str, Any]) -> None:
    """Change realism knobs of the simulator at `endpoint` (PATCH /_sim/knobs)."""
    request = urllib.request.Request(
        f"{endpoint}/_sim/knobs", data=json.dumps(knobs).encode(), method="PATCH"
    )
    urllib.request.urlopen(request, timeout=10).close()
