"""Time helpers: every timestamp the API returns is ISO-8601 UTC with a `Z`."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(epoch_seconds: float | None) -> str | None:
    if epoch_seconds is None:
        return None
    moment = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def month_key(epoch_seconds: float) -> str:
    """The UTC calendar month, `YYYYMM`, that a monthly allowance is counted in."""
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).strftime("%Y%m")


def next_month_start(epoch_seconds: float) -> int:
    moment = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp())
