"""Credit packs (docs/architecture.md §4): held in tenths of a credit, each with its own expiry."""

from __future__ import annotations

from enhancer.domain.values import value_class


@value_class
class CreditPack:
    id: str
    units_tenths: int
    created_at: int  # epoch seconds
    expires_at: int  # epoch seconds

    def is_active(self, now: float) -> bool:
        return self.units_tenths > 0 and self.expires_at > now


def active_packs(packs: list[CreditPack], now: float) -> list[CreditPack]:
    """Packs that can still be spent, oldest first (the order they are consumed in)."""
    return sorted((p for p in packs if p.is_active(now)), key=lambda p: (p.created_at, p.id))


def balance_tenths(packs: list[CreditPack], now: float) -> int:
    return sum(p.units_tenths for p in active_packs(packs, now))
