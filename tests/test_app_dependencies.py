"""Apps depend one way: core <- accounts <- events <- catalog <- ledger <- ordering <- demo
(docs/design.md, "Notes on the implementation"). Every module of every app is parsed and
each import of another app must point to the left of it."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ORDER = ("core", "accounts", "events", "catalog", "ledger", "ordering", "demo", "console")


def imported_apps(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & set(ORDER)


@pytest.mark.parametrize("app", ORDER)
def test_app_imports_only_the_apps_below_it(app):
    allowed = set(ORDER[: ORDER.index(app) + 1])
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_apps(path) - allowed)
        for path in sorted((ROOT / app).rglob("*.py"))
        if imported_apps(path) - allowed
    }
    assert offenders == {}


def test_the_walk_sees_a_forbidden_import(tmp_path):
    module = tmp_path / "module.py"
    module.write_text("from ledger.models import StockBalance\nimport ordering.services\n")
    assert imported_apps(module) == {"ledger", "ordering"}
