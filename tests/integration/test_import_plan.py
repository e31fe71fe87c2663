"""bootstrap's import plan: at init a function imports the adapter modules its code may build (`preload`, from
`enhancer.entrypoints`), so its first request loads no adapter code, and none it never builds.

The plan is read from names (`import_plan`) and the module lists in `_IMPORTS` / `_COMPOSITES` are written by
hand, so these tests hold the lists against what the factories really import, and the functions' handler
modules against the plan, each in a fresh interpreter: the parent process has imported everything already."""

from __future__ import annotations

import ast
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.common import PROBE_ENVIRONMENT, SCRUBBED
from enhancer import bootstrap
from enhancer.http.dependencies import ledger as ledger_dependency

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "core"
WATCHED = ("enhancer.adapters.", "enhancer.services.")

# The SQL dialect module (`adapters/sql/sqlite.py` or `postgresql.py`, and the aggregates it imports) is chosen by
# DATABASE_URL when a repository is first opened; no `_IMPORTS` entry can name it, since the plan is read from code,
# not from the settings. The factory probes import it first so that what they check is the plan's own share.
DIALECT = "enhancer.adapters.sql.sqlite"

# Factories that import adapter code inside their body but have no `_IMPORTS` entry, each with why the plan leaves
# it to the first request. A new factory with an inner import fails `test_every_factory_that_imports_inside_it_is_
# in_the_plan` until it is listed in `_IMPORTS` / `_COMPOSITES` or here.
FIRST_USE = {
    # `enhancer.adapters.sql` comes with the settings (config imports its DatabaseUrl); the rest is DIALECT.
    "api_keys": "SQL: nothing to plan beyond what every function has",
    "billing_accounts": "SQL: as api_keys",
    "workflow": "Step Functions: not planned; the first job started, canceled or resumed imports it (one small module)",
    "callback_resolver": "the callback adapter: only jobs that carry a callback URL",
    "payments": "Stripe or the development checkout, by configuration",
    "_stripe_payments": "Stripe's SDK, only with STRIPE_SECRET",
    "cognito_directory": "Cognito, only when a user pool is configured",
    "provider": "the provider (Replicate, local engine, echo), validated on first use (answers 503, not at init)",
}
# What composites import themselves beyond their parts' modules (their services' `Deps` types, which the
# function's own code imports at module level anyway, are not adapters and not counted).
COMPOSITE_OWN = {
    "workflow_deps": {"enhancer.adapters.imaging"},  # the image checks; Pillow itself only when an image is read
    "callback_deps": {"enhancer.adapters.callbacks"},
}


def _environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """What the bench's probes run with (bench/common.py), a SQLite file in `tmp_path` and the echo provider."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update(PROBE_ENVIRONMENT)
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'plan.db'}"
    env["ENHANCER_PROVIDER"] = "echo"
    env.update(extra)
    return env


def _run(code: str, tmp_path: Path, *args: str) -> Any:
    """`code` in a fresh interpreter (cwd `tmp_path`, nothing of the test run on sys.path); its JSON line."""
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60,
                          env=_environment(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- import_plan, in this process -------------------------------------------------------------------------

def test_a_function_that_reads_the_ledger_plans_the_ledger_adapter() -> None:
    def route() -> object:
        return bootstrap.ledger()

    assert bootstrap.import_plan(route) == {"enhancer.adapters.dynamo_ledger"}


def test_the_plan_follows_enhancer_functions_it_calls_and_nested_code() -> None:
    # The outer names say nothing of the ledger: only the dependency it calls does.
    def route() -> object:
        return ledger_dependency

    def with_a_lambda() -> object:
        return lambda: bootstrap.image_store()

    assert bootstrap.import_plan(route) == {"enhancer.adapters.dynamo_ledger"}
    assert bootstrap.import_plan(with_a_lambda) == {"enhancer.adapters.s3_store"}


def test_a_composite_plans_every_module_of_its_parts() -> None:
    def route() -> object:
        return bootstrap.job_deps()

    plan = bootstrap.import_plan(route)
    assert {"enhancer.adapters.sql", "enhancer.adapters.dynamo_ledger", "enhancer.adapters.s3_store"} <= plan
    # A route per composite that calls it and nothing else; a composite added to the table needs one here.
    routes = {"job_deps": lambda: bootstrap.job_deps(), "workflow_deps": lambda: bootstrap.workflow_deps(),
              "callback_deps": lambda: bootstrap.callback_deps(), "billing_deps": lambda: bootstrap.billing_deps(),
              "account_deps": lambda: bootstrap.account_deps("http://testserver")}
    assert routes.keys() == bootstrap._COMPOSITES.keys()
    for composite, parts in bootstrap._COMPOSITES.items():
        expected = {module for part in parts for module in bootstrap._IMPORTS[part]}
        assert bootstrap.import_plan(routes[composite]) == expected, composite


def test_a_function_that_builds_nothing_plans_nothing() -> None:
    def arithmetic(x: int) -> int:
        return x + 1

    from enhancer.domain.errors import validation_issues

    assert bootstrap.import_plan(arithmetic) == frozenset()
    assert bootstrap.import_plan(validation_issues, print, len) == frozenset()


def test_every_named_factory_exists_and_every_listed_module_is_there() -> None:
    # A renamed factory would silently drop out of the plan: its old name matches no code any more.
    names = set(bootstrap._IMPORTS) | set(bootstrap._COMPOSITES) | set(FIRST_USE) | set(COMPOSITE_OWN)
    for name in names:
        assert callable(getattr(bootstrap, name, None)), f"bootstrap.{name} is named but does not exist"
    for composite, parts in bootstrap._COMPOSITES.items():
        assert set(parts) <= bootstrap._IMPORTS.keys(), f"{composite}: a part without modules breaks import_plan"
    import importlib.util

    for factory, modules in bootstrap._IMPORTS.items():
        for module in modules:
            assert importlib.util.find_spec(module) is not None, f"{factory}: {module} does not exist"


def _inner_imports(function: ast.FunctionDef) -> set[str]:
    """The adapter and service modules a function's body imports (`from enhancer.adapters.sql import …`)."""
    found: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {module for module in found if module.startswith(("enhancer.adapters", "enhancer.services"))}


def test_every_factory_that_imports_inside_it_is_in_the_plan() -> None:
    """A factory whose imports move inside it needs an `_IMPORTS` entry (or a reason in FIRST_USE here), or the
    functions that build it load its adapter on their first request."""
    tree = ast.parse(inspect.getsource(bootstrap))
    factories = {node.name: _inner_imports(node) for node in tree.body if isinstance(node, ast.FunctionDef)}
    importing = {name for name, modules in factories.items() if modules}
    unplanned = importing - bootstrap._IMPORTS.keys() - bootstrap._COMPOSITES.keys() - FIRST_USE.keys()
    assert not unplanned, f"factories importing adapters inside, in no plan: {sorted(unplanned)}"
    assert FIRST_USE.keys() <= importing, "a FIRST_USE factory no longer imports inside: plan it or drop it here"
    for factory, modules in bootstrap._IMPORTS.items():
        # What the factory imports itself must be listed; what that pulls in is checked by the probes below.
        assert factories[factory] <= set(modules), factory
    for composite in bootstrap._COMPOSITES:
        own = {module for module in factories[composite] if module.startswith("enhancer.adapters")}
        assert own == COMPOSITE_OWN.get(composite, set()), composite


# --- the factories, each in a fresh interpreter -----------------------------------------------------------

FACTORY_PROBE = f"""
import importlib, json, sys
del sys.path[0]
sys.path.insert(0, {str(LAYER)!r})
from enhancer import bootstrap
name, kind = sys.argv[1], sys.argv[2]
importlib.import_module({DIALECT!r})
if name == "remote_provider":
    bootstrap.provider()  # the provider is left to first use (FIRST_USE); only what remote_provider adds counts
parts = bootstrap._COMPOSITES[name] if kind == "composite" else (name,)
for part in parts:
    for module in bootstrap._IMPORTS[part]:
        importlib.import_module(module)
before = set(sys.modules)
getattr(bootstrap, name)(*sys.argv[3:])
print(json.dumps(sorted(m for m in set(sys.modules) - before if m.startswith({WATCHED!r}))))
"""

# Every `_IMPORTS` factory builds without a network: boto3 clients make no call until used, SQLite is a file.
# `workflow` (needs STATE_MACHINE_ARN), `payments` and `cognito_directory` have no entry and are not probed.
ALL_FACTORIES = sorted(bootstrap._IMPORTS)
REQUIRED = {"accounts", "jobs", "ledger", "image_store", "rate_windows", "usage_reader", "task_tokens"}


def test_the_factories_every_function_builds_are_all_probed() -> None:
    missing = REQUIRED - set(ALL_FACTORIES)
    assert not missing, f"left _IMPORTS, so no longer probed: {sorted(missing)}"


@pytest.mark.parametrize("factory", ALL_FACTORIES)
def test_a_factory_imports_only_what_its_entry_lists(factory: str, tmp_path: Path) -> None:
    """After the listed modules are imported (what preload does), building the adapter loads no adapter or service
    module: every module it needs is listed or imported by one that is."""
    assert _run(FACTORY_PROBE, tmp_path, factory, "factory") == []


@pytest.mark.parametrize("composite", sorted(bootstrap._COMPOSITES))
def test_a_composite_imports_only_its_parts_modules(composite: str, tmp_path: Path) -> None:
    args = ("http://testserver",) if composite == "account_deps" else ()
    new = _run(FACTORY_PROBE, tmp_path, composite, "composite", *args)
    adapters = {m for m in new if m.startswith("enhancer.adapters.")}
    assert adapters == COMPOSITE_OWN.get(composite, set())


# --- real functions, imported as the Lambda runtime imports them -------------------------------------------

FUNCTION_PROBE = f"""
import importlib, json, sys
del sys.path[0]
code_dir, route_module, attributes = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
sys.path[:0] = [code_dir, {str(LAYER)!r}]  # the runtime puts the function's code first, then the layer
app = importlib.import_module("app")
assert all(callable(getattr(app, a)) for a in attributes)
loaded = sorted(sys.modules)
from enhancer import bootstrap, entrypoints
module = importlib.import_module(route_module)
functions = entrypoints._route_functions((module.router,)) if hasattr(module, "router") else [
    getattr(app, a) for a in attributes]
print(json.dumps({{"loaded": loaded, "plan": sorted(bootstrap.import_plan(*functions))}}))
"""

A = "enhancer.adapters."
FUNCTIONS = {
    # function: (route module, handler attributes, plan must hold, never loaded at init)
    "usage": ("enhancer.http.routes.usage", "handler", {A + "dynamo_counters", A + "sql.accounts"},
              {A + "dynamo_ledger", A + "s3_store", A + "imaging", A + "providers", "stripe", "replicate", "PIL"}),
    "generate": ("enhancer.http.routes.enhancement.generate", "handler",
                 {A + "dynamo_ledger", A + "s3_store", A + "dynamo_counters", A + "sql.accounts"},
                 {A + "dynamo_tokens", A + "stripe_billing", A + "cognito", "stripe"}),
    "jobs_create": ("enhancer.http.routes.jobs.create", "handler",
                    {A + "sql", A + "dynamo_ledger", A + "s3_store", A + "sql.accounts"},
                    {A + "dynamo_tokens", A + "stripe_billing", "stripe"}),
    "job_get": ("enhancer.http.routes.jobs.item", "handler", {A + "sql", A + "sql.accounts"},
                {A + "dynamo_ledger", A + "dynamo_tokens", "stripe", "replicate", "PIL"}),
    "keys_list": ("enhancer.http.routes.keys.listing", "handler", {A + "sql", A + "sql.accounts"},
                  {A + "dynamo_ledger", A + "s3_store", A + "dynamo_tokens", "stripe", "replicate", "PIL"}),
    "job_workflow": ("enhancer.tasks.jobs", "start,check,finish,fail",
                     {A + "sql", A + "dynamo_ledger", A + "s3_store", A + "dynamo_tokens"},
                     {"fastapi", "starlette", "mangum", "enhancer.http", A + "dynamo_counters", "stripe"}),
}


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_a_function_imports_its_plan_at_init_and_nothing_it_never_builds(function: str, tmp_path: Path) -> None:
    route_module, attributes, expected, never = FUNCTIONS[function]
    report = _run(FUNCTION_PROBE, tmp_path, str(ROOT / "functions" / function), route_module, attributes)
    loaded, plan = set(report["loaded"]), set(report["plan"])

    assert expected <= plan, f"{function}: the plan lost {sorted(expected - plan)}"
    assert plan <= loaded, f"{function}: not imported at init: {sorted(plan - loaded)}"
    assert not never & loaded, f"{function}: imported at init but never built: {sorted(never & loaded)}"
