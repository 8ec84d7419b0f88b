"""How many commands a process runs at once: a default, or DELIVERY_COMMANDS_AT_ONCE."""

from __future__ import annotations

import pytest

from delivery.application import COMMANDS_AT_ONCE, commands_at_once


def test_the_default_holds_unless_the_variable_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DELIVERY_COMMANDS_AT_ONCE", raising=False)
    assert commands_at_once() == COMMANDS_AT_ONCE
    monkeypatch.setenv("DELIVERY_COMMANDS_AT_ONCE", " 16 ")
    assert commands_at_once() == 16


@pytest.mark.parametrize("text", ["0", "-2", "eight", "1.5"])
def test_anything_but_a_whole_number_from_one_is_refused_with_the_variable_named(
    monkeypatch: pytest.MonkeyPatch, text: str,
) -> None:
    monkeypatch.setenv("DELIVERY_COMMANDS_AT_ONCE", text)
    with pytest.raises(ValueError, match="DELIVERY_COMMANDS_AT_ONCE"):
        commands_at_once()
