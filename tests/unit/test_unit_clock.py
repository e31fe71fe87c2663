"""ISO-8601 `Z` timestamps and UTC calendar months."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from enhancer.domain.clock import iso_utc, month_key, next_month_start


def ts(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp())  # type: ignore[misc]


def test_iso_utc_of_none_is_none() -> None:
    assert iso_utc(None) is None


@pytest.mark.parametrize("epoch, text", [
    (0, "1970-01-01T00:00:00Z"),
    (1_700_000_000, "2023-11-14T22:13:20Z"),
    (1_700_000_000.999, "2023-11-14T22:13:20Z"),  # whole seconds, never rounded up
    (ts(2024, 2, 29, 23, 59, 59), "2024-02-29T23:59:59Z"),
    (ts(2025, 1, 1), "2025-01-01T00:00:00Z"),
])
def test_iso_utc_is_seconds_precision_with_z(epoch: float, text: str) -> None:
    assert iso_utc(epoch) == text


def test_iso_utc_never_carries_an_offset() -> None:
    text = iso_utc(1_716_000_000)
    assert text is not None and text.endswith("Z") and "+" not in text


@pytest.mark.parametrize("epoch, key", [
    (ts(2024, 1, 31, 23, 59, 59), "202401"),
    (ts(2024, 2, 1), "202402"),
    (ts(2024, 2, 29, 12), "202402"),
    (ts(2023, 12, 31, 23, 59, 59), "202312"),
    (ts(2024, 1, 1), "202401"),
    (ts(1999, 9, 9), "199909"),
])
def test_month_key_is_the_utc_calendar_month(epoch: int, key: str) -> None:
    assert month_key(epoch) == key


@pytest.mark.parametrize("epoch, expected", [
    (ts(2024, 1, 31, 23, 59, 59), ts(2024, 2, 1)),
    (ts(2024, 2, 1), ts(2024, 3, 1)),
    (ts(2024, 2, 29), ts(2024, 3, 1)),  # leap year
    (ts(2023, 2, 28, 23, 59, 59), ts(2023, 3, 1)),  # common year
    (ts(2000, 2, 29, 6), ts(2000, 3, 1)),  # century leap year
    (ts(2024, 3, 1), ts(2024, 4, 1)),  # exactly at a month start: the next one, not this one
    (ts(2024, 12, 1), ts(2025, 1, 1)),
    (ts(2024, 12, 31, 23, 59, 59), ts(2025, 1, 1)),  # year end
    (ts(2024, 11, 30, 23, 59, 59), ts(2024, 12, 1)),
])
def test_next_month_start(epoch: int, expected: int) -> None:
    result = next_month_start(epoch)

    assert result == expected
    assert isinstance(result, int)


def test_next_month_start_with_fractional_seconds() -> None:
    assert next_month_start(ts(2024, 12, 31, 23, 59, 59) + 0.75) == ts(2025, 1, 1)
