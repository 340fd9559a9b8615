"""What may reach a terminal: text from AWS with its control characters made visible.

Component names, deployment names and error messages come from the service (and from whoever
can create components in the account). Written raw, an ESC or OSC sequence would clear the
screen, retitle the window or forge a line; JSON and HTML escape their own, so this is for
console logs, the scan table and the CLI's error lines.
"""

from __future__ import annotations

import re

# C0 and C1 controls and DEL, and the bidirectional overrides that reorder what is shown.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with every control character as a visible escape (\\x1b, \\u202e)."""
    return _CONTROL.sub(_escape, text)
