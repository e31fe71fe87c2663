"""The sections `python -m bench` runs, in order. Add one: a module with NAME, TITLE and run(ctx)."""

from __future__ import annotations

from types import ModuleType

from bench import cold_import

# Issue 3 adds "handler overhead with AWS stubbed" and "DynamoDB round trips on the hot path" here.
SECTIONS: dict[str, ModuleType] = {module.NAME: module for module in (cold_import,)}
