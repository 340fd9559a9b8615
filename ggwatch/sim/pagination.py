"""Opaque, tamper-evident nextTokens with keyset pagination.

A token carries the sort key of the last item returned and a fingerprint of the request's
filters, signed with a per-server secret. Keyset (rather than offset) pages stay correct while
deployments are created or deleted between two page calls, as AWS's do.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from ggwatch.sim.store import SimError

T = TypeVar("T")
DEFAULT_PAGE = 50  # ListDeployments' documented default; the others are not documented


class Pager:
    def __init__(self, page_cap: Callable[[], int], secret: bytes | None = None) -> None:
        self._secret = secret or secrets.token_bytes(32)
        self._page_cap = page_cap

    def _fingerprint(self, operation: str, params: Mapping[str, Any]) -> str:
        filters = {k: v for k, v in params.items() if k not in ("nextToken", "maxResults")}
        text = json.dumps([operation, filters], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def encode(self, operation: str, params: Mapping[str, Any], key: Any) -> str:
        body = json.dumps({"k": key, "f": self._fingerprint(operation, params)}).encode()
        mac = hmac.new(self._secret, body, hashlib.sha256).digest()[:12]
        return base64.urlsafe_b64encode(mac + body).decode().rstrip("=")

    def decode(self, operation: str, params: Mapping[str, Any]) -> Any:
        token = params.get("nextToken")
        if token is None:
            return None
        invalid = SimError(
            "ValidationException", "The nextToken is invalid or expired.", reason="OTHER"
        )
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            mac, body = raw[:12], raw[12:]
            expected = hmac.new(self._secret, body, hashlib.sha256).digest()[:12]
            if not hmac.compare_digest(mac, expected):
                raise invalid
            data = json.loads(body)
        except (ValueError, json.JSONDecodeError):
            raise invalid from None
        if data.get("f") != self._fingerprint(operation, params):
            raise invalid
        return _tuple(data["k"])

    def page(
        self,
        operation: str,
        params: Mapping[str, Any],
        entries: Sequence[tuple[Any, T]],
        keep: Callable[[T], bool] | None = None,
    ) -> tuple[list[T], str | None]:
        """One page of `entries` (sorted by key) after the token's key, filtered by `keep`."""
        after = self.decode(operation, params)
        limit = min(int(params.get("maxResults") or DEFAULT_PAGE), self._page_cap())
        start = 0 if after is None else bisect.bisect_right(entries, after, key=_first)
        items: list[T] = []
        last_key: Any = None
        for key, item in _from(entries, start):
            if keep is not None and not keep(item):
                continue
            if len(items) == limit:
                return items, self.encode(operation, params, last_key)
            items.append(item)
            last_key = key
        return items, None


def descending(key: Any) -> Any:
    """A sort key that orders exactly opposite to `key` (ints, floats, strings and tuples).

    Keyset tokens need keys that ascend in page order; a newest-first list inverts its natural
    key with this instead of numbering its items, which would shift when one is added. Every
    element is wrapped as (0, inverted) and sequences end in (1,), so a prefix sorts after its
    extensions, as it must when the order is reversed.
    """
    if isinstance(key, bool) or not isinstance(key, int | float | str | tuple | list):
        raise TypeError(f"cannot invert a sort key of type {type(key).__name__}")
    if isinstance(key, int | float):
        return -key
    if isinstance(key, str):
        return (*((0, -ord(char)) for char in key), (1,))
    return (*((0, descending(part)) for part in key), (1,))


def _first(entry: tuple[Any, Any]) -> Any:
    return entry[0]


def _from(entries: Sequence[tuple[Any, T]], start: int) -> Iterable[tuple[Any, T]]:
    for index in range(start, len(entries)):
        yield entries[index]


def _tuple(value: Any) -> Any:
    """JSON turns tuples into lists; sort keys compare as tuples again."""
    if isinstance(value, list):
        return tuple(_tuple(v) for v in value)
    return value
