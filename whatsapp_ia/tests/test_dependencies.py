"""The dependency rules hold: every import in every app module, at any depth (inside functions and
``TYPE_CHECKING`` blocks too), points down the layers

    whatsapp_ia (infrastructure) ← accounts ← conversations ← {flows, catalog_ai} ← analytics

so ``conversations`` never imports flows, catalog_ai or analytics, and flows and catalog_ai never
import each other (they meet through ``conversations.services.bots``). Tests, migrations and
bench/ may import anything; the project package's composition root (URLs, ASGI app, demo data)
wires the apps together and is the one place infrastructure may name them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER = {"whatsapp_ia": 0, "accounts": 1, "conversations": 2, "flows": 3, "catalog_ai": 3, "analytics": 4}
COMPOSITION_ROOT = {"whatsapp_ia/urls.py", "whatsapp_ia/asgi.py", "whatsapp_ia/demo.py"}


def _modules(app: str) -> list[Path]:
    return sorted(
        path for path in (ROOT / app).rglob("*.py") if not {"tests", "migrations"} & set(path.relative_to(ROOT).parts)
    )


def _imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every absolute import in the file, however deeply nested."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def violations(app: str) -> list[str]:
    bad = []
    for path in _modules(app):
        relative = path.relative_to(ROOT).as_posix()
        if relative in COMPOSITION_ROOT:
            continue
        for line, module in _imported(path):
            target = module.split(".")[0]
            if target in LAYER and target != app and LAYER[target] >= LAYER[app]:
                bad.append(f"{relative}:{line} imports {module}")
    return bad


@pytest.mark.parametrize("app", sorted(LAYER))
def test_each_app_imports_only_the_layers_below_it(app: str) -> None:
    assert violations(app) == []


def test_the_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    source = (
        "def f():\n    if True:\n        from flows.services import flow_respond\n    import catalog_ai.responder\n"
    )
    path = tmp_path / "x.py"
    path.write_text(source)
    assert sorted(module for _line, module in _imported(path)) == ["catalog_ai.responder", "flows.services"]


def test_every_app_is_in_a_layer() -> None:
    apps = {p.parent.name for p in ROOT.glob("*/apps.py")}
    assert apps <= set(LAYER)
