"""The README's fault table stays honest: every fault issue 14 lists has a row, and every test a row names
exists (module and function)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = ["DynamoDB throttled", "DynamoDB unreachable", "S3 result put fails", "SQL locked", "SQL unreachable",
            "Step Functions refuses to start", "Replicate 5xx", "Replicate timeout", "Replicate malformed output",
            "webhook twice", "webhook never"]
COLUMNS = ["fault", "injected how", "answer", "what happens to money and data", "test"]


def _section() -> list[str]:
    text = (ROOT / "README.md").read_text()
    start = text.index("\n### Faults\n")
    end = re.compile(r"\n#{2,3} ").search(text, start + 1)
    return text[start:end.start() if end else len(text)].splitlines()


def _rows() -> list[list[str]]:
    table = [line for line in _section() if line.startswith("|")]
    cells = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in table]
    assert cells[0] == COLUMNS
    assert all(set(cell) <= set("-: ") for cell in cells[1])
    return cells[2:]


def _functions(module: Path) -> set[str]:
    tree = ast.parse(module.read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_every_required_fault_has_one_row():
    faults = [row[0] for row in _rows()]

    assert sorted(faults) == sorted(REQUIRED)


def test_every_row_says_what_was_injected_and_answered_and_names_tests_that_exist():
    for row in _rows():
        assert len(row) == len(COLUMNS) and all(row), row
        tests = re.findall(r"`([^`]+)`", row[4])
        assert tests, f"{row[0]}: no test named"
        for reference in tests:
            path, _, function = reference.partition("::")
            module = ROOT / path
            assert path.startswith("tests/faults/") and module.is_file(), reference
            assert function.startswith("test_") and function in _functions(module), reference
