"""Plans, owners and entitlements (docs/architecture.md §4): the one table every route reads."""

from __future__ import annotations

from enum import StrEnum

from enhancer.domain.values import value_class


class OwnerType(StrEnum):
    USER = "user"
    GUEST = "guest"


class Plan(StrEnum):
    FREE = "free"
    PRO = "pro"
    PREMIUM = "premium"
    ENTERPRISE = "enterprise"


@value_class
class Entitlements:
    monthly_images: int
    daily_burst_cap: int
    max_upscale: int
    face_enhance: bool

    def as_response(self) -> dict[str, int | bool]:
        # Key order is part of the contract clients of the old system rely on.
        return {
            "monthlyImages": self.monthly_images,
            "dailyBurstCap": self.daily_burst_cap,
            "maxUpscale": self.max_upscale,
            "faceEnhance": self.face_enhance,
        }


GUEST_ENTITLEMENTS = Entitlements(monthly_images=90, daily_burst_cap=3, max_upscale=2, face_enhance=False)

PLAN_ENTITLEMENTS: dict[Plan, Entitlements] = {
    Plan.FREE: Entitlements(monthly_images=30, daily_burst_cap=3, max_upscale=2, face_enhance=False),
    Plan.PRO: Entitlements(monthly_images=300, daily_burst_cap=30, max_upscale=4, face_enhance=True),
    Plan.PREMIUM: Entitlements(monthly_images=1000, daily_burst_cap=100, max_upscale=6, face_enhance=True),
    Plan.ENTERPRISE: Entitlements(monthly_images=4000, daily_burst_cap=400, max_upscale=8, face_enhance=True),
}

# Subscription states that keep the paid plan (past_due included: the customer is still being dunned).
ACTIVE_SUBSCRIPTION_STATUSES = frozenset({"active", "trialing", "past_due"})


def parse_plan(value: str | None) -> Plan:
    """An unknown or missing plan string is the free plan, never a crash."""
    try:
        return Plan(value) if value else Plan.FREE
    except ValueError:
        return Plan.FREE


def entitlements_for(owner_type: OwnerType, plan: Plan | None) -> Entitlements:
    if owner_type is OwnerType.GUEST:
        return GUEST_ENTITLEMENTS
    return PLAN_ENTITLEMENTS[plan or Plan.FREE]


def effective_plan(subscription_plan: str | None, subscription_status: str | None, user_plan: str | None) -> Plan:
    """The newest subscription decides while it is active; otherwise `users.plan`; otherwise free."""
    if subscription_plan and subscription_status in ACTIVE_SUBSCRIPTION_STATUSES:
        return parse_plan(subscription_plan)
    return parse_plan(user_plan)


def free_limits() -> dict[str, int]:
    """The `limits` object of usage responses: the daily caps of a free user and of a guest."""
    return {"user": PLAN_ENTITLEMENTS[Plan.FREE].daily_burst_cap, "guest": GUEST_ENTITLEMENTS.daily_burst_cap}
