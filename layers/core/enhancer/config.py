"""The settings the functions read from the environment, in groups, each validated once, when first loaded
(README: Configuration).

Every function loads the core group, `Settings`, at cold start (`get_settings()`, from the app factory). Any
other group is loaded only by the code that uses it — `EnhancementSettings` by the generate and models routes
and the provider factory (`get_enhancement_settings()`) — so a function that never enhances starts without
its variables and is not stopped by them. A new group (Stripe, jobs) is one more `SettingsGroup` subclass with
its `get_…` accessor, cleared in `bootstrap.reset()` (docs/architecture.md §2).

Annotations here are evaluated as each class is defined (no `from __future__ import annotations`): pydantic
would otherwise evaluate every field's annotation string for each group and again for each subclass.
"""

import json
import os
from collections.abc import Mapping, Sequence, Set
from functools import lru_cache
from types import UnionType
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from enhancer.adapters.sql.url import DatabaseUrl
from enhancer.domain.errors import ConfigurationError

if TYPE_CHECKING:
    from enhancer.domain.billing import PriceTables

Environment = Literal["development", "testing", "staging", "production"]

# Only for ENVIRONMENT=development, so a laptop needs no secret; every other environment must set its own.
DEVELOPMENT_OWNER_KEY_SECRET = "development-only-owner-key-secret-not-for-production"  # noqa: S105


def _normalise_origin(value: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(value.strip() if "://" in value else f"https://{value.strip()}")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an origin: {value!r}")
    return f"{parts.scheme}://{parts.netloc}".lower()


# A group's config is pydantic's own ConfigDict; the old name stays for groups written against it.
SettingsConfigDict = ConfigDict


class NoDecode:
    """Field metadata (`Annotated[tuple[str, ...], NoDecode]`): the variable reaches the field's validators as
    the raw string (a comma list they split), not decoded as JSON first as other list, tuple, set, dict and model
    fields are."""


def _is_complex(annotation: Any) -> bool:
    """Whether a variable for this type is written as JSON: collections and models, not strings or scalars."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _is_complex(get_args(annotation)[0])
    if origin is Union or origin is UnionType:
        return any(_is_complex(arg) for arg in get_args(annotation) if arg is not type(None))
    target = origin or annotation
    if not isinstance(target, type) or issubclass(target, (str, bytes, bytearray, SecretStr)):
        return False
    return issubclass(target, (BaseModel, Mapping, Sequence, Set))


def _variable_names(name: str, field: FieldInfo) -> tuple[str, list[str]]:
    """The key a field's value is validated under (its alias, if it has one) and the variables that may set it,
    lowercased; the first one set wins."""
    alias = field.validation_alias
    if isinstance(alias, str):
        return alias, [alias.lower()]
    if isinstance(alias, AliasChoices):
        choices = [choice for choice in alias.choices if isinstance(choice, str)]
        if choices:
            return choices[0], [choice.lower() for choice in choices]
    return name, [name.lower()]


def _from_environment(group: "type[SettingsGroup]") -> dict[str, Any]:
    """The group's fields that the environment sets, keyed as the model validates them. Names are matched
    case-insensitively; variables no field names are ignored; an empty value is a value (not "unset")."""
    environment = {name.lower(): value for name, value in os.environ.items()}
    values: dict[str, Any] = {}
    for name, field in group.model_fields.items():
        key, candidates = _variable_names(name, field)
        raw = next((environment[candidate] for candidate in candidates if candidate in environment), None)
        if raw is None:
            continue
        if _is_complex(field.annotation) and not any(m is NoDecode or isinstance(m, NoDecode) for m in field.metadata):
            try:
                values[key] = json.loads(raw)
            except ValueError:
                values[key] = raw  # not JSON: validation refuses it and names the variable
        else:
            values[key] = raw
    return values


class SettingsGroup(BaseModel):
    """What every group shares: variables read case-insensitively, unknown ones ignored, values frozen; and the
    environment, which each group reads (and checks) itself.

    Read from `os.environ` here rather than with pydantic-settings: its sources (dotenv, the command line and
    argparse, secrets directories) are imported whole by every function at cold start and none is used.
    Keyword arguments override the environment, by field name or alias; defaults are validated too. Every
    group's schema is built when it is first loaded (`defer_build`, inherited): this base and
    `DatabaseSettings` are never loaded by a function, so they never pay for one."""

    model_config = ConfigDict(extra="ignore", frozen=True, validate_default=True, arbitrary_types_allowed=True,
                              defer_build=True)

    def __init__(self, **values: Any) -> None:
        data = _from_environment(type(self))
        fields = type(self).model_fields
        for name, value in values.items():
            data[_variable_names(name, fields[name])[0] if name in fields else name] = value
        super().__init__(**data)

    environment: Environment = "production"

    @property
    def is_development(self) -> bool:
        return self.environment == "development"

    @property
    def is_production(self) -> bool:
        return self.environment == "production"


class DatabaseSettings(SettingsGroup):
    """The relational store alone: what `enhancer-db` needs, and part of the core group."""

    database_url: DatabaseUrl = DatabaseUrl("sqlite:////mnt/data/enhancer.db")

    @field_validator("database_url", mode="plain")
    @classmethod
    def _check_database_url(cls, value: object) -> DatabaseUrl:
        # Parsed once, here; a URL the SQL adapters cannot serve is refused with what they accept.
        return DatabaseUrl(value)


class Settings(DatabaseSettings):
    """The core group, loaded by every function at cold start: AWS resources, the database, the owner-key
    secret, origins, the image proxy, upload forms, guest bounds and the UI flags."""

    aws_region: str = Field(default="us-east-1", validation_alias="AWS_REGION")
    table_name: str = Field(default="enhancer-data", min_length=3, max_length=255)
    bucket_name: str = Field(default="enhancer-images", min_length=3, max_length=63)
    owner_key_secret: SecretStr | None = None
    owner_key_secret_parameter: str | None = None
    allowed_origins: Annotated[tuple[str, ...], NoDecode] = ()
    # This site's public origin: where Stripe and Cognito send the browser back, and the origin of the image URLs
    # the API answers (behind CloudFront the API sees its own execute-api host). Unset: the request's origin.
    base_url: str | None = None
    image_proxy_inline_max_bytes: int = Field(default=4_000_000, ge=1, le=4_400_000)
    image_proxy_presign_seconds: int = Field(default=300, ge=10, le=3600)
    upload_url_seconds: int = Field(default=600, ge=60, le=3600)
    # Guests together (README: Plans, cost and credits): per client IP per hour, and all of them per UTC day.
    guest_images_per_ip_per_hour: int = Field(default=20, ge=0, le=100_000)
    guest_images_per_day: int = Field(default=2000, ge=0, le=10_000_000)
    public_enable_credits_cta: bool | None = None
    public_enhancer_plan_gating_v1: bool = True

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(_normalise_origin(v) for v in value.split(",") if v.strip())
        return value

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        return _normalise_origin(value) if value and value.strip() else None

    @field_validator("owner_key_secret")
    @classmethod
    def _check_secret_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    @model_validator(mode="after")
    def _require_secret_outside_development(self) -> "Settings":
        if self.environment != "development" and not (self.owner_key_secret or self.owner_key_secret_parameter):
            raise ValueError(
                "OWNER_KEY_SECRET or OWNER_KEY_SECRET_PARAMETER must be set outside development")
        return self

    @property
    def credits_cta_enabled(self) -> bool:
        """Shown by default in development, hidden by default in production; `1`/`0` decide when set."""
        if self.public_enable_credits_cta is not None:
            return self.public_enable_credits_cta
        return not self.is_production


class EnhancementSettings(SettingsGroup):
    """The enhancement group: the provider and its knobs, the generate deadline and the image size bound.
    Loaded by the code that enhances or reports the provider, never at a cold start."""

    # Built on first load, not at import: functions that never load the group do not pay for its schema.
    model_config = ConfigDict(defer_build=True)

    enhancer_provider: Literal["auto", "replicate", "local", "echo"] = "auto"
    replicate_api_token: SecretStr | None = None
    replicate_api_token_parameter: str | None = None
    replicate_base_url: str = "https://api.replicate.com"
    replicate_http_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # The secret Replicate signs its webhooks with (`whsec_…`, GET /v1/webhooks/default/secret).
    replicate_webhook_secret: SecretStr | None = None
    replicate_webhook_secret_parameter: str | None = None
    generate_deadline_seconds: float = Field(default=25.0, ge=1, le=28)
    local_engine_quality: Literal["fast", "best"] = "fast"
    local_engine_tile_size: int = Field(default=256, ge=0, le=1024)  # 0: the engine picks; else at least 32
    image_max_pixels: int = Field(default=12_000_000, ge=1024, le=50_000_000)

    @field_validator("local_engine_tile_size")
    @classmethod
    def _check_tile_size(cls, value: int) -> int:
        if 0 < value < 32:
            raise ValueError("must be 0 (automatic) or at least 32")
        return value

    @model_validator(mode="after")
    def _no_stand_in_provider_in_production(self) -> "EnhancementSettings":
        if self.is_production and self.enhancer_provider in ("local", "echo"):
            raise ValueError(f"ENHANCER_PROVIDER={self.enhancer_provider} is not allowed in production "
                             "(use replicate, or auto with REPLICATE_API_TOKEN)")
        return self

    @property
    def has_replicate_token(self) -> bool:
        return bool(self.replicate_api_token or self.replicate_api_token_parameter)

    @property
    def provider_name(self) -> str | None:
        """The provider enhancement routes use; None when production has no token (they answer 503)."""
        if self.enhancer_provider != "auto":
            return self.enhancer_provider
        if self.has_replicate_token:
            return "replicate"
        return None if self.is_production else "local"


class BillingSettings(SettingsGroup):
    """The billing group: Stripe's secrets, our price tables and where checkout returns to. Loaded by the billing
    functions alone; every other function starts without these variables."""

    model_config = ConfigDict(defer_build=True)

    stripe_secret: SecretStr | None = None
    stripe_secret_parameter: str | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_webhook_secret_parameter: str | None = None
    stripe_api_base: str | None = None  # a Stripe-compatible API (tests); unset, Stripe's own
    # plan → price id (JSON), per interval; pack size → price id.
    pricing_table: str | None = None
    pricing_table_annual: str | None = None
    credits_pricing_table: str | None = None

    @model_validator(mode="after")
    def _check_price_tables(self) -> "BillingSettings":
        self.price_tables()  # a broken table is a configuration error at load, not a wrong plan later
        return self

    def price_tables(self) -> "PriceTables":
        # Imported here: only the billing functions load this group, and every function imports this module.
        from enhancer.domain.billing import PriceTables

        try:
            return PriceTables.parse(self.pricing_table, self.pricing_table_annual, self.credits_pricing_table)
        except ValueError as exc:
            raise ValueError(f"PRICING_TABLE, PRICING_TABLE_ANNUAL or CREDITS_PRICING_TABLE: {exc}") from None


class AuthSettings(SettingsGroup):
    """The sign-in group: the Cognito user pool, its app client and managed-login domain, and this site's
    callback's path (the origin is the core group's BASE_URL). Loaded by the auth functions alone."""

    model_config = ConfigDict(defer_build=True)

    aws_region: str = Field(default="us-east-1", validation_alias="AWS_REGION")
    cognito_user_pool_id: str | None = None
    cognito_client_id: str | None = None
    # A confidential client's secret, for a team bringing its own pool; the template's client has none (PKCE).
    cognito_client_secret: SecretStr | None = None
    cognito_client_secret_parameter: str | None = None
    cognito_domain: str | None = None  # the managed login's base URL, https://<prefix>.auth.<region>.amazoncognito.com
    # Where the ID tokens' issuer and keys are (tests point them at a stand-in); unset, Cognito's own.
    cognito_issuer: str | None = None
    cognito_jwks_url: str | None = None

    @field_validator("cognito_domain", "cognito_issuer", "cognito_jwks_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.strip().lower().startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value.strip().rstrip("/")

    @property
    def configured(self) -> bool:
        return bool(self.cognito_user_pool_id and self.cognito_client_id and self.cognito_domain)

    @property
    def issuer(self) -> str:
        return self.cognito_issuer or f"https://cognito-idp.{self.aws_region}.amazonaws.com/{self.cognito_user_pool_id}"

    @property
    def jwks_url(self) -> str:
        return self.cognito_jwks_url or f"{self.issuer}/.well-known/jwks.json"


Group = TypeVar("Group", bound=SettingsGroup)


def load_group(group: type[Group]) -> Group:
    """A settings group from the environment, or a ConfigurationError whose message names each bad variable."""
    try:
        return group()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            location = ".".join(str(part) for part in error["loc"]).upper()
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{location}: {message}" if location else message)
        raise ConfigurationError("Invalid configuration: " + "; ".join(problems)) from None


def load_settings() -> Settings:
    """The core group from the environment (ConfigurationError naming each bad variable)."""
    return load_group(Settings)


def load_enhancement_settings() -> EnhancementSettings:
    """The enhancement group from the environment (ConfigurationError naming each bad variable)."""
    return load_group(EnhancementSettings)


class JobSettings(SettingsGroup):
    """The jobs group: the workflow that runs jobs, where Replicate can call back, and how long a job may take.
    Loaded by the job routes, the workflow tasks and the sweeper."""

    model_config = ConfigDict(defer_build=True)

    state_machine_arn: str | None = None
    # The API's public base URL (https://…), where Replicate's webhooks come back; the task that creates the
    # prediction reads it. The routes only need to know that webhooks come back (in AWS they always do, and a
    # route function cannot name its own API's URL: CloudFormation would see a cycle), so REPLICATE_WEBHOOKS
    # says it; unset, webhooks are used where PUBLIC_API_URL is set. Without them the workflow polls.
    public_api_url: str | None = None
    # Or where that URL is stored (an SSM parameter name): the template's way, since the task that needs it
    # cannot name the API it belongs to without a cycle.
    public_api_url_parameter: str | None = None
    replicate_webhooks: bool | None = None
    job_timeout_seconds: int = Field(default=900, ge=60, le=86_400)
    # Development and tests only (refused in staging and production): completion callbacks to a local HTTPS
    # receiver. `name=IP,…` resolves those names to those addresses (which may then be loopback; an address in
    # the URL itself never may), and the CA bundle is what the sender trusts instead of the public roots.
    callback_test_hosts: str | None = None
    callback_test_ca_bundle: str | None = None

    @model_validator(mode="after")
    def _callback_test_settings_only_in_development(self) -> "JobSettings":
        for name in ("callback_test_hosts", "callback_test_ca_bundle"):
            if getattr(self, name) and self.environment in ("staging", "production"):
                raise ValueError(f"{name.upper()} is for development and testing only, not {self.environment}")
        if self.callback_test_hosts:
            from enhancer.domain.callbacks import parse_test_hosts

            parse_test_hosts(self.callback_test_hosts)  # ValueError names the bad entry
        return self

    @property
    def webhooks(self) -> bool:
        if self.replicate_webhooks is not None:
            return self.replicate_webhooks
        return bool(self.public_api_url or self.public_api_url_parameter)

    @field_validator("public_api_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.strip().lower().startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value.strip().rstrip("/")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The core group, once per process (every function, at cold start)."""
    return load_settings()


@lru_cache(maxsize=1)
def get_enhancement_settings() -> EnhancementSettings:
    """The enhancement group, once per process, on first use."""
    return load_enhancement_settings()


@lru_cache(maxsize=1)
def get_billing_settings() -> BillingSettings:
    """The billing group, once per process, on first use."""
    return load_group(BillingSettings)


@lru_cache(maxsize=1)
def get_auth_settings() -> AuthSettings:
    """The sign-in group, once per process, on first use."""
    return load_group(AuthSettings)


@lru_cache(maxsize=1)
def get_job_settings() -> JobSettings:
    """The jobs group, once per process, on first use."""
    return load_group(JobSettings)
