"""The small interfaces services need from the outside world, and the values they exchange.

Adapters implement these and import them from here; nothing here imports an adapter. Domain types are imported
for annotations only, so an adapter that needs a record type loads no more than this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from enhancer.domain.enhancement import EnhanceOptions
    from enhancer.domain.guest_limits import SpendCap
    from enhancer.domain.image_checks import ImageHeader
    from enhancer.domain.models import ModelSpec
    from enhancer.domain.plans import Entitlements
    from enhancer.domain.quota import Reservation
    from enhancer.domain.usage import UsageSnapshot


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """A signed-in user as the account store holds it: `users.plan` and the newest active subscription."""

    user_id: str
    email: str
    user_plan: str | None
    subscription_plan: str | None = None
    subscription_status: str | None = None


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    size: int
    etag: str
    content_type: str | None


@dataclass(frozen=True, slots=True)
class StoredObject:
    info: ObjectInfo
    body: Any  # a stream with read() and close(); read() it or discard() it

    def read(self) -> bytes:
        try:
            data: bytes = self.body.read()
            return data
        finally:
            self.body.close()

    def discard(self) -> None:
        self.body.close()


class Accounts(Protocol):
    def session_account(self, session_id: str, now: float) -> AccountRecord | None: ...


class RateWindows(Protocol):
    """Fixed rate-limit windows: count one request and learn the window's count."""

    def hit_rate_window(self, limiter: str, client: str, window_start: int, expires_at: int) -> int: ...


class UsageReader(Protocol):
    """An owner's stored counters (day, month, credit packs) as they stand, for reporting usage."""

    def read_usage(self, owner_type: str, owner_key: str, month: str, user_id: str | None) -> UsageSnapshot: ...


class ImageStore(Protocol):
    def head(self, key: str) -> ObjectInfo | None: ...

    def get(self, key: str) -> StoredObject | None: ...

    def presigned_get_url(self, key: str, expires_in: int) -> str: ...

    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def delete(self, key: str) -> None: ...

    def presigned_post(self, key: str, content_type: str, max_bytes: int, expires_in: int) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class SourceImage:
    """The checked original: its bytes, its real type and size, and (for remote models) a short-lived URL."""

    data: bytes
    content_type: str
    width: int
    height: int
    url: str | None = None


@dataclass(frozen=True, slots=True)
class EnhancedImage:
    data: bytes
    content_type: str


class Provider(Protocol):
    """Runs a model. `deadline` is a `time.monotonic()` value the call must return by (raising
    ProviderTimedOut when it cannot); errors are AppErrors with no upstream text in their messages."""

    name: str
    needs_source_url: bool  # the model fetches the original from `SourceImage.url` instead of the bytes

    def run(self, model: ModelSpec, options: EnhanceOptions, source: SourceImage, deadline: float) -> EnhancedImage:
        ...


class Ledger(Protocol):
    def reserve(self, *, charge_id: str, owner_type: str, owner_key: str, user_id: str | None,
                cost_tenths: int, entitlements: Entitlements, caps: Sequence[SpendCap] = (),
                now: float | None = None) -> Reservation: ...

    def settle(self, reservation: Reservation) -> None: ...

    def give_back(self, reservation: Reservation, now: float | None = None) -> None: ...


class ImageChecker(Protocol):
    """Type, dimensions and integrity of an image, or ValidationFailed."""

    def __call__(self, data: bytes, *, max_pixels: int) -> ImageHeader: ...
