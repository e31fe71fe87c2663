"""The usage overview of one owner: daily window, monthly allowance, entitlements, credits."""

from __future__ import annotations

from enhancer.domain.clock import month_key
from enhancer.domain.identity import Identity
from enhancer.domain.plans import Entitlements, Plan, entitlements_for, free_limits
from enhancer.domain.usage import DailyUsage, MonthlyUsage, credits_balance, daily_usage, monthly_usage
from enhancer.domain.values import value_class
from enhancer.services.ports import UsageReader


@value_class
class UsageOverview:
    identity: Identity
    plan: Plan | None
    entitlements: Entitlements
    daily: DailyUsage
    monthly: MonthlyUsage
    credits_balance_tenths: int | None

    def as_response(self) -> dict[str, object]:
        data: dict[str, object] = {"ownerType": self.identity.owner_type.value}
        if self.plan is not None:
            data["plan"] = self.plan.value
        data.update({
            "usage": self.daily.as_response(),
            "monthlyUsage": self.monthly.as_response(),
            "limits": free_limits(),
            "entitlements": self.entitlements.as_response(),
        })
        if self.credits_balance_tenths is not None:
            data["creditsBalanceTenths"] = self.credits_balance_tenths
        return data


def usage_overview(identity: Identity, counters: UsageReader, now: float) -> UsageOverview:
    entitlements = entitlements_for(identity.owner_type, identity.plan)
    user_id = identity.user.id if identity.user else None
    snapshot = counters.read_usage(identity.owner_type.value, identity.owner_key, month_key(now), user_id)
    return UsageOverview(
        identity=identity,
        plan=identity.plan,
        entitlements=entitlements,
        daily=daily_usage(snapshot, entitlements, now),
        monthly=monthly_usage(snapshot, entitlements, now),
        credits_balance_tenths=credits_balance(snapshot, now) if user_id else None,
    )
