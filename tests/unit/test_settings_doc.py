"""docs/settings.md is generated from the settings' fields, and must not drift from them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel, Field

from ggwatch import settings_doc
from ggwatch.settings import Settings

REPO = Path(__file__).parents[2]
DOC = REPO / "docs" / "settings.md"
SAMPLE = REPO / "config" / "ggwatch.yaml"


def _nested(annotation: Any) -> set[type[BaseModel]]:
    """The models inside an annotation (tuple[TargetConfig, ...], dict[Rule, RuleOverride])."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found = {annotation}
        for info in annotation.model_fields.values():
            found |= _nested(info.annotation)
        return found
    return {model for arg in get_args(annotation) for model in _nested(arg)}


NESTED = {model for info in Settings.model_fields.values() for model in _nested(info.annotation)}


def _undocumented(model: type[BaseModel], *, sections: bool) -> list[str]:
    problems = []
    for name, info in model.model_fields.items():
        if not (info.description or "").strip():
            problems.append(f"{model.__name__}.{name}: no description=")
        if sections and settings_doc.section(info) not in settings_doc.SECTIONS:
            problems.append(
                f"{model.__name__}.{name}: json_schema_extra section "
                f"{settings_doc.section(info)!r} is not one of {sorted(settings_doc.SECTIONS)}"
            )
    return problems


def test_docs_settings_md_is_what_render_writes() -> None:
    assert DOC.read_text(encoding="utf-8") == settings_doc.render(), (
        "docs/settings.md is stale: run make docs"
    )


def test_every_setting_has_a_description_and_a_section() -> None:
    assert _undocumented(Settings, sections=True) == []


def test_every_field_of_a_nested_model_has_a_description() -> None:
    problems = [p for model in NESTED for p in _undocumented(model, sections=False)]
    assert problems == []


def test_every_nested_model_has_its_own_table() -> None:
    assert {model for _, _, model in settings_doc.NESTED} == NESTED


def test_a_field_without_description_or_section_is_caught() -> None:
    class Bare(BaseModel):
        plain: int = 1
        described: int = Field(default=1, description="Has words, not a section.")
        elsewhere: int = Field(default=1, description="x", json_schema_extra={"section": "nope"})

    problems = _undocumented(Bare, sections=True)
    assert [p.split(":")[0] for p in problems] == [
        "Bare.plain",
        "Bare.plain",
        "Bare.described",
        "Bare.elsewhere",
    ]


def test_the_sample_config_names_every_setting() -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    keys = set(re.findall(r"^(?:# ?)?([a-z_]+):", text, flags=re.MULTILINE))
    missing = sorted(set(Settings.model_fields) - keys)
    assert missing == [], f"config/ggwatch.yaml does not mention {missing} (as key or '# key:')"


@pytest.mark.parametrize(
    ("setting", "cells"),
    [
        ("quota_share", ["`GGWATCH_QUOTA_SHARE`", "number", "`0.5`", "`0 < x <= 1`"]),
        ("webhook_token", ["string (secret)", "none (secret)"]),
        ("service_rate", ["none"]),
        ("regions", ["list of strings, comma-separated in the environment", "empty"]),
        ("targets", ["list of targets, JSON in the environment"]),
        ("poll_interval_seconds", ["`300`", "`1 <= x <= 86400 (1 day)`"]),
        ("cleanup_on_scan", ["boolean", "`true`"]),
        ("cleanup_mode", ["one of `off`, `dry-run`, `enforce`", "`off`"]),
    ],
)
def test_a_row_shows_variable_type_default_and_bounds(setting: str, cells: list[str]) -> None:
    row = next(
        line for line in settings_doc.render().splitlines() if line.startswith(f"| `{setting}` |")
    )
    shown = [cell.strip() for cell in row.strip("|").split(" | ")]
    for cell in cells:
        assert cell in shown, (cell, shown)


def test_each_section_is_a_heading_in_the_daemon_s_order() -> None:
    headings = [line[3:] for line in settings_doc.render().splitlines() if line.startswith("## ")]
    assert headings[: len(settings_doc.SECTIONS)] == list(settings_doc.SECTIONS.values())
    assert headings[len(settings_doc.SECTIONS) :] == [t for t, _, _ in settings_doc.NESTED]


def test_the_module_writes_the_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert settings_doc.main([]) == 0
    assert capsys.readouterr().out == settings_doc.render()
    target = tmp_path / "settings.md"
    assert settings_doc.main(["--write", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == settings_doc.render()
