"""Credit packs in DynamoDB: taking the part of a charge the monthly allowance cannot cover, giving it back,
and adding purchased packs (docs/architecture.md §4). The packs of a user are one item with a version for
optimistic concurrency; every change is conditional on the version it read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from enhancer.adapters.dynamo_keys import (
    CONSUME_RECORD_TTL_SECONDS,
    consume_record_key,
    credits_key,
    error_code,
    monthly_take,
    number,
    packs_from_item,
    packs_to_attribute,
    purchase_key,
)
from enhancer.domain.clock import next_month_start
from enhancer.domain.credits import CreditPack, balance_tenths
from enhancer.domain.quota import (
    ChargeSplit,
    InsufficientCredits,
    QuotaExceeded,
    Reservation,
    consume_fifo,
    return_to_packs,
    split_charge,
)
from enhancer.domain.usage import TENTHS_PER_CREDIT

if TYPE_CHECKING:
    from enhancer.domain.billing import Withdrawal

ATTEMPTS = 8


class DynamoCredits:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def balance(self, item: dict[str, Any] | None, now: float) -> int:
        """Tenths left in the active packs of a credits item as read."""
        return balance_tenths(packs_from_item(item), now)

    def take(self, monthly_key: str, user_id: str, charge_id: str, cost: int, limit: int,
             used: int, now: float) -> tuple[ChargeSplit, list[CreditPack]]:
        """Past the allowance: what is left of it, and the rest from credit packs, in one transaction."""
        from botocore.exceptions import ClientError

        for _ in range(ATTEMPTS):
            split = split_charge(cost, used, limit)
            item = self._client.get_item(TableName=self._table, Key={"pk": {"S": credits_key(user_id)}},
                                         ConsistentRead=True).get("Item")
            packs, version = packs_from_item(item), number(item, "version") or 0
            try:
                kept, taken = consume_fifo(packs, split.credits_tenths, now)
            except InsufficientCredits:
                raise QuotaExceeded(scope="monthly", used=used / TENTHS_PER_CREDIT, limit=limit / TENTHS_PER_CREDIT,
                                    reset_at=next_month_start(now)) from None
            writes: list[dict[str, Any]] = [
                {"Update": {
                    "TableName": self._table, "Key": {"pk": {"S": credits_key(user_id)}},
                    "UpdateExpression": "SET #packs = :packs, #version = :next",
                    "ConditionExpression": "#version = :version",
                    "ExpressionAttributeNames": {"#packs": "packs", "#version": "version"},
                    "ExpressionAttributeValues": {":packs": packs_to_attribute(kept), ":next": {"N": str(version + 1)},
                                                  ":version": {"N": str(version)}}}},
                {"Put": {
                    "TableName": self._table,
                    "Item": {"pk": {"S": consume_record_key(user_id, charge_id)}, "status": {"S": "consumed"},
                             "taken": packs_to_attribute(taken), "tenths": {"N": str(split.credits_tenths)},
                             "createdAt": {"N": str(int(now))},
                             "expiresAt": {"N": str(int(now) + CONSUME_RECORD_TTL_SECONDS)}},
                    "ConditionExpression": "attribute_not_exists(pk)"}},
            ]
            if split.plan_tenths:
                writes.append({"Update": monthly_take(self._table, monthly_key, split.plan_tenths, limit, now)})
            try:
                self._client.transact_write_items(TransactItems=writes)
                return split, taken
            except ClientError as error:
                if error_code(error) not in ("TransactionCanceledException", "TransactionConflictException"):
                    raise
                reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
                if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                    raise RuntimeError(f"charge {charge_id} was already taken from credits") from None
            # Someone spent allowance or credits meanwhile: read both again and recompute the split.
            current = self._client.get_item(TableName=self._table, Key={"pk": {"S": monthly_key}},
                                            ConsistentRead=True).get("Item")
            used = number(current, "usedTenths") or 0
        raise RuntimeError("credits stayed contended after retries")

    def return_writes(self, reservation: Reservation) -> list[dict[str, Any]]:
        assert reservation.user_id is not None
        key = credits_key(reservation.user_id)
        item = self._client.get_item(TableName=self._table, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")
        version = number(item, "version") or 0
        restored = return_to_packs(packs_from_item(item), reservation.credits_taken)
        return [{"Update": {
            "TableName": self._table, "Key": {"pk": {"S": key}},
            "UpdateExpression": "SET #packs = :packs, #version = :next",
            "ConditionExpression": "#version = :version",
            "ExpressionAttributeNames": {"#packs": "packs", "#version": "version"},
            "ExpressionAttributeValues": {":packs": packs_to_attribute(restored), ":next": {"N": str(version + 1)},
                                          ":version": {"N": str(version)}}}},
            {"Update": {
                "TableName": self._table,
                "Key": {"pk": {"S": consume_record_key(reservation.user_id, reservation.charge_id)}},
                "UpdateExpression": "SET #status = :refunded",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {":refunded": {"S": "refunded"}}}}]

    def add_pack(self, user_id: str, pack_id: str, units_tenths: int, created_at: int, expires_at: int, *,
                 payment_ref: str | None = None) -> bool:
        """Add a purchased pack once: a second call with the same pack id changes nothing (returns False). With
        a payment, the purchase is recorded in the same transaction, so its refund can find the pack."""
        from botocore.exceptions import ClientError

        pack = CreditPack(pack_id, units_tenths, created_at, expires_at)
        add = {
            "TableName": self._table, "Key": {"pk": {"S": credits_key(user_id)}},
            "UpdateExpression": ("SET #packs = list_append(if_not_exists(#packs, :empty), :new), "
                                 "#version = if_not_exists(#version, :zero) + :one ADD #ids :id"),
            "ConditionExpression": "attribute_not_exists(#ids) OR NOT contains(#ids, :pack)",
            "ExpressionAttributeNames": {"#packs": "packs", "#version": "version", "#ids": "packIds"},
            "ExpressionAttributeValues": {":empty": {"L": []}, ":new": packs_to_attribute([pack]),
                                          ":zero": {"N": "0"}, ":one": {"N": "1"},
                                          ":id": {"SS": [pack_id]}, ":pack": {"S": pack_id}}}
        try:
            if payment_ref is None:
                self._client.update_item(**add)
            else:
                self._client.transact_write_items(TransactItems=[{"Update": add}, {"Put": {
                    "TableName": self._table,
                    "Item": {"pk": {"S": purchase_key(payment_ref)}, "userId": {"S": user_id},
                             "packId": {"S": pack_id}, "tenths": {"N": str(units_tenths)},
                             "withdrawn": {"N": "0"}, "createdAt": {"N": str(created_at)},
                             "expiresAt": {"N": str(expires_at + CONSUME_RECORD_TTL_SECONDS)}},
                    "ConditionExpression": "attribute_not_exists(pk)"}}])
            return True
        except ClientError as error:
            code = error_code(error)
            if code == "ConditionalCheckFailedException" or (
                    code == "TransactionCanceledException" and _refused_by_a_condition(error)):
                return False  # added before
            raise

    def withdraw_refund(self, payment_ref: str, amount: int, amount_refunded: int) -> Withdrawal | None:
        """Take back the refunded share of the pack a payment bought, once: what is still unspent of it, never
        more (a balance never goes negative). Stripe's `amount_refunded` is cumulative, so the same refund seen
        again asks for nothing more. None when the payment bought no pack."""
        from botocore.exceptions import ClientError

        # Imported here: only the Stripe webhook refunds, and every function that charges loads this module.
        from enhancer.domain.billing import Withdrawal, refund_withdrawal

        for _ in range(ATTEMPTS):
            record = self._client.get_item(TableName=self._table, Key={"pk": {"S": purchase_key(payment_ref)}},
                                           ConsistentRead=True).get("Item")
            if record is None:
                return None
            user_id, pack_id = record["userId"]["S"], record["packId"]["S"]
            owed, withdrawn = refund_withdrawal(number(record, "tenths") or 0, amount, amount_refunded), \
                number(record, "withdrawn") or 0
            if owed <= withdrawn:
                return Withdrawal(user_id, pack_id, 0)
            item = self._client.get_item(TableName=self._table, Key={"pk": {"S": credits_key(user_id)}},
                                         ConsistentRead=True).get("Item")
            packs, version = packs_from_item(item), number(item, "version") or 0
            left = next((p.units_tenths for p in packs if p.id == pack_id), 0)
            take = min(owed - withdrawn, left)
            kept = [p if p.id != pack_id else CreditPack(p.id, p.units_tenths - take, p.created_at, p.expires_at)
                    for p in packs]
            try:
                self._client.transact_write_items(TransactItems=[
                    {"Update": {
                        "TableName": self._table, "Key": {"pk": {"S": credits_key(user_id)}},
                        "UpdateExpression": "SET #packs = :packs, #version = :next",
                        "ConditionExpression": "attribute_not_exists(#version) OR #version = :version",
                        "ExpressionAttributeNames": {"#packs": "packs", "#version": "version"},
                        "ExpressionAttributeValues": {
                            ":packs": packs_to_attribute([p for p in kept if p.units_tenths > 0]),
                            ":next": {"N": str(version + 1)}, ":version": {"N": str(version)}}}},
                    {"Update": {
                        "TableName": self._table, "Key": {"pk": {"S": purchase_key(payment_ref)}},
                        "UpdateExpression": "SET #withdrawn = :owed, #taken = if_not_exists(#taken, :zero) + :take",
                        "ConditionExpression": "#withdrawn = :before",
                        "ExpressionAttributeNames": {"#withdrawn": "withdrawn", "#taken": "takenTenths"},
                        "ExpressionAttributeValues": {":owed": {"N": str(owed)}, ":before": {"N": str(withdrawn)},
                                                      ":take": {"N": str(take)}, ":zero": {"N": "0"}}}},
                ])
                return Withdrawal(user_id, pack_id, take)
            except ClientError as error:
                if error_code(error) not in ("TransactionCanceledException", "TransactionConflictException"):
                    raise
            # A charge or another delivery of this refund got there first: read both again.
        raise RuntimeError("credits stayed contended after retries")


def _refused_by_a_condition(error: Exception) -> bool:
    """Whether a canceled transaction was refused by a condition (not by a conflict or throttling)."""
    reasons = getattr(error, "response", {}).get("CancellationReasons", [])
    return any(reason.get("Code") == "ConditionalCheckFailed" for reason in reasons)
