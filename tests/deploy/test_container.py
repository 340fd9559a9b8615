"""The container image: Dockerfile and .dockerignore.

No Docker engine runs here, so the image is never built in a test. Instead: hadolint (the real
linter, from the dev extra) must pass with no output and no ignores, and the Dockerfile's text
is parsed for the properties the Kubernetes and ECS manifests rely on: a numeric non-root user,
exec-form ENTRYPOINT ["ggwatch"] with CMD ["run"], port 8419, nothing writable needed outside
/tmp, OCI labels, and a final stage that only copies the finished virtual environment.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ggwatch.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
BIN = Path(sys.executable).parent  # the venv's bin: the dev extra installs the tools there

IMAGE_UID = 10001
IMAGE_GID = 10001


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"no {keyword} in the stage FROM {self.base}"
        return found[-1]


def parse_dockerfile(text: str) -> tuple[list[str], list[Stage]]:
    """Global ARGs and the stages, each a list of (INSTRUCTION, arguments) in order."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    global_args: list[str] = []
    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            words = args.split()
            words = [w for w in words if not w.startswith("--platform")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        elif not stages:
            assert keyword == "ARG", f"{keyword} before the first FROM"
            global_args.append(args)
        else:
            stages[-1].instructions.append((keyword, args))
    return global_args, stages


def key_values(args: str) -> dict[str, str]:
    """ENV, LABEL and ARG arguments in key=value form."""
    pairs = {}
    for word in shlex.split(args):
        key, sep, value = word.partition("=")
        assert sep, f"{word!r}: use the key=value form"
        pairs[key] = value
    return pairs


def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))[1]


def final_stage() -> Stage:
    return stages()[-1]


def image_user() -> tuple[int, int]:
    """The final stage's USER as (uid, gid); the manifests must run as the same."""
    user = final_stage().last("USER")
    match = re.fullmatch(r"(\d+):(\d+)", user)
    assert match, f"USER {user!r} must be numeric uid:gid, so runAsNonRoot can verify it"
    return int(match[1]), int(match[2])


def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def run_tool(name: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    tool = BIN / name
    if not tool.exists():
        pytest.fail(
            f"{tool} is missing: install the dev extra (make test, or pip install -e '.[dev]')"
        )
    return subprocess.run(
        [str(tool), *args],
        cwd=REPO,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# -- hadolint -------------------------------------------------------------------------------


def test_hadolint_passes_with_no_output() -> None:
    result = run_tool("hadolint", "Dockerfile")
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_hadolint_ignores_nothing_without_a_reason() -> None:
    config = REPO / ".hadolint.yaml"
    if not config.exists():
        return  # no ignores at all
    for line in config.read_text(encoding="utf-8").splitlines():
        if re.match(r"\s*-\s*(DL|SC)\d+", line):
            assert "#" in line, f".hadolint.yaml ignores a rule without a comment why: {line!r}"


def test_hadolint_finds_what_it_should() -> None:
    # The linter is real and reads what it is given: an unpinned base image and a pip install
    # that keeps its cache are reported.
    bad = "FROM python\nRUN pip install requests\n"
    result = run_tool("hadolint", "--no-color", "-", stdin=bad)
    assert result.returncode != 0
    assert "DL3006" in result.stdout
    assert "DL3042" in result.stdout


# -- structure ------------------------------------------------------------------------------


def test_parser_reads_continuations_and_stages() -> None:
    text = "ARG A=1\nFROM x:1 AS b\nRUN a \\\n    # note\n    && b\nFROM y:2\nUSER 5:6\n"
    global_args, parsed = parse_dockerfile(text)
    assert global_args == ["A=1"]
    assert [(s.base, s.name) for s in parsed] == [("x:1", "b"), ("y:2", None)]
    assert parsed[0].all("RUN")[0].split() == ["a", "&&", "b"]
    assert parsed[1].last("USER") == "5:6"


def test_multi_stage_build_on_python_slim() -> None:
    parsed = stages()
    assert len(parsed) >= 2, "build the wheel in one stage, run it in another"
    assert parsed[0].name == "build"
    assert all(s.base == "python:3.12-slim" for s in parsed)


def test_final_stage_only_copies_the_built_environment() -> None:
    final = final_stage()
    # No RUN at all: nothing is compiled, downloaded or cached in the image that ships.
    assert final.all("RUN") == []
    copies = final.all("COPY") + final.all("ADD")
    assert copies == ["--from=build /opt/ggwatch /opt/ggwatch"]


def test_build_stage_keeps_no_pip_cache_and_no_pip_in_the_venv() -> None:
    build = stages()[0]
    runs = " && ".join(build.all("RUN"))
    assert "venv --without-pip /opt/ggwatch" in runs
    pip_calls = [part for part in runs.split("&&") if re.search(r"\bpip\b", part)]
    assert pip_calls, "the build stage installs with pip"
    for call in pip_calls:
        if " venv " in call:
            continue
        assert "--no-cache-dir" in call, f"pip without --no-cache-dir: {call.strip()!r}"


def test_user_is_numeric_and_not_root() -> None:
    uid, gid = image_user()
    assert uid != 0
    assert gid != 0
    assert (uid, gid) == (IMAGE_UID, IMAGE_GID)
    # USER must come after the last step that needs root (the COPY into /opt).
    final = final_stage()
    keywords = [kw for kw, _ in final.instructions]
    assert keywords.index("USER") > max(i for i, kw in enumerate(keywords) if kw == "COPY")


def test_entrypoint_and_cmd_are_exec_form() -> None:
    final = final_stage()
    entrypoint = json.loads(final.last("ENTRYPOINT"))  # shell form would not parse as JSON
    cmd = json.loads(final.last("CMD"))
    assert entrypoint == ["ggwatch"]
    assert cmd == ["run"]
    assert "ggwatch" in pyproject()["project"]["scripts"], "the entry point is the console script"


def test_exposes_the_daemons_port() -> None:
    assert final_stage().all("EXPOSE") == ["8419"]
    assert Settings.model_fields["http_port"].default == 8419


def test_environment_suits_a_read_only_root_filesystem() -> None:
    env: dict[str, str] = {}
    for args in final_stage().all("ENV"):
        env.update(key_values(args))
    assert env["HOME"] == "/tmp"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PIP_NO_CACHE_DIR"] == "1"
    assert env["PATH"].startswith("/opt/ggwatch/bin:")
    assert final_stage().last("WORKDIR") == "/tmp"


def test_oci_labels() -> None:
    final = final_stage()
    labels: dict[str, str] = {}
    for label in final.all("LABEL"):
        labels.update(key_values(label))
    args: dict[str, str] = {}
    for arg in final.all("ARG"):
        args.update(key_values(arg))
    assert all(key.startswith("org.opencontainers.image.") for key in labels)
    for key in ("title", "description", "version", "revision", "created", "licenses"):
        assert f"org.opencontainers.image.{key}" in labels, key
    project = pyproject()["project"]
    assert labels["org.opencontainers.image.title"] == project["name"]
    assert labels["org.opencontainers.image.licenses"] == project["license"]
    assert labels["org.opencontainers.image.version"] == "${VERSION}"
    assert args["VERSION"] == project["version"], "the image's default version is the package's"


# -- build context --------------------------------------------------------------------------


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex over slash-separated relative paths."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: a path is left out if it or a parent matches; the last match wins."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = pattern_regex(pattern.removeprefix("!").strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            result = not negate
    return result


def test_ignore_matcher() -> None:
    assert ignored("a/b/__pycache__/x.pyc", ["**/__pycache__"])
    assert ignored("tests/unit/test_x.py", ["tests"])
    assert not ignored("ggwatch/tests.py", ["tests"])
    assert not ignored("tests/keep", ["tests", "!tests/keep"])
    assert ignored("x.egg-info", ["*.egg-info"])


def test_dockerignore_keeps_local_state_out() -> None:
    patterns = dockerignore_patterns()
    for path in (".venv", ".git", "tests", "bench", ".pytest_cache", ".mypy_cache", ".ruff_cache"):
        assert ignored(path, patterns), f"{path} must not be sent to the build"
    assert ignored("ggwatch/__pycache__", patterns)
    assert ignored("ggwatch.egg-info", patterns)


def test_build_copies_exist_and_are_not_ignored() -> None:
    patterns = dockerignore_patterns()
    sources = []
    for args in stages()[0].all("COPY"):
        words = [w for w in args.split() if not w.startswith("--")]
        sources += words[:-1]
    assert set(sources) == {"pyproject.toml", "README.md", "ggwatch"}
    for source in sources:
        assert (REPO / source).exists(), source
        assert not ignored(source, patterns), f"{source} is copied but .dockerignore drops it"
    # The wheel is built from exactly these: pyproject's readme must be among them, and the
    # package must have no data files a wheel from this context could lose.
    assert pyproject()["project"]["readme"] in sources
    data = [
        p for p in (REPO / "ggwatch").rglob("*") if p.is_file() and p.suffix not in {".py", ".pyc"}
    ]
    assert data == [], f"package data files need package-data in pyproject.toml: {data}"
