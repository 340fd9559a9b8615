"""CloudFormation templates in tests: read them as documents, and run the real cfn-lint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

BIN = Path(sys.executable).parent  # the venv's bin: the dev extra installs cfn-lint there


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form intrinsics (!Ref, !Sub, ...) as their long form."""


def _intrinsic(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise TypeError(f"!{suffix} on a {type(node).__name__}")
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader=CfnLoader)
    return loaded


def run_cfn_lint(path: Path) -> subprocess.CompletedProcess[str]:
    """cfn-lint on one template, informational checks included."""
    tool = BIN / "cfn-lint"
    if not tool.exists():
        pytest.fail(f"{tool} is missing: install the dev extra (make test)")
    return subprocess.run(
        [str(tool), "--include-checks", "I", "--", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
