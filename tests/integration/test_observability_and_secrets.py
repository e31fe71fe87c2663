"""Powertools logs carry the request id; EMF metrics are emitted; the owner-key secret can live in SSM or Secrets
Manager; a function that does not enhance starts without the enhancement settings."""

from __future__ import annotations

import json
import sys

from enhancer import bootstrap
from enhancer.config import get_enhancement_settings
from enhancer.domain.identity import guest_cookie_value, guest_owner_key
from tests.integration.conftest import guest_cookie, load_event, start_in_a_fresh_rate_window

GUEST_ID = "0d9c8b7a-6f5e-4d3c-9b2a-1f0e9d8c7b6a"
GUEST = guest_cookie(GUEST_ID)


def _json_lines(text: str) -> list[dict]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return lines


def test_a_rejection_is_logged_with_the_request_id_and_counted(invoke, capsys):
    from enhancer.observability import logger

    # The log handler keeps the stdout it was created with; point it at this test's captured stdout.
    previous = logger.registered_handler.setStream(sys.stdout)
    start_in_a_fresh_rate_window()
    try:
        for _ in range(31):
            reply = invoke("UsageFunction", load_event("usage-get", cookies={"guest_id": GUEST}))
    finally:
        logger.registered_handler.setStream(previous)
    assert reply.status == 429

    records = _json_lines(capsys.readouterr().out)
    [log] = [r for r in records if r.get("message") == "rate_limit_exceeded"]
    assert log["correlation_id"] == "c0ffee00-0000-4000-8000-000000000001"  # requestContext.requestId
    assert log["limiter"] == "api" and log["function_name"] == "UsageFunction"
    assert GUEST not in json.dumps(log)  # ids are masked, the cookie never logged
    metrics = [r for r in records if "_aws" in r and "rate_limit_rejected" in r]
    assert len(metrics) == 1 and metrics[0]["rate_limit_rejected"] == [1.0]
    assert metrics[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "EnhancerTest"


def test_the_owner_key_secret_is_read_from_ssm(invoke, aws, monkeypatch):
    import boto3

    secret = "s" * 48
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name="/enhancer/test/owner-key-secret", Value=secret, Type="SecureString")
    monkeypatch.delenv("OWNER_KEY_SECRET")
    monkeypatch.setenv("OWNER_KEY_SECRET_PARAMETER", "/enhancer/test/owner-key-secret")
    monkeypatch.setenv("ENVIRONMENT", "production")
    bootstrap.reset()

    cookie = guest_cookie_value(secret.encode(), GUEST_ID)
    reply = invoke("UsageFunction", load_event("usage-get", cookies={"guest_id": cookie}))

    assert reply.status == 200
    assert not reply.set_cookies  # a cookie signed with the secret in SSM is honoured
    keys = [item["pk"]["S"] for item in aws.dynamodb.scan(TableName="enhancer-test")["Items"]]
    assert any(key.endswith(f":g:{guest_owner_key(secret.encode(), GUEST_ID)}:" + key.rsplit(":", 1)[1])
               for key in keys), keys


def test_a_missing_ssm_secret_is_a_503_not_a_leak(invoke, aws, monkeypatch):
    monkeypatch.delenv("OWNER_KEY_SECRET")
    monkeypatch.setenv("OWNER_KEY_SECRET_PARAMETER", "/enhancer/test/absent")
    bootstrap.reset()

    reply = invoke("UsageFunction", load_event("usage-get"))

    assert reply.status == 503
    assert reply.json()["error"]["type"] == "service_unavailable"
    assert "/enhancer/test/absent" not in reply.body.decode()


def test_the_owner_key_secret_can_live_in_secrets_manager(invoke, aws, monkeypatch):
    import boto3

    secret = "m" * 40
    boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="enhancer/test/owner-key-secret", SecretString=secret)
    monkeypatch.delenv("OWNER_KEY_SECRET")
    monkeypatch.setenv("OWNER_KEY_SECRET_PARAMETER", "secretsmanager:enhancer/test/owner-key-secret")
    bootstrap.reset()

    cookie = guest_cookie_value(secret.encode(), GUEST_ID)
    reply = invoke("UsageFunction", load_event("usage-get", cookies={"guest_id": cookie}))

    assert reply.status == 200
    assert not reply.set_cookies  # a cookie signed with the secret in Secrets Manager is honoured
    assert bootstrap.owner_secret() == secret.encode()


def test_a_function_that_does_not_enhance_starts_without_the_enhancement_settings(invoke, aws, monkeypatch):
    # Both would stop an enhancement route (production refuses echo; the deadline is at most 28 s).
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("ENHANCER_PROVIDER", "echo")
    monkeypatch.setenv("GENERATE_DEADLINE_SECONDS", "100")
    bootstrap.reset()

    reply = invoke("UsageFunction", load_event("usage-get", cookies={"guest_id": GUEST}))

    assert reply.status == 200
    assert get_enhancement_settings.cache_info().currsize == 0  # never loaded
