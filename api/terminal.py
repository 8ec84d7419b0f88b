"""Stored text as a terminal may show it: what people typed must not move the cursor or recolour the screen."""

from __future__ import annotations

import re

# An escape sequence (CSI `ESC [ ... final`, OSC `ESC ] ... BEL|ST`, or ESC and one character), or a C1 CSI,
# then any other C0 or C1 control character (tab and line breaks included: a table row stays one line).
_SEQUENCE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]?|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b.?|\x9b[0-?]*[ -/]*[@-~]?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` with escape sequences dropped and every other control character shown as a space."""
    if text.isprintable():  # the common case: nothing to do
        return text
    return _CONTROL.sub(" ", _SEQUENCE.sub("", text))
