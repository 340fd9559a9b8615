"""docs/settings.md, generated from the settings' own fields: `make docs` writes it.

`render()` is pure: it walks `Settings.model_fields` (and the nested models: targets, rule
overrides, exclusions) and returns the Markdown. Each top-level field names its section in
`json_schema_extra={"section": ...}`; a test fails when a field has no description or section,
or when docs/settings.md differs from what `render()` returns.

    python -m ggwatch.settings_doc > docs/settings.md
    python -m ggwatch.settings_doc --write docs/settings.md
"""

from __future__ import annotations

import argparse
import enum
import sys
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import NoDecode

from ggwatch.findings import Rule
from ggwatch.rules.config import Exclusions, RuleOverride
from ggwatch.settings import (
    CONFIG_ENV,
    DAY,
    ENV_PREFIX,
    OrganizationConfig,
    Settings,
    TargetConfig,
)

# Sections in the order the document gives them, in the order the daemon uses the settings.
SECTIONS: Mapping[str, str] = {
    "logging": "Logging",
    "targets": "Targets: accounts and Regions",
    "sharding": "Sharding: replicas that share the targets",
    "aws": "AWS client and pacing",
    "scan": "Scan and rules",
    "cleanup": "Cleanup of stale deployments",
    "webhook": "Alertmanager webhook",
    "daemon": "Daemon: polling and refresh",
    "events": "Event-driven refresh",
    "http": "HTTP: status page, metrics and health",
}

# Nested models, each its own table: (heading, where it sits in the settings, model).
NESTED: Sequence[tuple[str, str, type[BaseModel]]] = (
    ("Targets entries", "`targets: [{...}, ...]`", TargetConfig),
    (
        "Organization",
        "`organization: {...}` (with `targets_from: organization`)",
        OrganizationConfig,
    ),
    ("Rule overrides", "`rules: {RULE_ID: {...}}`", RuleOverride),
    ("Exclusions", "`exclusions: {...}`", Exclusions),
)

# What `GGWATCH_QUOTA_SHARE=3 ggwatch check-config` writes (exit status 2).
EXAMPLE_ERROR = (
    "ggwatch: error: invalid setting quota_share [GGWATCH_QUOTA_SHARE]: "
    "Input should be less than or equal to 1 (got '3')"
)
HEADER = f"""\
# Settings

<!-- Generated from ggwatch/settings.py by `make docs` (python -m ggwatch.settings_doc);
     edit the field descriptions there, not this file. -->

One settings object, read once at start-up. Sources, strongest first:

1. environment variables, `{ENV_PREFIX}<NAME>` (the setting's name in upper case);
2. the YAML file named by `--config` or `{CONFIG_ENV}` (`config/ggwatch.yaml` is a commented
   example of every setting);
3. the defaults below.

Lists of plain values (Regions, globs, queue URLs) are comma-separated in the environment;
structured values (`targets`, `rules`, `exclusions`) are JSON there. A `{ENV_PREFIX}*` variable
that names no setting is a warning at start (with the closest name) and an error in
`ggwatch check-config`, which prints the effective values, secrets redacted. A bad value exits
2 with one line naming it the way it was written:

```
$ GGWATCH_QUOTA_SHARE=3 ggwatch check-config
{EXAMPLE_ERROR}
```
"""


def section(info: FieldInfo) -> str | None:
    """The section a field names in its json_schema_extra, if any."""
    extra = info.json_schema_extra
    value = extra.get("section") if isinstance(extra, dict) else None
    return value if isinstance(value, str) else None


def render() -> str:
    """The whole of docs/settings.md."""
    parts = [HEADER]
    fields = Settings.model_fields
    for key, title in SECTIONS.items():
        names = [name for name, info in fields.items() if section(info) == key]
        if not names:
            continue
        rows: list[tuple[str, ...]] = [
            (f"`{name}`", f"`{ENV_PREFIX}{name.upper()}`", *_cells(name, fields[name], env=True))
            for name in names
        ]
        parts.append(_table(title, "", ("setting", "environment variable"), rows))
    for title, where, model in NESTED:
        rows = [(f"`{name}`", *_cells(name, info)) for name, info in model.model_fields.items()]
        intro = where
        if model is RuleOverride:
            intro += ". Rule ids: " + ", ".join(f"`{rule.value}`" for rule in Rule) + "."
        parts.append(_table(title, intro, ("key",), rows))
    return "\n".join(parts)


def _table(title: str, intro: str, first: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    head = (*first, "type", "default", "bounds", "description")
    lines = [f"## {title}", ""]
    if intro:
        lines += [intro, ""]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    lines += ["| " + " | ".join(_escape(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _cells(name: str, info: FieldInfo, *, env: bool = False) -> tuple[str, str, str, str]:
    seconds = name.endswith("_seconds")
    description = (info.description or "").replace("<", "&lt;").replace(">", "&gt;")
    return (_type(info, env=env), _default(info, seconds), _bounds(info, seconds), description)


def _escape(text: str) -> str:
    """One table cell: on one line, its pipes escaped."""
    return " ".join(text.replace("|", "\\|").split())


def _type(info: FieldInfo, *, env: bool) -> str:
    text = _type_name(info.annotation)
    if env and any(m is NoDecode for m in info.metadata):
        text += ", comma-separated in the environment"
    elif env and _structured(info.annotation):
        text += ", JSON in the environment"
    return text


def _structured(annotation: Any) -> bool:
    if get_origin(annotation) in (tuple, dict, Mapping):
        return True
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Literal:
        return "one of " + ", ".join(f"`{arg}`" for arg in args)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in args if arg is not type(None))
    if origin is tuple:
        return f"list of {_plural(args[0])}"
    if origin in (dict, Mapping):
        return f"mapping of {_type_name(args[0])} to {_type_name(args[1])}"
    if annotation is SecretStr:
        return "string (secret)"
    if annotation is Rule:
        return "rule id"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(f"`{member.value}`" for member in annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _model_name(annotation)
    simple = {str: "string", int: "integer", float: "number", bool: "boolean"}
    return simple.get(annotation, str(annotation))


def _plural(annotation: Any) -> str:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _model_name(annotation) + "s"
    return "strings" if annotation is str else _type_name(annotation)


def _model_name(model: type[BaseModel]) -> str:
    names = {
        TargetConfig: "target",
        OrganizationConfig: "organization",
        RuleOverride: "rule override",
        Exclusions: "exclusions",
    }
    return names.get(model, model.__name__)


def _default(info: FieldInfo, seconds: bool) -> str:
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True, validated_data={})
    if value is None:
        return "none (secret)" if _secret(info.annotation) else "none"
    return _value(value) + (_days(value) if seconds else "")


def _secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in get_args(annotation)


def _value(value: Any) -> str:
    if isinstance(value, BaseModel):
        return "empty" if value == type(value)() else f"`{value.model_dump(mode='json')}`"
    if isinstance(value, tuple | list | dict) and not value:
        return "empty"
    if isinstance(value, tuple | list):
        return ", ".join(_value(item) for item in value)
    return f"`{_scalar(value)}`"


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


def _days(value: Any) -> str:
    """A reading aid for a long duration in seconds: ' (30 days)'."""
    if isinstance(value, int | float) and value >= DAY and value % DAY == 0:
        days = int(value // DAY)
        return f" ({days} day{'s' if days != 1 else ''})"
    return ""


_LOWER = {annotated_types.Gt: ("gt", "<"), annotated_types.Ge: ("ge", "<=")}
_UPPER = {annotated_types.Lt: ("lt", "<"), annotated_types.Le: ("le", "<=")}


def _bounds(info: FieldInfo, seconds: bool) -> str:
    """The field's gt/ge/lt/le as one interval: `0 < x <= 1`, `x >= 1`."""
    low = high = None
    for meta in info.metadata:
        for kinds in (_LOWER, _UPPER):
            if type(meta) in kinds:
                attr, sign = kinds[type(meta)]
                value = getattr(meta, attr)
                bound = (sign, _scalar(value) + (_days(value) if seconds else ""))
                if kinds is _LOWER:
                    low = bound
                else:
                    high = bound
    if low and high:
        return f"`{low[1]} {low[0]} x {high[0]} {high[1]}`"
    if low:
        return f"`x {low[0].replace('<', '>')} {low[1]}`"
    if high:
        return f"`x {high[0]} {high[1]}`"
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ggwatch.settings_doc", description="Write docs/settings.md's text."
    )
    parser.add_argument("--write", type=Path, metavar="PATH", help="write here, not to stdout")
    args = parser.parse_args(argv)
    text = render()
    if args.write is not None:
        args.write.write_text(text, encoding="utf-8")
    else:
        sys.stdout.buffer.write(text.encode("utf-8"))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
