"""The sections `python -m bench` runs, in order. Add one: a module with NAME, TITLE and run(ctx)."""

from __future__ import annotations

from types import ModuleType

from bench import cold_import, cost, dynamo_round_trips, handler_overhead, jobs, load, local_engine, sql_engines

SECTIONS: dict[str, ModuleType] = {
    module.NAME: module for module in (cold_import, handler_overhead, dynamo_round_trips, local_engine, jobs, cost,
                                       load, sql_engines)}
