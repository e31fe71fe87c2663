"""Settings groups through the real handlers: the core group at cold start, the enhancement group only where it
is used (generate, models, the provider factory), never for the other functions (config.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from enhancer import bootstrap
from enhancer.config import get_enhancement_settings
from tests.integration.conftest import guest_cookie, load_event, multipart, png_bytes

ROOT = Path(__file__).resolve().parents[2]
GUEST = guest_cookie("3c2b1a09-8f7e-4d6c-9b5a-4f3e2d1c0b9a")
CSRF = "0123456789abcdef0123456789abcdef"


def generate_event() -> dict:
    body, content_type = multipart({"model": "real-esrgan"}, png_bytes(64, 64))
    event = load_event("dev-login-post", path="/api/ai-image/generate",
                       cookies={"csrf_token": CSRF, "guest_id": GUEST},
                       headers={"content-type": content_type, "x-csrf-token": CSRF})
    event["routeKey"] = event["requestContext"]["routeKey"] = "POST /api/ai-image/generate"
    event["body"] = body
    return event


def models(invoke) -> dict:
    reply = invoke("ModelsFunction", load_event("usage-get", path="/api/ai-image/models"))
    assert reply.status == 200
    return reply.json()["data"]


@pytest.mark.parametrize(("variables", "provider"), [
    ({"ENHANCER_PROVIDER": "echo"}, "echo"),
    ({"ENVIRONMENT": "production"}, None),
    # The models function knows a token exists without reading it (no such parameter exists here).
    ({"ENVIRONMENT": "production", "REPLICATE_API_TOKEN_PARAMETER": "/enhancer/test/not-read"}, "replicate"),
])
def test_models_reports_the_provider_of_the_enhancement_group(invoke, aws, monkeypatch, variables, provider):
    for name in ("ENHANCER_PROVIDER", "REPLICATE_API_TOKEN", "REPLICATE_API_TOKEN_PARAMETER"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    bootstrap.reset()

    data = models(invoke)

    assert (data["provider"], data["enhancementAvailable"]) == (provider, provider is not None)
    assert get_enhancement_settings.cache_info().currsize == 1


def test_reset_drops_the_enhancement_group(aws, monkeypatch):
    monkeypatch.setenv("ENHANCER_PROVIDER", "echo")
    bootstrap.reset()
    assert get_enhancement_settings().provider_name == "echo"

    monkeypatch.setenv("ENHANCER_PROVIDER", "local")
    assert get_enhancement_settings().provider_name == "echo"  # cached per process
    bootstrap.reset()
    assert get_enhancement_settings().provider_name == "local"


def test_a_bad_enhancement_variable_stops_generate_and_is_named_in_the_log(invoke, aws, monkeypatch, logs):
    monkeypatch.setenv("ENHANCER_PROVIDER", "echo")
    monkeypatch.setenv("GENERATE_DEADLINE_SECONDS", "100")
    bootstrap.reset()

    reply = invoke("GenerateFunction", generate_event())

    assert reply.status == 503 and reply.json()["error"]["type"] == "service_unavailable"
    assert "GENERATE_DEADLINE_SECONDS" not in reply.body.decode()
    assert any("GENERATE_DEADLINE_SECONDS" in json.dumps(record) for record in logs())


def test_a_cold_start_loads_the_core_group_only():
    code = ("import runpy, sys; runpy.run_path('functions/generate/app.py'); "
            "from enhancer import config; "
            "print(config.get_settings.cache_info().currsize, config.get_enhancement_settings.cache_info().currsize)")
    env = {**os.environ, "ENVIRONMENT": "development", "PYTHONPATH": f"{ROOT / 'layers' / 'core'}:{ROOT}"}
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                            env=env).stdout
    assert loaded.split() == ["1", "0"]


def test_the_webhook_address_is_read_from_where_the_template_stores_it(aws, monkeypatch):
    import boto3

    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name="/enhancer-test/public-api-url", Type="String", Value="https://abc123.execute-api.us-east-1.amazonaws.com/")
    monkeypatch.delenv("PUBLIC_API_URL", raising=False)
    monkeypatch.setenv("PUBLIC_API_URL_PARAMETER", "/enhancer-test/public-api-url")
    bootstrap.reset()

    assert bootstrap.get_job_settings().webhooks is True
    assert bootstrap.public_api_url() == "https://abc123.execute-api.us-east-1.amazonaws.com"
    monkeypatch.setenv("PUBLIC_API_URL_PARAMETER", "")
    bootstrap.reset()
    assert bootstrap.public_api_url() is None and bootstrap.get_job_settings().webhooks is False
