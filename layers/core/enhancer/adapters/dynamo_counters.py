"""Everything counted lives in one DynamoDB table keyed by `pk`, with TTL on `expiresAt` (docs/architecture.md §5)."""

from __future__ import annotations

from typing import Any

from enhancer.domain.credits import CreditPack
from enhancer.domain.guest_limits import SpendCap
from enhancer.domain.usage import UsageSnapshot

MONTHLY_ITEM_TTL_SECONDS = 400 * 24 * 3600  # a month's counter is kept about a year, then TTL removes it


def daily_usage_key(owner_type: str, owner_key: str) -> str:
    return f"ai:usage:{owner_type}:{owner_key}"


def monthly_usage_key(owner_type: str, owner_key: str, month: str) -> str:
    return f"ai:usage:month:{owner_type}:{owner_key}:{month}"


def cap_key(cap: SpendCap) -> str:
    return f"ai:cap:{cap.name}:{cap.subject}:{cap.window_start}"


def credits_key(user_id: str) -> str:
    return f"ai:credits:user:{user_id}"


def _int(item: dict[str, Any], name: str) -> int | None:
    value = item.get(name)
    return int(value["N"]) if value and "N" in value else None


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


class DynamoCounters:
    """Atomic counters over the low-level client (one request per operation, no read-modify-write)."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def hit_rate_window(self, key: str, expires_at: int) -> int:
        """Count one request in a window and return the window's count including it."""
        response = self._client.update_item(
            TableName=self._table,
            Key={"pk": {"S": key}},
            UpdateExpression="ADD #count :one SET #expires = if_not_exists(#expires, :expires)",
            ExpressionAttributeNames={"#count": "count", "#expires": "expiresAt"},
            ExpressionAttributeValues={":one": {"N": "1"}, ":expires": {"N": str(expires_at)}},
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"]["count"]["N"])

    def read_usage(self, owner_type: str, owner_key: str, month: str, user_id: str | None) -> UsageSnapshot:
        """Daily window, monthly allowance and (for users) credit packs in one BatchGetItem."""
        keys = {
            "daily": daily_usage_key(owner_type, owner_key),
            "monthly": monthly_usage_key(owner_type, owner_key, month),
        }
        if user_id:
            keys["credits"] = credits_key(user_id)
        items = self._batch_get(list(keys.values()))
        daily = items.get(keys["daily"], {})
        monthly = items.get(keys["monthly"], {})
        return UsageSnapshot(
            daily_count=_int(daily, "count") or 0,
            daily_reset_at=_int(daily, "resetAt"),
            monthly_used_tenths=_int(monthly, "usedTenths") or 0,
            credit_packs=packs_from_item(items.get(keys["credits"])) if user_id else [],
        )

    def _batch_get(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        request: dict[str, Any] = {self._table: {"Keys": [{"pk": {"S": k}} for k in keys], "ConsistentRead": True}}
        found: dict[str, dict[str, Any]] = {}
        for _ in range(5):
            response = self._client.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(self._table, []):
                found[item["pk"]["S"]] = item
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return found
        raise RuntimeError("DynamoDB left keys unprocessed after retries")
