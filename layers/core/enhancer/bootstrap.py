"""The composition root: the adapters a function uses, built on first use and reused across invocations.

Only this module decides which adapter stands behind a port; the HTTP layer hands them to routes as
dependencies (`enhancer.http.dependencies`), and tests replace them there or reset them here.
"""

from __future__ import annotations

import sys
from functools import cache

from enhancer.adapters.aws import aws_client, reset_clients
from enhancer.adapters.dynamo_counters import DynamoCounters
from enhancer.adapters.dynamo_ledger import DynamoLedger
from enhancer.adapters.s3_store import S3ImageStore
from enhancer.adapters.secrets import owner_key_secret
from enhancer.adapters.sql.sqlite import SqliteAccounts
from enhancer.config import get_settings
from enhancer.services.ports import Provider


@cache
def accounts() -> SqliteAccounts:
    return SqliteAccounts(get_settings().sqlite_path)


@cache
def counters() -> DynamoCounters:
    settings = get_settings()
    return DynamoCounters(aws_client("dynamodb", settings.aws_region), settings.table_name)


@cache
def ledger() -> DynamoLedger:
    settings = get_settings()
    return DynamoLedger(aws_client("dynamodb", settings.aws_region), settings.table_name)


@cache
def provider() -> Provider:
    """The enhancement provider, built on first use (a misconfiguration answers 503 then, not at import)."""
    from enhancer.adapters.providers import build_provider

    return build_provider(get_settings())


@cache
def image_store() -> S3ImageStore:
    settings = get_settings()
    return S3ImageStore(aws_client("s3", settings.aws_region), settings.bucket_name)


def owner_secret() -> bytes:
    # Not cached here: the parameter store client caches with a TTL, so a rotated secret is picked up.
    return owner_key_secret(get_settings())


def reset() -> None:
    """Drop every cached adapter and the settings (tests change the environment between cases)."""
    for factory in (accounts, counters, ledger, provider, image_store, get_settings):
        factory.cache_clear()
    reset_clients()
    parameters = sys.modules.get("aws_lambda_powertools.utilities.parameters")
    if parameters is not None:
        parameters.clear_caches()
