"""The composition root: the adapters a function uses, built on first use and reused across invocations.

Only this module decides which adapter stands behind a port; the HTTP layer hands them to routes as
dependencies (`enhancer.http.dependencies`), and tests replace them there or reset them here.

Each factory imports its adapter itself, and a function imports at init only the adapters of the factories its
code names (`preload`, which `enhancer.entrypoints` calls with the function's routes and tasks): a function
that never reads the ledger never loads the DynamoDB ledger and the domain modules behind it.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable, Iterable
from functools import cache
from types import CodeType
from typing import TYPE_CHECKING

from enhancer.adapters.aws import aws_client, reset_clients
from enhancer.adapters.secrets import read_secret
from enhancer.config import (
    DEVELOPMENT_OWNER_KEY_SECRET,
    get_auth_settings,
    get_billing_settings,
    get_enhancement_settings,
    get_job_settings,
    get_settings,
)
from enhancer.domain.errors import ServiceUnavailable
from enhancer.observability import logger

if TYPE_CHECKING:
    from enhancer.adapters.cognito import CognitoDirectory
    from enhancer.adapters.dynamo_counters import DynamoRateWindows, DynamoUsageReader
    from enhancer.adapters.dynamo_ledger import DynamoLedger
    from enhancer.adapters.dynamo_tokens import DynamoTaskTokens
    from enhancer.adapters.s3_store import S3ImageStore
    from enhancer.adapters.sql.accounts import SqlAccounts
    from enhancer.adapters.sql.api_keys import SqlApiKeys
    from enhancer.adapters.sql.billing import SqlBilling
    from enhancer.services.account import AccountDeps
    from enhancer.services.billing import BillingDeps
    from enhancer.services.callbacks import CallbackDeps
    from enhancer.services.job_workflow import WorkflowDeps
    from enhancer.services.jobs import JobDeps
    from enhancer.services.ports import HostResolver, Jobs, Payments, Provider, RemoteProvider, Workflow


@cache
def accounts() -> SqlAccounts:
    from enhancer.adapters.sql import open_accounts

    return open_accounts(get_settings().database_url)


@cache
def api_keys() -> SqlApiKeys:
    from enhancer.adapters.sql import open_api_keys

    return open_api_keys(get_settings().database_url)


@cache
def jobs() -> Jobs:
    from enhancer.adapters.sql import open_jobs

    return open_jobs(get_settings().database_url)


@cache
def task_tokens() -> DynamoTaskTokens:
    from enhancer.adapters.dynamo_tokens import DynamoTaskTokens

    settings = get_settings()
    return DynamoTaskTokens(aws_client("dynamodb", settings.aws_region), settings.table_name)


@cache
def workflow() -> Workflow:
    """The job workflow; ServiceUnavailable (503) when no state machine is configured."""
    from enhancer.adapters.sfn_workflow import StepFunctionsWorkflow

    arn = get_job_settings().state_machine_arn
    if not arn:
        logger.error("jobs_not_configured", extra={"reason": "STATE_MACHINE_ARN is not set"})
        raise ServiceUnavailable("Jobs are not configured on this deployment")
    return StepFunctionsWorkflow(aws_client("stepfunctions", get_settings().aws_region), arn)


def job_deps() -> JobDeps:
    """What the job services need: the repository, the workflow (built on first use), ledger and store."""
    from enhancer.services.jobs import JobDeps

    settings = get_job_settings()
    return JobDeps(jobs=jobs(), workflow=workflow, ledger=ledger(), store=image_store(),
                   webhooks=settings.webhooks, timeout_seconds=settings.job_timeout_seconds)


def workflow_deps() -> WorkflowDeps:
    """What the workflow's tasks need."""
    from enhancer.adapters.imaging import check_image, convert_image
    from enhancer.services.job_workflow import WorkflowDeps

    return WorkflowDeps(jobs=jobs(), ledger=ledger(), store=image_store(), tokens=task_tokens(), provider=provider,
                        check_image=check_image, max_pixels=get_enhancement_settings().image_max_pixels,
                        public_api_url=public_api_url(), convert=convert_image)


@cache
def callback_resolver() -> HostResolver:
    """Name resolution for completion callbacks (CALLBACK_TEST_HOSTS first, in development and tests)."""
    from enhancer.adapters.callbacks import SystemResolver
    from enhancer.domain.callbacks import parse_test_hosts

    return SystemResolver(parse_test_hosts(get_job_settings().callback_test_hosts))


def callback_deps() -> CallbackDeps:
    """What the CallbackJob task needs: the jobs, resolution and the sender, the owner-key secret the signing
    secrets derive from, and image URLs on BASE_URL (else the API's public URL), as the job routes show them."""
    from urllib.parse import quote

    from enhancer.adapters.callbacks import HttpxCallbackSender
    from enhancer.services.callbacks import CallbackDeps

    base = get_settings().base_url or public_api_url() or ""
    # http/urls.py's PROXY_PREFIX, written out: importing it would load FastAPI into a workflow task.
    return CallbackDeps(jobs=jobs(), resolver=callback_resolver(),
                        sender=HttpxCallbackSender(get_job_settings().callback_test_ca_bundle),
                        owner_key_secret=owner_secret().decode(),
                        image_url=lambda key: f"{base}/r2-ai/{quote(key)}")


def remote_provider() -> RemoteProvider | None:
    """The provider when its model runs elsewhere and can be polled and canceled (Replicate), else None."""
    from enhancer.services.ports import as_remote

    return as_remote(provider())


@cache
def billing_accounts() -> SqlBilling:
    from enhancer.adapters.sql import open_billing

    return open_billing(get_settings().database_url)


def billing_deps() -> BillingDeps:
    """What applying a Stripe event needs: customers and subscriptions, the ledger, our price tables."""
    from enhancer.services.billing import BillingDeps

    return BillingDeps(accounts=billing_accounts(), credits=ledger(), prices=get_billing_settings().price_tables())


def payments(base_url: str) -> Payments:
    """Stripe's API with STRIPE_SECRET; in development without one, the local checkout page; else 503."""
    from enhancer.adapters.stripe_billing import NOT_CONFIGURED, stripe_secret

    settings = get_billing_settings()
    key = stripe_secret(settings)
    if key:
        return _stripe_payments(key, settings.stripe_api_base)
    if get_settings().is_development:
        from enhancer.adapters.dev_checkout import DevelopmentPayments

        return DevelopmentPayments(base_url, owner_secret())
    logger.error("stripe_not_configured", extra={"missing": "STRIPE_SECRET or STRIPE_SECRET_PARAMETER"})
    raise ServiceUnavailable(NOT_CONFIGURED)


def public_api_url() -> str | None:
    """Where Replicate's webhooks come back: PUBLIC_API_URL, else the URL stored where PUBLIC_API_URL_PARAMETER
    names (cached as secrets are)."""
    settings = get_job_settings()
    stored = read_secret(settings.public_api_url_parameter, settings.public_api_url, purpose="public_api_url")
    return stored.strip().rstrip("/") if stored and stored.strip() else None


def account_deps(base_url: str) -> AccountDeps:
    """What deleting an account touches: its rows, its Stripe subscriptions, images, counters, Cognito user."""
    from enhancer.services.account import AccountDeps

    return AccountDeps(rows=accounts(), subscriptions=billing_accounts(), payments=lambda: payments(base_url),
                       store=image_store(), counters=ledger(), directory=cognito_directory)


def cognito_directory() -> CognitoDirectory | None:
    from enhancer.adapters.cognito import CognitoDirectory

    settings = get_auth_settings()
    if not settings.cognito_user_pool_id:
        return None
    return CognitoDirectory(aws_client("cognito-idp", settings.aws_region), settings.cognito_user_pool_id)


@cache
def _stripe_payments(key: str, api_base: str | None) -> Payments:
    from enhancer.adapters.stripe_billing import StripePayments

    return StripePayments(key, api_base=api_base)


@cache
def rate_windows() -> DynamoRateWindows:
    from enhancer.adapters.dynamo_counters import DynamoRateWindows

    settings = get_settings()
    return DynamoRateWindows(aws_client("dynamodb", settings.aws_region), settings.table_name)


@cache
def usage_reader() -> DynamoUsageReader:
    from enhancer.adapters.dynamo_counters import DynamoUsageReader

    settings = get_settings()
    return DynamoUsageReader(aws_client("dynamodb", settings.aws_region), settings.table_name)


@cache
def ledger() -> DynamoLedger:
    from enhancer.adapters.dynamo_ledger import DynamoLedger

    settings = get_settings()
    return DynamoLedger(aws_client("dynamodb", settings.aws_region), settings.table_name)


@cache
def provider() -> Provider:
    """The enhancement provider, built on first use from the enhancement settings group (a misconfiguration
    answers 503 then, not at import)."""
    from enhancer.adapters.providers import build_provider

    return build_provider(get_enhancement_settings())


@cache
def image_store() -> S3ImageStore:
    from enhancer.adapters.s3_store import S3ImageStore

    settings = get_settings()
    return S3ImageStore(aws_client("s3", settings.aws_region), settings.bucket_name)


def owner_secret() -> bytes:
    """The HMAC key for guest owner keys and cookies: OWNER_KEY_SECRET_PARAMETER's secret (it wins), else
    OWNER_KEY_SECRET, else — development only, the settings require one elsewhere — a fixed development key."""
    # Not cached here: `read_secret` caches with a TTL, so a rotated secret is picked up.
    settings = get_settings()
    secret = read_secret(settings.owner_key_secret_parameter, settings.owner_key_secret, purpose="owner_key_secret")
    return (DEVELOPMENT_OWNER_KEY_SECRET if secret is None else secret).encode()


# The modules a factory imports when it builds its adapter, by the factory's name; composite factories name the
# factories they call. Factories not listed import what they need on first use (a driver, Stripe, Cognito, the
# provider) because only some requests of their functions need it.
_IMPORTS: dict[str, tuple[str, ...]] = {
    "accounts": ("enhancer.adapters.sql", "enhancer.adapters.sql.accounts"),
    "jobs": ("enhancer.adapters.sql",),
    "task_tokens": ("enhancer.adapters.dynamo_tokens",),
    "rate_windows": ("enhancer.adapters.dynamo_counters",),
    "usage_reader": ("enhancer.adapters.dynamo_counters",),
    "ledger": ("enhancer.adapters.dynamo_ledger",),
    "image_store": ("enhancer.adapters.s3_store",),
    "remote_provider": ("enhancer.services.ports",),
}
_COMPOSITES: dict[str, tuple[str, ...]] = {
    "job_deps": ("jobs", "ledger", "image_store"),
    "workflow_deps": ("jobs", "ledger", "image_store", "task_tokens"),
    "callback_deps": ("jobs",),
    "billing_deps": ("ledger",),
    "account_deps": ("accounts", "image_store", "ledger"),
}


def _names(code: CodeType) -> Iterable[str]:
    yield from code.co_names
    for constant in code.co_consts:
        if isinstance(constant, CodeType):  # a nested function or lambda
            yield from _names(constant)


def import_plan(*functions: Callable[..., object]) -> frozenset[str]:
    """The adapter modules `functions` may build, read from the names their code uses (`bootstrap.ledger()` names
    `ledger`), following the enhancer functions they call outside the domain. A name used for something else
    (`deps.ledger`) only adds a module the function may not need, as importing them all did before."""
    seen: set[int] = set()
    names: set[str] = set()
    pending = list(functions)
    while pending:
        fn = inspect.unwrap(pending.pop())
        code = getattr(fn, "__code__", None)
        if code is None or id(code) in seen:
            continue
        seen.add(id(code))
        scope = getattr(fn, "__globals__", {})
        for name in _names(code):
            names.add(name)
            called = scope.get(name)
            # The domain is pure (it builds no adapter), so its functions are not followed.
            module = str(getattr(called, "__module__", ""))
            if callable(called) and module.startswith("enhancer.") and not module.startswith("enhancer.domain."):
                pending.append(called)
    factories = names & _IMPORTS.keys()
    for composite in names & _COMPOSITES.keys():
        factories.update(_COMPOSITES[composite])
    return frozenset(module for factory in factories for module in _IMPORTS[factory])


def preload(*functions: Callable[..., object]) -> None:
    """Import at init the adapters `functions` use (see `import_plan`), so their first request builds them without
    loading code; `enhancer.entrypoints` calls this with each function's endpoints, dependencies and tasks."""
    for module in sorted(import_plan(*functions)):
        importlib.import_module(module)


def reset() -> None:
    """Drop every cached adapter and the settings (tests change the environment between cases)."""
    for factory in (accounts, api_keys, jobs, task_tokens, workflow, callback_resolver, billing_accounts,
                    _stripe_payments, rate_windows, usage_reader, ledger, provider, image_store, get_settings,
                    get_enhancement_settings, get_job_settings, get_billing_settings, get_auth_settings):
        factory.cache_clear()
    reset_clients()
    parameters = sys.modules.get("aws_lambda_powertools.utilities.parameters")
    if parameters is not None:
        parameters.clear_caches()
