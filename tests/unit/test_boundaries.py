"""The write side stays free of web, SQL and template frameworks."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[2] / "delivery"
FORBIDDEN = ("fastapi", "sqlalchemy", "jinja2", "starlette", "pydantic", "projections", "api", "web")


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", sorted(DOMAIN.glob("*.py")), ids=lambda p: p.name)
def test_domain_module_imports_no_framework(path: Path) -> None:
    assert _imported_roots(path).isdisjoint(FORBIDDEN)


def test_the_check_sees_imports() -> None:
    # Guard against a vacuous pass: the domain does import the event library.
    roots = set().union(*(_imported_roots(p) for p in DOMAIN.glob("*.py")))
    assert "eventsourcing" in roots
