"""The small interfaces services need from the outside world."""

from __future__ import annotations

from typing import Protocol

from enhancer.adapters.s3_store import ObjectInfo, StoredObject
from enhancer.adapters.sql.sqlite import AccountRecord
from enhancer.domain.usage import UsageSnapshot


class Accounts(Protocol):
    def session_account(self, session_id: str, now: float) -> AccountRecord | None: ...


class Counters(Protocol):
    def hit_rate_window(self, key: str, expires_at: int) -> int: ...

    def read_usage(self, owner_type: str, owner_key: str, month: str, user_id: str | None) -> UsageSnapshot: ...


class ImageStore(Protocol):
    def head(self, key: str) -> ObjectInfo | None: ...

    def get(self, key: str) -> StoredObject | None: ...

    def presigned_get_url(self, key: str, expires_in: int) -> str: ...
