"""The gettext catalogs' tooling (docs/i18n.md): `python -m web.catalogs update` extracts every marked string
of the pages and the domain into web/locale/messages.pot and merges it into each language's .po (translations
kept; a changed msgid comes back fuzzy, which the pages do not use until someone checks it); `compile` writes the
.mo files (`make install` runs pybabel compile for the same)."""

from __future__ import annotations

import sys
from contextlib import chdir
from pathlib import Path

from babel.messages.frontend import CommandLineInterface

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "web" / "locale"
TEMPLATE = LOCALE_DIR / "messages.pot"
# Markers beyond Babel's defaults (_, gettext, ngettext, pgettext, npgettext, N_): web/words.py's NC_ / NPC_ and
# delivery/messages.py's NP_.
KEYWORDS = ("NC_:1c,2", "NPC_:1c,2,3", "NP_:1,2")
WIDTH = "120"


def _pybabel(*args: str) -> None:
    CommandLineInterface().run(["pybabel", "-q", *args])  # type: ignore[no-untyped-call]


def extract(output: Path = TEMPLATE) -> None:
    """Every marked string of babel.cfg's files into a .pot (sorted, locations by file only: fewer diffs)."""
    args = ["extract", "-F", str(ROOT / "babel.cfg"), "--sort-output", "--add-location=file",
            "-w", WIDTH, "--project", "delivery-tracker", "-o", str(output)]
    for keyword in KEYWORDS:
        args += ["-k", keyword]
    with chdir(ROOT):  # locations relative to the repository
        _pybabel(*args, ".")


def update() -> None:
    extract()
    _pybabel("update", "-i", str(TEMPLATE), "-d", str(LOCALE_DIR), "-w", WIDTH, "--ignore-obsolete")


def compile_all() -> None:
    _pybabel("compile", "-d", str(LOCALE_DIR), "--statistics")


if __name__ == "__main__":
    commands = {"extract": extract, "update": update, "compile": compile_all}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit("usage: python -m web.catalogs extract|update|compile")
    commands[sys.argv[1]]()
