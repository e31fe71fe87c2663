"""Account deletion (docs/architecture.md §3, Identity): everything the product keeps about a user, removed on
their request, in an order that can be retried after any failure. What is paid for elsewhere is ended first
(Stripe subscriptions, at period end), then the sign-in identity, then images, counters and credit packs, and
the rows last, so until the very end the user is still signed in and may simply ask again. Idempotent: a
second call finds nothing left (and, its session gone, is not signed in)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from enhancer.domain.image_keys import KEY_PREFIX, ImageCategory
from enhancer.domain.plans import OwnerType
from enhancer.domain.values import value_class
from enhancer.observability import logger
from enhancer.services.ports import ImageStore, Payments


class AccountRows(Protocol):
    def subject_of(self, user_id: str) -> str | None: ...

    def erase_user(self, user_id: str) -> dict[str, int]: ...


class LiveSubscriptions(Protocol):
    def live_subscriptions(self, user_id: str) -> list[str]: ...


class OwnerCounters(Protocol):
    def erase_user(self, user_id: str, now: float) -> int: ...


class IdentityDirectory(Protocol):
    def delete_user(self, subject: str) -> bool: ...


@value_class
class AccountDeps:
    rows: AccountRows
    subscriptions: LiveSubscriptions
    payments: Callable[[], Payments]
    store: ImageStore
    counters: OwnerCounters
    directory: Callable[[], IdentityDirectory | None]  # None where sign-in is not through Cognito


def user_prefixes(user_id: str) -> list[str]:
    return [f"{KEY_PREFIX}/{category.value}/{OwnerType.USER.value}/{user_id}/" for category in ImageCategory]


def delete_account(user_id: str, deps: AccountDeps) -> dict[str, Any]:
    """What was removed, by kind."""
    live = deps.subscriptions.live_subscriptions(user_id)
    if live:
        payments = deps.payments()
        for subscription_id in live:
            payments.cancel_at_period_end(subscription_id)
    subject = deps.rows.subject_of(user_id)
    directory = deps.directory() if subject else None
    identity_deleted = directory.delete_user(subject) if directory is not None and subject else False
    images = sum(deps.store.delete_prefix(prefix) for prefix in user_prefixes(user_id))
    counters = deps.counters.erase_user(user_id, time.time())
    rows = deps.rows.erase_user(user_id)
    logger.info("account_deleted", extra={"user": user_id, "images": images, "counters": counters, **rows})
    return {"subscriptionsCanceled": live, "signInIdentity": identity_deleted, "images": images,
            "counters": counters, "jobs": rows.get("jobs", 0), "apiKeys": rows.get("apiKeys", 0),
            "sessions": rows.get("sessions", 0),
            "user": bool(rows.get("users"))}
