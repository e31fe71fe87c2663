"""The layers keep their direction: the domain and the services never reach for the outside world themselves.

`domain/` is pure logic and `services/` talks to ports; adapters, the HTTP layer, AWS SDKs, FastAPI and Pillow
are all outside them (README: Layout). Every import counts, at module level or inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "core" / "enhancer"
FORBIDDEN = ("enhancer.adapters", "enhancer.http", "boto3", "botocore", "fastapi", "starlette", "PIL")
INNER_LAYERS = sorted(path for layer in ("domain", "services") for path in (PACKAGE / layer).rglob("*.py"))


def _imported_modules(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
    return found


def _forbidden(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in FORBIDDEN)


def test_there_are_inner_modules_to_check():
    assert len(INNER_LAYERS) >= 15
    assert _forbidden("enhancer.adapters.aws") and _forbidden("PIL.Image") and not _forbidden("enhancer.domain")


@pytest.mark.parametrize("path", INNER_LAYERS, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_domain_and_services_import_no_adapter_http_layer_or_outside_library(path: Path):
    assert [m for m in _imported_modules(path) if _forbidden(m)] == []


def test_relative_imports_do_not_hide_a_way_out():
    relative = [str(p.relative_to(PACKAGE)) for p in INNER_LAYERS
                if any(isinstance(n, ast.ImportFrom) and n.level for n in ast.walk(ast.parse(p.read_text())))]
    assert relative == []
