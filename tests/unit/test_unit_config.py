"""load_settings: every variable validated at start, each problem named (docs/architecture.md §2, config.py)."""

from __future__ import annotations

import os

import pytest

from enhancer.config import load_settings
from enhancer.domain.errors import ConfigurationError

SETTINGS_VARIABLES = {
    "ENVIRONMENT", "AWS_REGION", "TABLE_NAME", "BUCKET_NAME", "DATABASE_URL", "OWNER_KEY_SECRET",
    "OWNER_KEY_SECRET_PARAMETER", "ALLOWED_ORIGINS", "IMAGE_PROXY_INLINE_MAX_BYTES",
    "IMAGE_PROXY_PRESIGN_SECONDS",
}
GOOD_SECRET = "s" * 32


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Settings are read case-insensitively: clear every spelling the process may carry.
    for name in list(os.environ):
        if name.upper() in SETTINGS_VARIABLES:
            monkeypatch.delenv(name)


def config_error() -> str:
    with pytest.raises(ConfigurationError) as info:
        load_settings()
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


@pytest.mark.parametrize("url", ["postgresql://user:pw@db/enhancer", "mysql://db/x", "sqlite:///", "sqlite://x.db",
                                 "/mnt/data/enhancer.db"])
def test_database_url_that_is_not_sqlite_is_named(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("OWNER_KEY_SECRET", GOOD_SECRET)
    monkeypatch.setenv("DATABASE_URL", url)

    message = config_error()

    assert "DATABASE_URL" in message
    assert "OWNER_KEY_SECRET" not in message


def test_sqlite_database_url_gives_its_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("DATABASE_URL", "sqlite:////tmp/enhancer-test.db")

    assert load_settings().sqlite_path == "/tmp/enhancer-test.db"


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
