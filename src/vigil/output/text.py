"""Text that came from a target or a feed, made safe to print on a terminal.

Package names, versions, paths and advisory ids are attacker-controlled (a hostile dpkg status, an image's
file names): printed raw, an escape sequence would reach the user's terminal. Control characters are shown
escaped instead.
"""

from __future__ import annotations

import re

# C0 and C1 controls but tab and newline, DEL, line separators and the bidirectional marks and overrides
# that reorder what a terminal shows
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def safe(text: str, *, newlines: bool = False) -> str:
    """`text` with control characters (and bidi overrides) as `\\x1b`-style escapes; tabs kept.

    Newlines are escaped too unless `newlines` allows them (multi-line text Vigil itself laid out).
    """
    escaped = _CONTROL.sub(lambda m: _escape(m.group()), text)
    return escaped if newlines else escaped.replace("\n", "\\n")


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
