"""The settings groups: each validates its own variables when loaded and names every problem
(docs/architecture.md §2, config.py). `load_settings` is the core group every function loads at cold start,
`load_enhancement_settings` the enhancement group only the code that enhances loads."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from enhancer.config import (
    EnhancementSettings,
    Secret,
    Settings,
    SettingsGroup,
    load_enhancement_settings,
    load_group,
    load_settings,
    setting,
)
from enhancer.domain.errors import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]

SETTINGS_VARIABLES = {
    "ENVIRONMENT", "AWS_REGION", "TABLE_NAME", "BUCKET_NAME", "DATABASE_URL", "OWNER_KEY_SECRET",
    "OWNER_KEY_SECRET_PARAMETER", "ALLOWED_ORIGINS", "IMAGE_PROXY_INLINE_MAX_BYTES",
    "IMAGE_PROXY_PRESIGN_SECONDS",
    # the enhancement group
    "ENHANCER_PROVIDER", "REPLICATE_API_TOKEN", "REPLICATE_API_TOKEN_PARAMETER", "REPLICATE_BASE_URL",
    "REPLICATE_HTTP_TIMEOUT_SECONDS", "GENERATE_DEADLINE_SECONDS", "LOCAL_ENGINE_QUALITY", "LOCAL_ENGINE_TILE_SIZE",
    "IMAGE_MAX_PIXELS",
}
GOOD_SECRET = "s" * 32


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Settings are read case-insensitively: clear every spelling the process may carry.
    for name in list(os.environ):
        if name.upper() in SETTINGS_VARIABLES:
            monkeypatch.delenv(name)


def config_error(load=load_settings) -> str:
    with pytest.raises(ConfigurationError) as info:
        load()
    return str(info.value)


def test_default_environment_is_production_and_needs_a_secret() -> None:
    message = config_error()

    assert "OWNER_KEY_SECRET" in message


@pytest.mark.parametrize("environment", ["production", "staging", "testing"])
def test_outside_development_a_secret_is_required(monkeypatch: pytest.MonkeyPatch, environment: str) -> None:
    monkeypatch.setenv("ENVIRONMENT", environment)

    assert "OWNER_KEY_SECRET" in config_error()


def test_production_with_a_secret_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("OWNER_KEY_SECRET", GOOD_SECRET)

    settings = load_settings()

    assert settings.environment == "production"
    assert settings.is_development is False
    assert settings.owner_key_secret is not None
    assert settings.owner_key_secret.get_secret_value() == GOOD_SECRET
    assert GOOD_SECRET not in repr(settings)


def test_production_with_a_secret_parameter_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("OWNER_KEY_SECRET_PARAMETER", "/enhancer/prod/owner-key-secret")

    settings = load_settings()

    assert settings.owner_key_secret is None
    assert settings.owner_key_secret_parameter == "/enhancer/prod/owner-key-secret"


def test_development_needs_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "development")

    settings = load_settings()

    assert settings.environment == "development"
    assert settings.is_development is True


@pytest.mark.parametrize("value", ["prod", "Production", "dev", "local", ""])
def test_bad_environment_is_named(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("ENVIRONMENT", value)
    monkeypatch.setenv("OWNER_KEY_SECRET", GOOD_SECRET)

    message = config_error()

    assert "ENVIRONMENT" in message
    assert "OWNER_KEY_SECRET" not in message


@pytest.mark.parametrize("secret", ["short", "s" * 31])
def test_short_secret_is_named(monkeypatch: pytest.MonkeyPatch, secret: str) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("OWNER_KEY_SECRET", secret)

    message = config_error()

    assert "OWNER_KEY_SECRET" in message
    assert secret not in message.replace("OWNER_KEY_SECRET", "")  # the value itself is never echoed


def test_secret_of_exactly_32_characters_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OWNER_KEY_SECRET", "x" * 32)
    assert load_settings().owner_key_secret is not None


@pytest.mark.parametrize("url", ["postgresql://user:s3cr3t@db/enhancer", "postgresql://db/x", "mysql://db/x",
                                 "sqlite:///", "sqlite://x.db", "/mnt/data/enhancer.db"])
def test_database_url_that_cannot_be_served_is_named(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("OWNER_KEY_SECRET", GOOD_SECRET)
    monkeypatch.setenv("DATABASE_URL", url)

    message = config_error()

    assert "DATABASE_URL" in message
    assert "OWNER_KEY_SECRET" not in message
    assert "s3cr3t" not in message  # a password put in the URL by mistake is not repeated in the error


def test_postgresql_database_url_is_served(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("DATABASE_URL", "postgresql://enhancer@127.0.0.1:5432/enhancer")

    assert load_settings().database_url.where == "127.0.0.1:5432/enhancer"


def test_sqlite_database_url_gives_its_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("DATABASE_URL", "sqlite:////tmp/enhancer-test.db")

    assert load_settings().database_url.path == "/tmp/enhancer-test.db"


@pytest.mark.parametrize("value", ["0", "-1", "4400001", "lots"])
def test_bad_image_proxy_inline_max_bytes_is_named(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("OWNER_KEY_SECRET", GOOD_SECRET)
    monkeypatch.setenv("IMAGE_PROXY_INLINE_MAX_BYTES", value)

    message = config_error()

    assert "IMAGE_PROXY_INLINE_MAX_BYTES" in message
    assert "DATABASE_URL" not in message


def test_allowed_origins_comma_list_is_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("ALLOWED_ORIGINS",
                       " https://App.Example.com , http://localhost:8787/ ,,www.example.com,https://x.example.com/path")

    assert load_settings().allowed_origins == (
        "https://app.example.com", "http://localhost:8787", "https://www.example.com", "https://x.example.com",
    )


def test_allowed_origins_default_and_empty_are_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "development")
    assert load_settings().allowed_origins == ()

    monkeypatch.setenv("ALLOWED_ORIGINS", "")
    assert load_settings().allowed_origins == ()


@pytest.mark.parametrize("value", ["ftp://files.example.com", "https://"])
def test_bad_allowed_origin_is_named(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("ALLOWED_ORIGINS", f"https://ok.example.com,{value}")

    assert "ALLOWED_ORIGINS" in config_error()


def test_every_problem_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "prod")
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/x")
    monkeypatch.setenv("IMAGE_PROXY_INLINE_MAX_BYTES", "0")

    message = config_error()

    for name in ("ENVIRONMENT", "DATABASE_URL", "IMAGE_PROXY_INLINE_MAX_BYTES"):
        assert name in message


# --- the enhancement group --------------------------------------------------------------------------------------

def test_the_core_group_does_not_read_the_enhancement_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("OWNER_KEY_SECRET", GOOD_SECRET)
    monkeypatch.setenv("ENHANCER_PROVIDER", "echo")  # refused in production, but only where it is used
    monkeypatch.setenv("GENERATE_DEADLINE_SECONDS", "100")

    settings = load_settings()

    assert settings.environment == "production"
    assert not hasattr(settings, "generate_deadline_seconds") and not hasattr(settings, "provider_name")
    assert "GENERATE_DEADLINE_SECONDS" in config_error(load_enhancement_settings)
    monkeypatch.delenv("GENERATE_DEADLINE_SECONDS")
    assert "ENHANCER_PROVIDER=echo" in config_error(load_enhancement_settings)


def test_the_enhancement_group_loads_with_its_defaults_and_needs_no_owner_key_secret() -> None:
    settings = load_enhancement_settings()

    assert settings.environment == "production" and settings.is_production
    assert (settings.enhancer_provider, settings.generate_deadline_seconds, settings.image_max_pixels) == (
        "auto", 25.0, 12_000_000)
    assert (settings.local_engine_quality, settings.local_engine_tile_size) == ("fast", 256)
    assert settings.replicate_base_url == "https://api.replicate.com"
    assert settings.provider_name is None  # production without a token: enhancement answers 503


@pytest.mark.parametrize("provider", ["local", "echo"])
def test_production_refuses_a_stand_in_provider(monkeypatch: pytest.MonkeyPatch, provider: str) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("ENHANCER_PROVIDER", provider)

    message = config_error(load_enhancement_settings)

    assert f"ENHANCER_PROVIDER={provider} is not allowed in production" in message


@pytest.mark.parametrize("environment", ["development", "testing", "staging"])
def test_stand_in_providers_are_allowed_outside_production(monkeypatch: pytest.MonkeyPatch, environment: str) -> None:
    monkeypatch.setenv("ENVIRONMENT", environment)
    monkeypatch.setenv("ENHANCER_PROVIDER", "echo")

    assert load_enhancement_settings().provider_name == "echo"


@pytest.mark.parametrize(("environment", "variables", "provider"), [
    ("production", {"REPLICATE_API_TOKEN": "r8_x"}, "replicate"),
    ("production", {"REPLICATE_API_TOKEN_PARAMETER": "/enhancer/prod/replicate-token"}, "replicate"),
    ("development", {}, "local"),
    ("testing", {"ENHANCER_PROVIDER": "replicate"}, "replicate"),
])
def test_the_provider_name(monkeypatch: pytest.MonkeyPatch, environment: str, variables: dict[str, str],
                           provider: str) -> None:
    monkeypatch.setenv("ENVIRONMENT", environment)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)

    assert load_enhancement_settings().provider_name == provider


@pytest.mark.parametrize(("name", "value"), [
    ("GENERATE_DEADLINE_SECONDS", "29"), ("GENERATE_DEADLINE_SECONDS", "0.5"), ("IMAGE_MAX_PIXELS", "lots"),
    ("IMAGE_MAX_PIXELS", "1000"), ("LOCAL_ENGINE_TILE_SIZE", "16"), ("LOCAL_ENGINE_TILE_SIZE", "2048"),
    ("LOCAL_ENGINE_QUALITY", "ultra"), ("REPLICATE_HTTP_TIMEOUT_SECONDS", "0"), ("ENHANCER_PROVIDER", "stripe"),
])
def test_a_bad_enhancement_variable_is_named(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv(name, value)

    message = config_error(load_enhancement_settings)

    assert message.startswith("Invalid configuration: ")
    assert name in message
    load_settings()  # the core group is not affected


def test_the_inline_replicate_token_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_secret-token-value")

    settings = load_enhancement_settings()

    assert "r8_secret-token-value" not in repr(settings)
    assert settings.replicate_api_token is not None
    assert settings.replicate_api_token.get_secret_value() == "r8_secret-token-value"


def test_every_enhancement_problem_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "prod")
    monkeypatch.setenv("GENERATE_DEADLINE_SECONDS", "60")
    monkeypatch.setenv("LOCAL_ENGINE_TILE_SIZE", "8")

    message = config_error(load_enhancement_settings)

    for name in ("ENVIRONMENT", "GENERATE_DEADLINE_SECONDS", "LOCAL_ENGINE_TILE_SIZE"):
        assert name in message


# --- the reader (config.SettingsGroup): os.environ on plain classes ---------------------------------------------

def test_variables_are_read_case_insensitively_and_unknown_ones_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("environment", "development")
    monkeypatch.setenv("Table_Name", "mixed-case-table")
    monkeypatch.setenv("TABLE_NAME_EXTRA", "ignored")

    settings = load_settings()

    assert (settings.environment, settings.table_name) == ("development", "mixed-case-table")


def test_keywords_override_the_environment_by_name_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("TABLE_NAME", "from-the-environment")

    assert Settings().aws_region == "eu-west-1"
    assert Settings(aws_region="eu-central-1").aws_region == "eu-central-1"
    assert Settings(AWS_REGION="ap-south-1", table_name="from-a-keyword").table_name == "from-a-keyword"
    assert EnhancementSettings(environment="testing", enhancer_provider="echo").provider_name == "echo"
    with pytest.raises(TypeError, match="table_nmae"):
        Settings(table_nmae="a typo")


def test_a_keyword_is_checked_like_a_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "development")

    assert Settings(image_proxy_presign_seconds="60").image_proxy_presign_seconds == 60
    assert Settings(image_proxy_presign_seconds=61).image_proxy_presign_seconds == 61
    with pytest.raises(ConfigurationError, match="IMAGE_PROXY_PRESIGN_SECONDS: must be at least 10"):
        Settings(image_proxy_presign_seconds=5)
    with pytest.raises(ConfigurationError, match="TABLE_NAME: must be at least 3 characters"):
        Settings(table_name="ab")


def test_a_group_is_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "development")
    settings = load_settings()

    with pytest.raises(FrozenInstanceError):
        settings.table_name = "other"  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        del settings.table_name
    assert settings.table_name == "enhancer-data"


def test_defaults_are_checked_like_values() -> None:
    class Odd(SettingsGroup):
        limit: int = setting(0, ge=1)

    with pytest.raises(ConfigurationError, match="LIMIT"):
        load_group(Odd)


@pytest.mark.parametrize(("raw", "value"), [("1", True), ("TRUE", True), (" yes ", True), ("on", True),
                                            ("0", False), ("false", False), ("No", False), ("off", False)])
def test_a_boolean_variable_takes_the_usual_spellings(monkeypatch: pytest.MonkeyPatch, raw: str, value: bool) -> None:
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("PUBLIC_ENABLE_CREDITS_CTA", raw)

    assert load_settings().credits_cta_enabled is value


@pytest.mark.parametrize(("name", "raw"), [("PUBLIC_ENABLE_CREDITS_CTA", "maybe"), ("UPLOAD_URL_SECONDS", "1.5"),
                                           ("UPLOAD_URL_SECONDS", ""), ("GUEST_IMAGES_PER_DAY", "many")])
def test_a_value_of_the_wrong_type_is_named_with_what_it_must_be(monkeypatch: pytest.MonkeyPatch, name: str,
                                                                 raw: str) -> None:
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv(name, raw)

    message = config_error()

    assert f"{name}: must be " in message
    assert raw.strip() == "" or raw not in message.replace(name, "")


def test_a_group_inherits_its_parents_fields_and_a_check_sees_them_all() -> None:
    class Parent(SettingsGroup):
        low: int = 1

    class Child(Parent):
        high: int = 2

        def _check_group(self) -> None:
            if self.low > self.high:
                raise ValueError("LOW must not be above HIGH")

    assert (Child().environment, Child().low, Child().high) == ("production", 1, 2)
    with pytest.raises(ConfigurationError, match="LOW must not be above HIGH"):
        Child(low=3)
    with pytest.raises(ConfigurationError, match="HIGH: must be an integer"):
        Child(low=3, high="x")  # a bad field is named, and the group's check does not run on it


def test_a_secret_is_never_shown() -> None:
    secret = Secret("s3cr3t-value")

    assert "s3cr3t" not in repr(secret) + str(secret)
    assert secret.get_secret_value() == "s3cr3t-value" and secret == Secret("s3cr3t-value") and len(secret) == 12
    assert not Secret("")


def test_the_http_functions_start_without_the_settings_librarys_sources_or_argparse() -> None:
    """pydantic-settings imported dotenv, argparse and its command-line support into every function; the
    job routes' `job_id: str` imported pydantic.v1 through FastAPI (http/requests.py:path_parameter)."""
    code = ("import runpy, sys\n"
            "for name in sys.argv[1:]:\n"
            "    runpy.run_path(f'functions/{name}/app.py')\n"
            "print(' '.join(sorted(m for m in ('pydantic_settings', 'dotenv', 'argparse', 'gettext', 'pydantic.v1')"
            " if m in sys.modules)))")
    env = {**os.environ, "ENVIRONMENT": "development", "DATABASE_URL": "sqlite:////tmp/enhancer-unused.db",
           "PYTHONPATH": f"{ROOT / 'layers' / 'core'}:{ROOT}"}
    functions = ["usage", "image_proxy", "generate", "uploads", "models", "fallback", "jobs_create", "jobs_list",
                 "job_get", "job_cancel", "job_delete", "replicate_webhook", "stripe_webhook", "billing_portal",
                 "auth_login", "auth_callback", "auth_logout", "auth_me", "auth_account", "keys_create", "keys_list",
                 "keys_revoke"]

    loaded = subprocess.run([sys.executable, "-c", code, *functions], capture_output=True, text=True, check=True,
                            cwd=ROOT, env=env).stdout

    assert loaded.split() == []
