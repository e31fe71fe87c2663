"""`adapters.secrets.read_secret`: SSM Parameter Store and Secrets Manager (moto), the inline fallback, the TTL
cache, and a 503 that names the secret only in the logs."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from enhancer.adapters.secrets import NOT_READABLE, SECRET_CACHE_SECONDS, read_secret, secret_location
from enhancer.config import Secret
from enhancer.domain.errors import ServiceUnavailable
from enhancer.http.envelope import http_status

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def aws():
    """moto for SSM and Secrets Manager; Powertools' cache starts (and ends) empty."""
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
    with mock_aws():
        yield
    parameters.clear_caches()


@pytest.fixture
def later(monkeypatch):
    """later(seconds): Powertools' cache clock moved on by that much."""
    from aws_lambda_powertools.utilities.parameters import base

    def move(seconds: float) -> None:
        class Later(datetime):
            @classmethod
            def now(cls, tz=None):  # type: ignore[override]
                return datetime.now(tz) + timedelta(seconds=seconds)

        monkeypatch.setattr(base, "datetime", Later)

    return move


def put_parameter(name: str, value: str, *, overwrite: bool = False) -> None:
    boto3.client("ssm", region_name=REGION).put_parameter(Name=name, Value=value, Type="SecureString",
                                                          Overwrite=overwrite)


def create_secret(name: str, value: str | bytes) -> str:
    field = "SecretBinary" if isinstance(value, bytes) else "SecretString"
    return boto3.client("secretsmanager", region_name=REGION).create_secret(Name=name, **{field: value})["ARN"]


def update_secret(name: str, value: str) -> None:
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(SecretId=name, SecretString=value)


# --- the rule -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "location"), [
    ("/enhancer/prod/owner-key-secret", ("ssm", "/enhancer/prod/owner-key-secret")),
    ("enhancer-owner-key", ("ssm", "enhancer-owner-key")),
    ("arn:aws:ssm:us-east-1:123456789012:parameter/enhancer/x",
     ("ssm", "arn:aws:ssm:us-east-1:123456789012:parameter/enhancer/x")),
    ("arn:aws:secretsmanager:us-east-1:123456789012:secret:enhancer/stripe-AbCdEf",
     ("secretsmanager", "arn:aws:secretsmanager:us-east-1:123456789012:secret:enhancer/stripe-AbCdEf")),
    ("arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:x-AbCdEf",
     ("secretsmanager", "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:x-AbCdEf")),
    ("secretsmanager:enhancer/prod/stripe", ("secretsmanager", "enhancer/prod/stripe")),
])
def test_the_name_chooses_the_store(name, location):
    assert secret_location(name) == location


# --- reading --------------------------------------------------------------------------------------------------

def test_an_ssm_secure_string_is_read_decrypted_and_wins_over_the_inline_value():
    put_parameter("/enhancer/test/owner-key-secret", "from-ssm " * 5)

    value = read_secret("/enhancer/test/owner-key-secret", Secret("inline"), purpose="owner_key_secret")

    assert value == "from-ssm " * 5  # exactly as stored: an HMAC key is never trimmed


def test_a_secrets_manager_secret_is_read_by_arn():
    arn = create_secret("enhancer/test/stripe", "sk_test_by-arn")

    assert arn.startswith("arn:aws:secretsmanager:")
    assert read_secret(arn, purpose="stripe_secret_key") == "sk_test_by-arn"


def test_a_secrets_manager_secret_is_read_by_prefixed_name():
    create_secret("enhancer/test/replicate", "r8_from-secrets-manager")

    assert read_secret("secretsmanager:enhancer/test/replicate", "r8_inline",
                       purpose="replicate_token") == "r8_from-secrets-manager"


def test_a_binary_secret_is_decoded():
    arn = create_secret("enhancer/test/binary", b"binary-secret")

    assert read_secret(arn, purpose="owner_key_secret") == "binary-secret"


def test_the_inline_value_is_the_fallback_and_nothing_is_none():
    assert read_secret(None, Secret("inline-secret"), purpose="x") == "inline-secret"
    assert read_secret("", "inline-plain", purpose="x") == "inline-plain"
    assert read_secret(None, None, purpose="x") is None
    assert read_secret(None, purpose="x") is None


# --- the cache ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("store", ["ssm", "secretsmanager"])
def test_a_value_is_cached_until_its_max_age_then_read_again(store, later):
    if store == "ssm":
        name = "/enhancer/test/rotated"
        put_parameter(name, "first")

        def rotate() -> None:
            put_parameter(name, "second", overwrite=True)
    else:
        name = create_secret("enhancer/test/rotated", "first")

        def rotate() -> None:
            update_secret(name, "second")

    assert read_secret(name, purpose="rotated") == "first"
    rotate()
    assert read_secret(name, purpose="rotated") == "first"  # served from the cache

    later(SECRET_CACHE_SECONDS - 5)
    assert read_secret(name, purpose="rotated") == "first"
    later(SECRET_CACHE_SECONDS + 1)
    assert read_secret(name, purpose="rotated") == "second"


def test_max_age_is_the_callers_choice():
    put_parameter("/enhancer/test/uncached", "first")
    assert read_secret("/enhancer/test/uncached", purpose="x", max_age=0) == "first"
    put_parameter("/enhancer/test/uncached", "second", overwrite=True)
    assert read_secret("/enhancer/test/uncached", purpose="x", max_age=0) == "second"


def test_a_failed_read_is_not_cached():
    with pytest.raises(ServiceUnavailable):
        read_secret("/enhancer/test/late", purpose="late_secret")

    put_parameter("/enhancer/test/late", "now-there")

    assert read_secret("/enhancer/test/late", purpose="late_secret") == "now-there"


# --- failures -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "store"), [
    ("/enhancer/test/absent", "ssm"),
    ("arn:aws:secretsmanager:us-east-1:123456789012:secret:enhancer/absent-AbCdEf", "secretsmanager"),
    ("secretsmanager:enhancer/test/absent", "secretsmanager"),
    ("secretsmanager:", "secretsmanager"),
])
def test_an_unreadable_secret_is_a_503_naming_it_only_in_the_logs(name, store, logs):
    with pytest.raises(ServiceUnavailable) as caught:
        read_secret(name, "inline-is-not-used-when-a-name-is-set", purpose="stripe_secret_key")

    error = caught.value
    assert http_status(error) == 503 and error.type == "service_unavailable"
    assert error.message == NOT_READABLE
    for part in ("enhancer", "arn:", "secretsmanager", "ssm"):
        assert part not in error.message.lower()
    [record] = [r for r in logs() if r["message"] == "stripe_secret_key_unavailable"]
    assert record["level"] == "ERROR"
    assert (record["parameter"], record["store"]) == (name, store)


def test_importing_the_helper_loads_no_parameter_store_client():
    code = ("import sys, enhancer.adapters.secrets; "
            "print(sorted(m for m in ('aws_lambda_powertools.utilities.parameters', 'boto3') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
