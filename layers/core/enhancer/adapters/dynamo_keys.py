"""The DynamoDB table's vocabulary, in one place: every item's key format and lifetime, and the attribute
encodings the adapters share (docs/architecture.md §5). One table keyed by `pk`, with TTL on `expiresAt`."""

from __future__ import annotations

from typing import Any

from enhancer.domain.credits import CreditPack
from enhancer.domain.guest_limits import SpendCap

MONTHLY_ITEM_TTL_SECONDS = 400 * 24 * 3600  # a month's counter is kept about a year, then TTL removes it
CONSUME_RECORD_TTL_SECONDS = 180 * 24 * 3600
CAP_TTL_GRACE_SECONDS = 3600  # a cap's item outlives its window, so a late give-back finds it


def rate_window_key(limiter: str, client: str, window_start: int) -> str:
    return f"rl:{limiter}:{client}:{window_start}"


def daily_usage_key(owner_type: str, owner_key: str) -> str:
    return f"ai:usage:{owner_type}:{owner_key}"


def monthly_usage_key(owner_type: str, owner_key: str, month: str) -> str:
    return f"ai:usage:month:{owner_type}:{owner_key}:{month}"


def cap_key(cap: SpendCap) -> str:
    return f"ai:cap:{cap.name}:{cap.subject}:{cap.window_start}"


def credits_key(user_id: str) -> str:
    return f"ai:credits:user:{user_id}"


def consume_record_key(user_id: str, charge_id: str) -> str:
    return f"ai:credits:consume:{user_id}:{charge_id}"


def purchase_key(payment_ref: str) -> str:
    """The record of a purchased pack by its payment (a PaymentIntent id): who got which pack, for refunds."""
    return f"ai:credits:purchase:{payment_ref}"


def job_token_key(job_id: str) -> str:
    """The task token a job's waiting execution is resumed with (the Replicate webhook reads it)."""
    return f"ai:job-token:{job_id}"


def given_back_key(charge_id: str) -> str:
    return f"ai:charge:given-back:{charge_id}"


def monthly_take(table: str, key: str, tenths: int, limit_tenths: int, now: float) -> dict[str, Any]:
    """Take `tenths` of a monthly allowance of `limit_tenths`, never past it: the arguments of an
    `update_item`, or of an `Update` in a transaction."""
    return {"TableName": table, "Key": {"pk": {"S": key}},
            "UpdateExpression": "ADD #used :tenths SET #expires = if_not_exists(#expires, :expires)",
            "ConditionExpression": "attribute_not_exists(#used) OR #used <= :most",
            "ExpressionAttributeNames": {"#used": "usedTenths", "#expires": "expiresAt"},
            "ExpressionAttributeValues": {":tenths": {"N": str(tenths)}, ":most": {"N": str(limit_tenths - tenths)},
                                          ":expires": {"N": str(int(now) + MONTHLY_ITEM_TTL_SECONDS)}}}


def number(item: dict[str, Any] | None, name: str) -> int | None:
    """An `N` attribute of an item as an int, or None when the item or the attribute is missing."""
    value = (item or {}).get(name)
    return int(value["N"]) if value and "N" in value else None


def error_code(error: Exception) -> str:
    return str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))


def packs_from_item(item: dict[str, Any] | None) -> list[CreditPack]:
    if not item:
        return []
    packs = []
    for entry in item.get("packs", {}).get("L", []):
        fields = entry.get("M", {})
        packs.append(CreditPack(
            id=fields["id"]["S"],
            units_tenths=int(fields["unitsTenths"]["N"]),
            created_at=int(fields["createdAt"]["N"]),
            expires_at=int(fields["expiresAt"]["N"]),
        ))
    return packs


def packs_to_attribute(packs: list[CreditPack]) -> dict[str, Any]:
    return {"L": [{"M": {"id": {"S": p.id}, "unitsTenths": {"N": str(p.units_tenths)},
                         "createdAt": {"N": str(p.created_at)}, "expiresAt": {"N": str(p.expires_at)}}}
                  for p in packs]}
