"""Rate windows and usage reads over DynamoDB: atomic counters, one request per operation."""

from __future__ import annotations

from typing import Any

from enhancer.adapters.dynamo_keys import (
    credits_key,
    daily_usage_key,
    monthly_usage_key,
    number,
    packs_from_item,
    rate_window_key,
)
from enhancer.domain.usage import UsageSnapshot


class DynamoRateWindows:
    """Rate-limit windows: one atomic update per request (no read-modify-write)."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def hit_rate_window(self, limiter: str, client: str, window_start: int, expires_at: int) -> int:
        """Count one request in a window and return the window's count including it."""
        response = self._client.update_item(
            TableName=self._table,
            Key={"pk": {"S": rate_window_key(limiter, client, window_start)}},
            UpdateExpression="ADD #count :one SET #expires = if_not_exists(#expires, :expires)",
            ExpressionAttributeNames={"#count": "count", "#expires": "expiresAt"},
            ExpressionAttributeValues={":one": {"N": "1"}, ":expires": {"N": str(expires_at)}},
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"]["count"]["N"])


class DynamoUsageReader:
    """An owner's counters read together, consistently, for the usage route."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

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
            daily_count=number(daily, "count") or 0,
            daily_reset_at=number(daily, "resetAt"),
            monthly_used_tenths=number(monthly, "usedTenths") or 0,
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
