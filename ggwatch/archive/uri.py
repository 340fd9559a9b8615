"""GGWATCH_ARCHIVE_URI: file:///abs/dir or s3://bucket[/prefix], checked at start-up so that a
bad one exits 2 before anything runs."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from ggwatch.errors import ConfigError

SETTING = "GGWATCH_ARCHIVE_URI"
USAGE = "use file:///absolute/dir or s3://bucket/prefix"

_BUCKET_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class ArchiveTarget:
    """A parsed GGWATCH_ARCHIVE_URI: a local directory, or an S3 bucket and key prefix."""

    scheme: Literal["file", "s3"]
    directory: Path | None = None  # file: absolute
    bucket: str | None = None  # s3
    prefix: str = ""  # s3: no leading or trailing slash; empty for the bucket's root

    def __post_init__(self) -> None:
        if self.scheme == "file" and (self.directory is None or not self.directory.is_absolute()):
            raise ValueError("a file target needs an absolute directory")
        if self.scheme == "s3" and not self.bucket:
            raise ValueError("an s3 target needs a bucket")

    def __str__(self) -> str:
        if self.scheme == "file":
            return self.directory.as_uri() if self.directory else "file://"
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


# -- the URI ------------------------------------------------------------------------------------


def parse_archive_uri(uri: str) -> ArchiveTarget:
    """file:///abs/dir or s3://bucket[/prefix]; anything else is a one-line ConfigError."""
    text = uri.strip()

    def bad(why: str) -> ConfigError:
        return ConfigError(f"{SETTING}={text!r}: {why}")

    if not text:
        raise bad(f"empty; {USAGE}")
    if _CONTROL.search(text):
        raise bad("holds control characters")
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise bad(f"not a URI ({exc}); {USAGE}") from None
    if parts.scheme == "file":
        return _file_target(parts.netloc, parts.path, parts.query or parts.fragment, bad)
    if parts.scheme == "s3":
        if parts.query or parts.fragment:
            raise bad("an S3 URI takes no query or fragment ('?' or '#')")
        problem = _bucket_problem(parts.netloc)
        if problem:
            raise bad(problem)
        return ArchiveTarget("s3", bucket=parts.netloc, prefix=parts.path.strip("/"))
    if not parts.scheme:
        hint = f"use file://{text}" if text.startswith("/") else USAGE
        raise bad(f"not a URI; {hint}")
    raise bad(f"scheme {parts.scheme!r} is not supported; {USAGE}")


def _file_target(
    host: str, path: str, extra: str, bad: Callable[[str], ConfigError]
) -> ArchiveTarget:
    if host not in ("", "localhost"):
        raise bad(f"a file URI takes no host ({host!r}): use three slashes, file:///absolute/dir")
    if extra:
        raise bad("a file URI takes no query or fragment: write '?' as %3F and '#' as %23")
    directory = unquote(path)
    if _CONTROL.search(directory):
        raise bad("the path holds control characters")
    if not directory.startswith("/"):
        raise bad("the path is relative: use file:///absolute/dir")
    return ArchiveTarget("file", directory=Path(directory))


def _bucket_problem(bucket: str) -> str | None:
    """What S3's naming rules say is wrong with this bucket name, if anything."""
    if not bucket:
        return "no bucket: use s3://bucket/prefix"
    name = f"bucket name {bucket!r}"
    if not 3 <= len(bucket) <= 63:
        return f"{name} must be 3 to 63 characters long"
    if not set(bucket) <= _BUCKET_CHARS:
        return f"{name} may hold only lowercase letters, digits, dots and hyphens"
    if not (bucket[0].isalnum() and bucket[-1].isalnum()):
        return f"{name} must begin and end with a letter or digit"
    if ".." in bucket:
        return f"{name} must not hold two adjacent dots"
    with suppress(ValueError):
        ipaddress.IPv4Address(bucket)
        return f"{name} must not be an IP address"
    return None
