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


# --- what every cold start pays (docs/architecture.md §10) -------------------------------------------------------

ALL_MODULES = sorted(PACKAGE.rglob("*.py"))
# FastAPI reads the signatures of the functions these modules define (endpoints and dependencies): a string
# annotation costs it one `eval` at init, so these evaluate their annotations where they are defined.
INSPECTED_BY_FASTAPI = sorted([*(PACKAGE / "http" / "routes").rglob("*.py"),
                               *(PACKAGE / "http" / name for name in ("dependencies.py", "identity.py",
                                                                      "rate_limit.py", "job_view.py"))])


def _future_annotations(path: Path) -> bool:
    return any(isinstance(node, ast.ImportFrom) and node.module == "__future__"
               and any(alias.name == "annotations" for alias in node.names)
               for node in ast.parse(path.read_text()).body)


def test_the_annotations_check_sees_the_import_where_it_is():
    assert _future_annotations(PACKAGE / "domain" / "jobs.py")
    assert len(INSPECTED_BY_FASTAPI) >= 25


@pytest.mark.parametrize("path", INSPECTED_BY_FASTAPI, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_fastapi_inspects_do_not_postpone_annotations(path: Path):
    assert not _future_annotations(path)


def test_no_regular_expression_is_compiled_at_import():
    compiled_at_import = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}"
        for path in ALL_MODULES for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Call)
        and ast.unparse(node.value.func) == "re.compile"]
    # Only the Replicate client's and the migrations' own, loaded by just the functions that use them.
    assert all(where.startswith(("adapters/providers/replicate/", "adapters/sql/schema.py"))
               for where in compiled_at_import), compiled_at_import
