"""Schemathesis over every operation of docs/openapi.json against a local stack (tests/fuzz): bounded examples per
operation, a fixed seed, the stateful links; no 5xx, every response as documented, with the security headers.
`python -m tests.fuzz --examples 200` is the longer run (`make fuzz`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.template import ROOT
from tests.fuzz import STACK_ENVIRONMENT, run
from tests.local_stack import running_stack

pytestmark = pytest.mark.stack


def test_every_operation_fuzzed_without_5xx_or_schema_violations(tmp_path: Path) -> None:
    # A stack of its own (the echo provider, a webhook secret, sign-in configured: tests/fuzz STACK_ENVIRONMENT),
    # so the shared stack's per-IP windows and usage are left alone.
    with running_stack(tmp_path, **STACK_ENVIRONMENT) as state:
        summary = run(state["url"], examples=15)
    print("\n".join(summary.lines()))
    documented = json.loads((ROOT / "docs" / "openapi.json").read_text())["paths"]
    operations = sum(1 for item in documented.values() for method in item if method != "parameters")
    assert summary.operations == operations == 24
    assert summary.cases >= 10 * operations
    assert summary.stateful_steps > 0
    # The key reached the routes' logic (a 2xx), not only their refusals.
    assert any(caller == "key" and status < 300 for caller, status in summary.by_caller), summary.lines()
    assert not [status for status in summary.statuses if status >= 500], summary.lines()
    assert summary.failures == [], "\n".join(summary.failures)
