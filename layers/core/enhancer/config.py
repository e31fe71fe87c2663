"""The settings the functions read from the environment, in groups, each validated once, when first loaded
(README: Configuration).

Every function loads the core group, `Settings`, at cold start (`get_settings()`, from the app factory). Any
other group is loaded only by the code that uses it — `EnhancementSettings` by the generate and models routes
and the provider factory (`get_enhancement_settings()`) — so a function that never enhances starts without
its variables and is not stopped by them. A new group (Stripe, jobs) is one more `SettingsGroup` subclass with
its `get_…` accessor, cleared in `bootstrap.reset()` (docs/architecture.md §2).

A group is a plain class, not a pydantic model: every function imports this module at cold start, and building
seven pydantic models (and the core group's schema) cost about 5 ms of it (docs/architecture.md §10). A field
is an annotation and a default, or `setting(default, …)` with bounds and a `check`; its variable is its name in
capitals, read case-insensitively.
"""

import inspect
import os
from collections.abc import Callable
from dataclasses import FrozenInstanceError
from functools import lru_cache
from types import UnionType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin

from enhancer.adapters.sql.url import DatabaseUrl
from enhancer.domain.errors import ConfigurationError

if TYPE_CHECKING:
    from enhancer.domain.billing import PriceTables

Environment = Literal["development", "testing", "staging", "production"]

# Only for ENVIRONMENT=development, so a laptop needs no secret; every other environment must set its own.
DEVELOPMENT_OWNER_KEY_SECRET = "development-only-owner-key-secret-not-for-production"  # noqa: S105

_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off"})


class Secret:
    """A secret setting: shown as asterisks in every repr, str and error; `get_secret_value()` reads it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __str__(self) -> str:
        return "**********" if self._value else ""

    def __repr__(self) -> str:
        return f"Secret({str(self)!r})"


class _Setting:
    """A field's default and what its value must satisfy (`setting()`)."""

    __slots__ = ("annotation", "check", "default", "ge", "gt", "le", "max_length", "min_length", "name")

    def __init__(self, default: Any, *, ge: float | None, gt: float | None, le: float | None,
                 min_length: int | None, max_length: int | None, check: Callable[[Any], Any] | None) -> None:
        self.default, self.ge, self.gt, self.le = default, ge, gt, le
        self.min_length, self.max_length, self.check = min_length, max_length, check
        self.name, self.annotation = "", Any

    @property
    def variable(self) -> str:
        return self.name.upper()

    def value(self, raw: Any) -> Any:
        """The field's value from a variable's text (or a keyword's value), or ValueError saying what it must be."""
        value = _convert(self.annotation, raw)
        if value is not None:
            self._check_bounds(value)
        return self.check(value) if self.check else value

    def _check_bounds(self, value: Any) -> None:
        if self.ge is not None and value < self.ge:
            raise ValueError(f"must be at least {self.ge}")
        if self.gt is not None and value <= self.gt:
            raise ValueError(f"must be greater than {self.gt}")
        if self.le is not None and value > self.le:
            raise ValueError(f"must be at most {self.le}")
        if self.min_length is not None and len(value) < self.min_length:
            raise ValueError(f"must be at least {self.min_length} characters")
        if self.max_length is not None and len(value) > self.max_length:
            raise ValueError(f"must be at most {self.max_length} characters")


def setting(default: Any = None, *, ge: float | None = None, gt: float | None = None, le: float | None = None,
            min_length: int | None = None, max_length: int | None = None,
            check: Callable[[Any], Any] | None = None) -> Any:
    """A field with bounds (numbers: `ge`, `gt`, `le`; text: `min_length`, `max_length`) and a `check` that
    gets the parsed value and returns it (or what it normalises to), or raises ValueError saying what is wrong."""
    return _Setting(default, ge=ge, gt=gt, le=le, min_length=min_length, max_length=max_length, check=check)


def _convert(annotation: Any, raw: Any) -> Any:
    """`raw` (a variable's text, or a keyword's value) as the annotation's type: str, int, float, bool, a
    Literal, `X | None`, or a class built from the text (Secret, DatabaseUrl)."""
    origin = get_origin(annotation)
    if origin is Union or origin is UnionType:
        if raw is None:
            return None
        (inner,) = [arg for arg in get_args(annotation) if arg is not type(None)]
        return _convert(inner, raw)
    if origin is Literal:
        if raw in get_args(annotation):
            return raw
        raise ValueError("must be one of: " + ", ".join(str(choice) for choice in get_args(annotation)))
    if annotation is bool:
        return _boolean(raw)
    if annotation is int or annotation is float:
        return _number(annotation, raw)
    if annotation is str:
        if not isinstance(raw, str):
            raise ValueError("must be text")
        return raw
    if origin is tuple:  # a `check` splits the variable's text
        return raw if isinstance(raw, (str, tuple)) else tuple(raw)
    return raw if isinstance(raw, annotation) else annotation(raw)


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError("must be true or false (1 or 0)")


def _number(kind: type, raw: Any) -> Any:
    if isinstance(raw, bool):
        raise ValueError(f"must be {'an integer' if kind is int else 'a number'}")
    try:
        return kind(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError):
        raise ValueError(f"must be {'an integer' if kind is int else 'a number'}") from None


def _environment_value(variable: str, environment: dict[str, str]) -> str | None:
    """The variable's value, by its name in capitals or, failing that, in any case."""
    if variable in os.environ:
        return os.environ[variable]
    return environment.get(variable.lower())


def _normalise_origin(value: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(value.strip() if "://" in value else f"https://{value.strip()}")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an origin: {value!r}")
    return f"{parts.scheme}://{parts.netloc}".lower()


def _origins(value: str | tuple[str, ...]) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    return tuple(_normalise_origin(item) for item in items if item.strip())


def _base_url(value: str | None) -> str | None:
    return _normalise_origin(value) if value and value.strip() else None


def _http_url(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    if not value.strip().lower().startswith(("https://", "http://")):
        raise ValueError("must be an http(s) URL")
    return value.strip().rstrip("/")


def _long_secret(value: Secret | None) -> Secret | None:
    if value is not None and len(value) < 32:
        raise ValueError("must be at least 32 characters")
    return value


def _tile_size(value: int) -> int:
    if 0 < value < 32:
        raise ValueError("must be 0 (automatic) or at least 32")
    return value


class SettingsGroup:
    """What every group shares: its fields read from `os.environ` (case-insensitively; variables no field names
    are ignored; an empty value is a value, not "unset"), keyword arguments over the environment, defaults
    checked like values, and the instance frozen. `ConfigurationError` names every bad variable at once; a
    group's `_check_group` then judges the fields together (ValueError)."""

    _fields: ClassVar[dict[str, _Setting]]

    environment: Environment = "production"

    @classmethod
    def _group_fields(cls) -> dict[str, _Setting]:
        """The group's fields (its own and its bases'), collected when the group is first loaded: a function
        loads one or two of the groups this module defines."""
        fields: dict[str, _Setting] | None = vars(cls).get("_fields")
        if fields is not None:
            return fields
        fields = {}
        for klass in reversed(cls.__mro__):
            annotations = vars(klass).get("__annotations__", {})
            if any(isinstance(annotation, str) for annotation in annotations.values()):
                # A module with `from __future__ import annotations`: its names are resolved here.
                annotations = inspect.get_annotations(klass, eval_str=True)
            for name, annotation in annotations.items():
                if get_origin(annotation) is ClassVar:
                    continue
                declared = vars(klass).get(name)
                spec = declared if isinstance(declared, _Setting) else setting(declared)
                spec.name, spec.annotation = name, annotation
                fields[name] = spec
        cls._fields = fields
        return fields

    def __init__(self, **values: Any) -> None:
        fields = type(self)._group_fields()
        given = {key.lower(): value for key, value in values.items()}
        unknown = sorted(set(given) - set(fields))
        if unknown:
            raise TypeError(f"{type(self).__name__} has no setting {unknown[0]!r}")
        environment = {name.lower(): value for name, value in os.environ.items()}
        problems = []
        for name, spec in fields.items():
            raw = given[name] if name in given else _environment_value(spec.variable, environment)
            try:
                object.__setattr__(self, name, spec.value(spec.default if raw is None else raw))
            except ValueError as exc:
                problems.append(f"{spec.variable}: {exc}")
        if not problems:
            try:
                self._check_group()
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            raise ConfigurationError("Invalid configuration: " + "; ".join(problems))

    def _check_group(self) -> None:
        """What the fields must satisfy together (ValueError); every field is valid when this runs."""

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to setting {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete setting {name!r}")

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in type(self)._group_fields())
        return f"{type(self).__name__}({shown})"

    @property
    def is_development(self) -> bool:
        return self.environment == "development"

    @property
    def is_production(self) -> bool:
        return self.environment == "production"


class DatabaseSettings(SettingsGroup):
    """The relational store alone: what `enhancer-db` needs, and part of the core group."""

    # Parsed once, here; a URL the SQL adapters cannot serve is refused with what they accept.
    database_url: DatabaseUrl = DatabaseUrl("sqlite:////mnt/data/enhancer.db")


class Settings(DatabaseSettings):
    """The core group, loaded by every function at cold start: AWS resources, the database, the owner-key
    secret, origins, the image proxy, upload forms, guest bounds and the UI flags."""

    aws_region: str = "us-east-1"
    table_name: str = setting("enhancer-data", min_length=3, max_length=255)
    bucket_name: str = setting("enhancer-images", min_length=3, max_length=63)
    owner_key_secret: Secret | None = setting(check=_long_secret)
    owner_key_secret_parameter: str | None = None
    allowed_origins: tuple[str, ...] = setting((), check=_origins)  # a comma list
    # This site's public origin: where Stripe and Cognito send the browser back, and the origin of the image URLs
    # the API answers (behind CloudFront the API sees its own execute-api host). Unset: the request's origin.
    base_url: str | None = setting(check=_base_url)
    image_proxy_inline_max_bytes: int = setting(4_000_000, ge=1, le=4_400_000)
    image_proxy_presign_seconds: int = setting(300, ge=10, le=3600)
    upload_url_seconds: int = setting(600, ge=60, le=3600)
    # Guests together (README: Plans, cost and credits): per client IP per hour, and all of them per UTC day.
    guest_images_per_ip_per_hour: int = setting(20, ge=0, le=100_000)
    guest_images_per_day: int = setting(2000, ge=0, le=10_000_000)
    public_enable_credits_cta: bool | None = None
    public_enhancer_plan_gating_v1: bool = True

    def _check_group(self) -> None:
        if self.environment != "development" and not (self.owner_key_secret or self.owner_key_secret_parameter):
            raise ValueError("OWNER_KEY_SECRET or OWNER_KEY_SECRET_PARAMETER must be set outside development")

    @property
    def credits_cta_enabled(self) -> bool:
        """Shown by default in development, hidden by default in production; `1`/`0` decide when set."""
        if self.public_enable_credits_cta is not None:
            return self.public_enable_credits_cta
        return not self.is_production


class EnhancementSettings(SettingsGroup):
    """The enhancement group: the provider and its knobs, the generate deadline and the image size bound.
    Loaded by the code that enhances or reports the provider, never at a cold start."""

    enhancer_provider: Literal["auto", "replicate", "local", "echo"] = "auto"
    replicate_api_token: Secret | None = None
    replicate_api_token_parameter: str | None = None
    replicate_base_url: str = "https://api.replicate.com"
    replicate_http_timeout_seconds: float = setting(10.0, gt=0, le=60)
    # The secret Replicate signs its webhooks with (`whsec_…`, GET /v1/webhooks/default/secret).
    replicate_webhook_secret: Secret | None = None
    replicate_webhook_secret_parameter: str | None = None
    generate_deadline_seconds: float = setting(25.0, ge=1, le=28)
    local_engine_quality: Literal["fast", "best"] = "fast"
    local_engine_tile_size: int = setting(256, ge=0, le=1024, check=_tile_size)  # 0: the engine picks
    image_max_pixels: int = setting(12_000_000, ge=1024, le=50_000_000)

    def _check_group(self) -> None:
        if self.is_production and self.enhancer_provider in ("local", "echo"):
            raise ValueError(f"ENHANCER_PROVIDER={self.enhancer_provider} is not allowed in production "
                             "(use replicate, or auto with REPLICATE_API_TOKEN)")

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

    stripe_secret: Secret | None = None
    stripe_secret_parameter: str | None = None
    stripe_webhook_secret: Secret | None = None
    stripe_webhook_secret_parameter: str | None = None
    stripe_api_base: str | None = None  # a Stripe-compatible API (tests); unset, Stripe's own
    # plan → price id (JSON), per interval; pack size → price id.
    pricing_table: str | None = None
    pricing_table_annual: str | None = None
    credits_pricing_table: str | None = None

    def _check_group(self) -> None:
        self.price_tables()  # a broken table is a configuration error at load, not a wrong plan later

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

    aws_region: str = "us-east-1"
    cognito_user_pool_id: str | None = None
    cognito_client_id: str | None = None
    # A confidential client's secret, for a team bringing its own pool; the template's client has none (PKCE).
    cognito_client_secret: Secret | None = None
    cognito_client_secret_parameter: str | None = None
    # The managed login's base URL, https://<prefix>.auth.<region>.amazoncognito.com
    cognito_domain: str | None = setting(check=_http_url)
    # Where the ID tokens' issuer and keys are (tests point them at a stand-in); unset, Cognito's own.
    cognito_issuer: str | None = setting(check=_http_url)
    cognito_jwks_url: str | None = setting(check=_http_url)

    @property
    def configured(self) -> bool:
        return bool(self.cognito_user_pool_id and self.cognito_client_id and self.cognito_domain)

    @property
    def issuer(self) -> str:
        return self.cognito_issuer or f"https://cognito-idp.{self.aws_region}.amazonaws.com/{self.cognito_user_pool_id}"

    @property
    def jwks_url(self) -> str:
        return self.cognito_jwks_url or f"{self.issuer}/.well-known/jwks.json"


class JobSettings(SettingsGroup):
    """The jobs group: the workflow that runs jobs, where Replicate can call back, and how long a job may take.
    Loaded by the job routes, the workflow tasks and the sweeper."""

    state_machine_arn: str | None = None
    # The API's public base URL (https://…), where Replicate's webhooks come back; the task that creates the
    # prediction reads it. The routes only need to know that webhooks come back (in AWS they always do, and a
    # route function cannot name its own API's URL: CloudFormation would see a cycle), so REPLICATE_WEBHOOKS
    # says it; unset, webhooks are used where PUBLIC_API_URL is set. Without them the workflow polls.
    public_api_url: str | None = setting(check=_http_url)
    # Or where that URL is stored (an SSM parameter name): the template's way, since the task that needs it
    # cannot name the API it belongs to without a cycle.
    public_api_url_parameter: str | None = None
    replicate_webhooks: bool | None = None
    job_timeout_seconds: int = setting(900, ge=60, le=86_400)
    # Development and tests only (refused in staging and production): completion callbacks to a local HTTPS
    # receiver. `name=IP,…` resolves those names to those addresses (which may then be loopback; an address in
    # the URL itself never may), and the CA bundle is what the sender trusts instead of the public roots.
    callback_test_hosts: str | None = None
    callback_test_ca_bundle: str | None = None

    def _check_group(self) -> None:
        for name in ("callback_test_hosts", "callback_test_ca_bundle"):
            if getattr(self, name) and self.environment in ("staging", "production"):
                raise ValueError(f"{name.upper()} is for development and testing only, not {self.environment}")
        if self.callback_test_hosts:
            from enhancer.domain.callbacks import parse_test_hosts

            parse_test_hosts(self.callback_test_hosts)  # ValueError names the bad entry

    @property
    def webhooks(self) -> bool:
        if self.replicate_webhooks is not None:
            return self.replicate_webhooks
        return bool(self.public_api_url or self.public_api_url_parameter)


Group = TypeVar("Group", bound=SettingsGroup)


def load_group(group: type[Group]) -> Group:
    """A settings group from the environment, or a ConfigurationError whose message names each bad variable."""
    return group()


def load_settings() -> Settings:
    """The core group from the environment (ConfigurationError naming each bad variable)."""
    return load_group(Settings)


def load_enhancement_settings() -> EnhancementSettings:
    """The enhancement group from the environment (ConfigurationError naming each bad variable)."""
    return load_group(EnhancementSettings)


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
