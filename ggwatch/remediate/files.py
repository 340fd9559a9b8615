"""A plan directory: what `ggwatch plan` writes and `ggwatch apply` reads.

    DIR/plans.json            every plan: verdict, reason, changes, and its files
    DIR/<deploymentId>.json   the revision: `aws greengrassv2 create-deployment
                              --cli-input-json file://DIR/<deploymentId>.json` accepts it
    DIR/<deploymentId>.base.json
                              GetDeployment of the revision it was made from

Files are written whole (a temporary file renamed into place), so a reader never sees half of
one. Run on the CLI's thread, outside the event loop.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ggwatch import __version__
from ggwatch.archive.record import json_safe
from ggwatch.errors import OutputError, PlanError
from ggwatch.findings import Plan, Verdict
from ggwatch.names import is_deployment_id

MANIFEST = "plans.json"


@dataclass(frozen=True, slots=True)
class Written:
    """One plan and what its files hold (None where nothing was made: a blocked plan whose
    base could not be read)."""

    plan: Plan
    request: Mapping[str, Any] | None
    base: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class Entry:
    """One plan as a directory holds it."""

    plan: Mapping[str, Any]  # Plan.to_json() as written
    request: Mapping[str, Any] | None
    base: Mapping[str, Any] | None

    @property
    def deployment_id(self) -> str:
        return str(self.plan["deployment_id"])

    @property
    def verdict(self) -> str:
        return str(self.plan["verdict"])


def write_plans(directory: Path, plans: Sequence[Written], generated_at: dt.datetime) -> Path:
    """Write every plan and the manifest; the manifest's path."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {directory}: {exc.strerror or exc}") from None
    listed = []
    for written in plans:
        plan_id = _checked_id(written.plan.deployment_id)
        entry: dict[str, Any] = written.plan.to_json()
        entry["request_file"] = entry["base_file"] = None
        if written.request is not None:
            entry["request_file"] = _write(directory / f"{plan_id}.json", written.request)
        if written.base is not None:
            entry["base_file"] = _write(directory / f"{plan_id}.base.json", written.base)
        listed.append(entry)
    manifest = {
        "ggwatch_version": __version__,
        "generated_at": generated_at,
        "plans": listed,
    }
    _write(directory / MANIFEST, manifest)
    return directory / MANIFEST


def read_plans(directory: Path) -> list[Entry]:
    """The plans a directory holds; PlanError naming the file and the fault."""
    manifest = _read(directory / MANIFEST)
    plans = manifest.get("plans") if isinstance(manifest, dict) else None
    if not isinstance(plans, list):
        raise PlanError(f"{directory / MANIFEST}: no 'plans' list (not written by ggwatch plan?)")
    out = []
    for item in plans:
        if not isinstance(item, dict) or not isinstance(item.get("deployment_id"), str):
            raise PlanError(f"{directory / MANIFEST}: a plan without a deployment_id")
        _checked_id(item["deployment_id"])
        fault = _fault(item)
        if fault is not None:
            raise PlanError(f"{directory / MANIFEST}: plan {item['deployment_id']}: {fault}")
        request = _optional(directory, item.get("request_file"))
        base = _optional(directory, item.get("base_file"))
        out.append(Entry(item, request, base))
    return out


def _fault(item: Mapping[str, Any]) -> str | None:
    """What a manifest's plan lacks that `apply` reads (an edited manifest must not crash it);
    None if nothing."""
    if item.get("verdict") not in {v.value for v in Verdict}:
        return f"verdict {item.get('verdict')!r} is not one of {', '.join(Verdict)}"
    for key in ("account_alias", "region", "target_arn"):
        if not isinstance(item.get(key), str) or not item[key]:
            return f"no {key}"
    for key in ("account", "revision_id"):
        if item.get(key) is not None and not isinstance(item[key], str):
            return f"{key} {item[key]!r} is not a string"
    changes = item.get("changes")
    if not isinstance(changes, list) or not changes:
        return "no changes"
    for change in changes:
        fault = _change_fault(change, ok=item["verdict"] == Verdict.OK.value)
        if fault is not None:
            return fault
    return None


def _change_fault(change: Any, *, ok: bool) -> str | None:
    if not isinstance(change, dict) or not isinstance(change.get("from_version"), str):
        return "a change without a component_name and from_version"
    name = change.get("component_name")
    if not isinstance(name, str) or not name:
        return "a change without a component_name and from_version"
    to = change.get("to_version")
    if to is None:
        return f"{name}: an ok plan with no version to move to" if ok else None
    return None if isinstance(to, str) and to else f"{name}: to_version {to!r} is not a version"


def _optional(directory: Path, name: Any) -> Mapping[str, Any] | None:
    if name is None:
        return None
    if not isinstance(name, str) or Path(name).name != name:
        raise PlanError(f"{directory / MANIFEST}: {name!r} is not a file name in the directory")
    found = _read(directory / name)
    if not isinstance(found, dict):
        raise PlanError(f"{directory / name}: not a JSON object")
    return found


def _checked_id(deployment_id: str) -> str:
    # The id becomes a file name: nothing that could leave the directory.
    if not is_deployment_id(deployment_id):
        raise PlanError(f"{deployment_id!r} is not a deployment id")
    return deployment_id


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanError(f"{path}: no such file") from None
    except OSError as exc:
        raise PlanError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PlanError(f"{path}: not JSON: {exc}") from None


def _write(path: Path, document: Any) -> str:
    text = json.dumps(json_safe(document), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path.name
