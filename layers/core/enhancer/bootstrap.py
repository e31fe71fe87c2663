"""The composition root: the adapters a function uses, built on first use and reused across invocations.

Only this module decides which adapter stands behind a port; the HTTP layer hands them to routes as
dependencies (`enhancer.http.dependencies`), and tests replace them there or reset them here.
"""

from __future__ import annotations

import sys
from functools import cache

from enhancer.adapters.aws import aws_client, reset_clients
from enhancer.adapters.dynamo_counters import DynamoRateWindows, DynamoUsageReader
from enhancer.adapters.dynamo_ledger import DynamoLedger
from enhancer.adapters.s3_store import S3ImageStore
from enhancer.adapters.secrets import read_secret
from enhancer.adapters.sql import open_accounts
from enhancer.adapters.sql.accounts import SqlAccounts
from enhancer.config import DEVELOPMENT_OWNER_KEY_SECRET, get_enhancement_settings, get_settings
from enhancer.services.ports import Provider


@cache
def accounts() -> SqlAccounts:
    return open_accounts(get_settings().database_url)


@cache
def rate_windows() -> DynamoRateWindows:
    settings = get_settings()
    return DynamoRateWindows(aws_client("dynamodb", settings.aws_region), settings.table_name)


@cache
def usage_reader() -> DynamoUsageReader:
    settings = get_settings()
    return DynamoUsageReader(aws_client("dynamodb", settings.aws_region), settings.table_name)


@cache
def ledger() -> DynamoLedger:
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
    settings = get_settings()
    return S3ImageStore(aws_client("s3", settings.aws_region), settings.bucket_name)


def owner_secret() -> bytes:
    """The HMAC key for guest owner keys and cookies: OWNER_KEY_SECRET_PARAMETER's secret (it wins), else
    OWNER_KEY_SECRET, else — development only, the settings require one elsewhere — a fixed development key."""
    # Not cached here: `read_secret` caches with a TTL, so a rotated secret is picked up.
    settings = get_settings()
    secret = read_secret(settings.owner_key_secret_parameter, settings.owner_key_secret, purpose="owner_key_secret")
    return (DEVELOPMENT_OWNER_KEY_SECRET if secret is None else secret).encode()


def reset() -> None:
    """Drop every cached adapter and the settings (tests change the environment between cases)."""
    for factory in (accounts, rate_windows, usage_reader, ledger, provider, image_store, get_settings,
                    get_enhancement_settings):
        factory.cache_clear()
    reset_clients()
    parameters = sys.modules.get("aws_lambda_powertools.utilities.parameters")
    if parameters is not None:
        parameters.clear_caches()
