"""Reserve, settle and give back the charge of one enhancement in DynamoDB (docs/architecture.md §4).

Every step is a conditional write, never a read-modify-write, so no concurrency can push an owner past the
daily cap or the monthly allowance, or overdraw credits, nor guests past their caps. The common case of a
signed-in user — an open daily window within the monthly allowance — takes two writes (daily, monthly), which
return the new counts for the response; a guest's charge takes its two caps first.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from enhancer.adapters.dynamo_credits import ATTEMPTS, DynamoCredits
from enhancer.adapters.dynamo_keys import (
    CAP_TTL_GRACE_SECONDS,
    CONSUME_RECORD_TTL_SECONDS,
    MONTHLY_ITEM_TTL_SECONDS,
    cap_key,
    credits_key,
    daily_usage_key,
    error_code,
    given_back_key,
    monthly_take,
    monthly_usage_key,
    number,
)
from enhancer.domain.clock import month_key, next_month_start
from enhancer.domain.credits import CreditPack
from enhancer.domain.errors import AppError
from enhancer.domain.guest_limits import GuestBudgetReached, GuestsOfIpCapReached, SpendCap, cap_refusal
from enhancer.domain.plans import Entitlements
from enhancer.domain.quota import (
    ChargeCounters,
    ChargeQuote,
    ChargeSplit,
    QuotaExceeded,
    Reservation,
    last_refusal,
    quote_charge,
)
from enhancer.domain.usage import DAILY_WINDOW_SECONDS, TENTHS_PER_CREDIT
from enhancer.observability import logger, metrics

if TYPE_CHECKING:
    from enhancer.domain.billing import Withdrawal

# What `reserve` refuses a charge with; anything else it raises is a fault, not a refusal.
REFUSALS = (QuotaExceeded, GuestsOfIpCapReached, GuestBudgetReached)


class DynamoLedger:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name
        self._credits = DynamoCredits(client, table_name)

    # ------------------------------------------------------------------ erase

    def erase_user(self, user_id: str, now: float) -> int:
        """A deleted account's counters and credit packs: the daily window, every monthly counter a TTL has not
        removed yet (MONTHLY_ITEM_TTL_SECONDS back) and the packs, in one batch; how many items there were.
        Idempotent: deleting what is gone changes nothing."""
        months = {month_key(now - days * 86_400) for days in range(0, MONTHLY_ITEM_TTL_SECONDS // 86_400 + 31, 28)}
        keys = [daily_usage_key("user", user_id), credits_key(user_id),
                *sorted(monthly_usage_key("user", user_id, month) for month in months)]
        found = self._client.batch_get_item(RequestItems={self._table: {
            "Keys": [{"pk": {"S": key}} for key in keys], "ProjectionExpression": "pk", "ConsistentRead": True}})
        present = [item["pk"]["S"] for item in found.get("Responses", {}).get(self._table, [])]
        pending = [{"DeleteRequest": {"Key": {"pk": {"S": key}}}} for key in present]
        for _ in range(ATTEMPTS):
            if not pending:
                break
            answer = self._client.batch_write_item(RequestItems={self._table: pending})
            pending = answer.get("UnprocessedItems", {}).get(self._table, [])
        if pending:
            raise RuntimeError("DynamoDB left counters of the deleted account unprocessed")
        return len(present)

    # ------------------------------------------------------------------ reserve

    def reserve(self, *, charge_id: str, owner_type: str, owner_key: str, user_id: str | None,
                cost_tenths: int, entitlements: Entitlements, caps: Sequence[SpendCap] = (),
                now: float | None = None) -> Reservation:
        """Take the charge before the provider runs: each of `caps`, then the day, then the month (and credits).
        A refusal gives back what this reservation took and names the limit that refuses it, also under
        concurrency (see `_truest_refusal`)."""
        now = time.time() if now is None else now
        caps = tuple(dict.fromkeys(caps))  # one count per cap, however often a caller names it
        month = month_key(now)
        daily_key = daily_usage_key(owner_type, owner_key)
        monthly_limit = entitlements.monthly_images * TENTHS_PER_CREDIT
        taken_caps: list[SpendCap] = []
        daily: tuple[int, int] | None = None
        try:
            for cap in caps:
                self._take_cap(cap, now)
                taken_caps.append(cap)
            daily = self._take_daily(daily_key, entitlements.daily_burst_cap, now)
            split, taken = self._take_monthly(
                owner_type, owner_key, user_id, month, charge_id, cost_tenths, monthly_limit, now)
        except BaseException as error:
            if daily is not None:
                self._count_back_quietly(self._count_back(daily_key, daily[1]))
            for cap in taken_caps:
                self._count_back_quietly(self._count_back(cap_key(cap)))
            if not isinstance(error, REFUSALS):
                raise
            refused_at_cap = daily is None and len(taken_caps) < len(caps)
            truer = self._truest_refusal(
                list(caps[len(taken_caps) + 1:]) if refused_at_cap else [],
                daily_key if refused_at_cap else None,
                monthly_usage_key(owner_type, owner_key, month) if daily is None else None,
                user_id, cost_tenths, entitlements, now)
            if truer is None:
                raise
            raise truer from None
        daily_used, reset_at = daily
        return Reservation(charge_id=charge_id, owner_type=owner_type, owner_key=owner_key, user_id=user_id,
                           split=split, daily_used=daily_used, daily_reset_at=reset_at, month=month,
                           credits_taken=taken, caps=caps)

    def _take_cap(self, cap: SpendCap, now: float) -> None:
        from botocore.exceptions import ClientError

        if cap.limit <= 0:
            raise self._refused_by(cap, 0, now)
        try:
            self._client.update_item(
                TableName=self._table, Key={"pk": {"S": cap_key(cap)}},
                UpdateExpression="ADD #count :one SET #expires = if_not_exists(#expires, :expires)",
                ConditionExpression="attribute_not_exists(#count) OR #count < :limit",
                ExpressionAttributeNames={"#count": "count", "#expires": "expiresAt"},
                ExpressionAttributeValues={":one": {"N": "1"}, ":limit": {"N": str(cap.limit)},
                                           ":expires": {"N": str(cap.window_end + CAP_TTL_GRACE_SECONDS)}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            raise self._refused_by(cap, number(error.response.get("Item"), "count") or 0, now) from None

    @staticmethod
    def _refused_by(cap: SpendCap, used: int, now: float) -> AppError:
        """A cap's refusal; the day's guest budget running out is counted here, where it happens, even when a
        later limit is named to the client (see `_truest_refusal`)."""
        refusal = cap_refusal(cap, used, now)
        if isinstance(refusal, GuestBudgetReached):
            logger.warning("guest_budget_exhausted", extra={"limit": cap.limit})
            metrics.add_metric(name="guest_budget_exhausted", unit="Count", value=1)
        return refusal

    def _truest_refusal(self, caps: list[SpendCap], daily_key: str | None, monthly_key: str | None,
                        user_id: str | None, cost: int, entitlements: Entitlements, now: float) -> AppError | None:
        """The last of the later limits that refuses this charge too, or None when the refusal stands.

        A counter refuses when its count has reached the limit, and that count includes charges still in
        flight; a charge that a later limit refuses gives its earlier counts back. So when parallel requests
        meet a later limit that is used up (the month, say), some of them see an earlier one (the day, a guest
        cap) full of charges that are about to be given back. The later a limit comes, the less it is inflated
        that way (the month not at all), so the last one that refuses is the one to name. A probe that fails
        leaves the refusal as it was: it only ever chooses between true refusals."""
        keys = [cap_key(cap) for cap in caps] + [k for k in (daily_key, monthly_key) if k]
        if user_id is not None and monthly_key:
            keys.append(credits_key(user_id))
        if not keys:
            return None
        try:
            response = self._client.batch_get_item(RequestItems={self._table: {
                "Keys": [{"pk": {"S": key}} for key in keys], "ConsistentRead": True}})
        except Exception:
            logger.exception("refusal_probe_failed")
            return None
        items = {item["pk"]["S"]: item for item in response.get("Responses", {}).get(self._table, [])}
        counters = self._counters(items, caps, daily_key, monthly_key, user_id, now)
        return last_refusal(cost, counters, entitlements, now, daily=daily_key is not None,
                            monthly=monthly_key is not None)

    def _counters(self, items: dict[str, dict[str, Any]], caps: Sequence[SpendCap], daily_key: str | None,
                  monthly_key: str | None, user_id: str | None, now: float) -> ChargeCounters:
        """The items read, keyed by `pk`, as the counters the pure rules take (a missing item counts zero)."""
        day = items.get(daily_key) if daily_key else None
        return ChargeCounters(
            caps=tuple((cap, number(items.get(cap_key(cap)), "count") or 0) for cap in caps),
            daily_count=number(day, "count") or 0, daily_reset_at=number(day, "resetAt"),
            monthly_used_tenths=(number(items.get(monthly_key), "usedTenths") or 0) if monthly_key else 0,
            credits_tenths=self._credits.balance(items.get(credits_key(user_id)), now) if user_id else 0)

    # ------------------------------------------------------------------ quote

    def quote(self, *, owner_type: str, owner_key: str, user_id: str | None, cost_tenths: int,
              entitlements: Entitlements, caps: Sequence[SpendCap] = (), now: float | None = None) -> ChargeQuote:
        """What `reserve` would take now and whether it would be refused, written nowhere: the counters it
        would touch (caps, day, month, credit packs) in one serializable read (TransactGetItems: no charge
        can land between two of them), handed to the same pure rules (`domain.quota.quote_charge`)."""
        now = time.time() if now is None else now
        caps = tuple(dict.fromkeys(caps))
        daily_key = daily_usage_key(owner_type, owner_key)
        monthly_key = monthly_usage_key(owner_type, owner_key, month_key(now))
        keys = [cap_key(cap) for cap in caps] + [daily_key, monthly_key]
        if user_id is not None:
            keys.append(credits_key(user_id))
        response = self._client.transact_get_items(TransactItems=[
            {"Get": {"TableName": self._table, "Key": {"pk": {"S": key}}}} for key in keys])
        items = {key: found["Item"] for key, found in zip(keys, response.get("Responses", []), strict=False)
                 if found.get("Item")}
        counters = self._counters(items, caps, daily_key, monthly_key, user_id, now)
        return quote_charge(cost_tenths, counters, entitlements, now)

    def _take_daily(self, key: str, cap: int, now: float) -> tuple[int, int]:
        """One image out of the 24-hour window that began with the first counted use."""
        from botocore.exceptions import ClientError

        for _ in range(ATTEMPTS):
            counted, old = self._count_in_open_window(key, cap, now)
            if counted is not None:
                return counted
            old_reset = number(old, "resetAt")
            if old_reset is not None and old_reset > int(now):
                used = number(old, "count") or 0
                raise QuotaExceeded(scope="daily", used=used, limit=cap, reset_at=old_reset)
            reset_at = int(now) + DAILY_WINDOW_SECONDS
            try:
                self._client.update_item(
                    TableName=self._table, Key={"pk": {"S": key}},
                    UpdateExpression="SET #count = :one, #reset = :reset, #expires = :expires",
                    ConditionExpression="attribute_not_exists(pk) OR #reset <= :now",
                    ExpressionAttributeNames={"#count": "count", "#reset": "resetAt", "#expires": "expiresAt"},
                    ExpressionAttributeValues={":one": {"N": "1"}, ":now": {"N": str(int(now))},
                                               ":reset": {"N": str(reset_at)},
                                               ":expires": {"N": str(reset_at + DAILY_WINDOW_SECONDS)}})
                return 1, reset_at
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise
                # Another request opened the window first: count in it.
        raise RuntimeError("daily usage stayed contended after retries")

    def _count_in_open_window(self, key: str, cap: int,
                              now: float) -> tuple[tuple[int, int] | None, dict[str, Any] | None]:
        """One image counted in an open window below the cap: ((count, resetAt), None); else (None, the item
        as it stands, or None when there is none)."""
        from botocore.exceptions import ClientError

        try:
            item = self._client.update_item(
                TableName=self._table, Key={"pk": {"S": key}},
                UpdateExpression="ADD #count :one",
                ConditionExpression="#reset > :now AND #count < :cap",
                ExpressionAttributeNames={"#count": "count", "#reset": "resetAt"},
                ExpressionAttributeValues={":one": {"N": "1"}, ":now": {"N": str(int(now))},
                                           ":cap": {"N": str(cap)}},
                ReturnValues="ALL_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD")["Attributes"]
            return (number(item, "count") or 0, number(item, "resetAt") or 0), None
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            return None, error.response.get("Item")

    def _take_monthly(self, owner_type: str, owner_key: str, user_id: str | None, month: str, charge_id: str,
                      cost: int, limit: int, now: float) -> tuple[ChargeSplit, list[CreditPack]]:
        from botocore.exceptions import ClientError

        key = monthly_usage_key(owner_type, owner_key, month)
        try:
            self._client.update_item(**monthly_take(self._table, key, cost, limit, now),
                                     ReturnValuesOnConditionCheckFailure="ALL_OLD")
            return ChargeSplit(plan_tenths=cost, credits_tenths=0), []
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            used = number(error.response.get("Item"), "usedTenths") or 0
        if user_id is None:
            raise QuotaExceeded(scope="monthly", used=used / TENTHS_PER_CREDIT, limit=limit / TENTHS_PER_CREDIT,
                                reset_at=next_month_start(now))
        return self._credits.take(key, user_id, charge_id, cost, limit, used, now)

    # ------------------------------------------------------------------ settle / give back

    def settle(self, reservation: Reservation) -> None:
        """The charge stands: the reservation already counts, so nothing is written."""
        logger.info("usage_increment", extra={
            "owner_type": reservation.owner_type, "charge_id": reservation.charge_id,
            "daily_used": reservation.daily_used, "plan_tenths": reservation.split.plan_tenths,
            "credits_tenths": reservation.split.credits_tenths})

    def give_back(self, reservation: Reservation, now: float | None = None) -> None:
        """Undo a reservation after a failure, exactly once: one transaction returns the day, the allowance
        and the credits and writes a marker, so a repeated give-back changes nothing. Errors are logged,
        never raised, so the caller's own error still reaches the client."""
        try:
            self._give_back(reservation, time.time() if now is None else now)
        except Exception:  # a failed give-back must not hide the original error
            logger.exception("give_back_failed", extra={"charge_id": reservation.charge_id})

    def _give_back(self, reservation: Reservation, now: float) -> None:
        from botocore.exceptions import ClientError

        # Each count goes back only into the window it came from: a window that rolled over starts from zero.
        returns: dict[str, dict[str, Any]] = {
            "daily": self._count_back(daily_usage_key(reservation.owner_type, reservation.owner_key),
                                      reservation.daily_reset_at),
            **{cap_key(cap): self._count_back(cap_key(cap)) for cap in reservation.caps}}
        if reservation.split.plan_tenths > 0:
            plan = reservation.split.plan_tenths
            returns["monthly"] = {
                "TableName": self._table,
                "Key": {"pk": {"S": monthly_usage_key(reservation.owner_type, reservation.owner_key,
                                                      reservation.month)}},
                "UpdateExpression": "ADD #used :minus", "ConditionExpression": "#used >= :plan",
                "ExpressionAttributeNames": {"#used": "usedTenths"},
                "ExpressionAttributeValues": {":minus": {"N": str(-plan)}, ":plan": {"N": str(plan)}}}
        for _ in range(ATTEMPTS):
            writes = [{"Put": {
                "TableName": self._table,
                "Item": {"pk": {"S": given_back_key(reservation.charge_id)}, "createdAt": {"N": str(int(now))},
                         "expiresAt": {"N": str(int(now) + CONSUME_RECORD_TTL_SECONDS)}},
                "ConditionExpression": "attribute_not_exists(pk)"}}]
            kinds = ["marker", *returns]
            writes.extend({"Update": update} for update in returns.values())
            if reservation.credits_taken and reservation.user_id:
                writes.extend(self._credits.return_writes(reservation))
            try:
                self._client.transact_write_items(TransactItems=writes)
                return
            except ClientError as error:
                if error_code(error) not in ("TransactionCanceledException", "TransactionConflictException"):
                    raise
                reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return  # given back before
            # A count whose window rolled over (or a month already below the charge) has nothing left to
            # return; a credits conflict is retried with a fresh read.
            for kind, reason in zip(kinds, reasons, strict=False):
                if reason == "ConditionalCheckFailed" and kind in returns:
                    del returns[kind]
        raise RuntimeError("give-back stayed contended after retries")

    def _count_back(self, key: str, reset_at: int | None = None) -> dict[str, Any]:
        """One count returned to a counter, never below zero; for the daily window only into the window
        that began at `reset_at`. The arguments of an `update_item`, or of an `Update` in a transaction."""
        condition, values = "#count > :zero", {":minus": {"N": "-1"}, ":zero": {"N": "0"}}
        names = {"#count": "count"}
        if reset_at is not None:
            condition = "#reset = :reset AND " + condition
            values[":reset"] = {"N": str(reset_at)}
            names["#reset"] = "resetAt"
        return {"TableName": self._table, "Key": {"pk": {"S": key}}, "UpdateExpression": "ADD #count :minus",
                "ConditionExpression": condition, "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values}

    def _count_back_quietly(self, update: dict[str, Any]) -> None:
        """Undo one count of a reservation that failed before it was complete (no marker needed: nothing else
        knows of it). A failure is logged, never raised: the refusal or error that stopped the reservation is
        what the client must see, and the other counts must still be returned."""
        try:
            self._client.update_item(**update)
        except Exception as error:
            if error_code(error) != "ConditionalCheckFailedException":  # nothing left to return is fine
                logger.exception("count_back_failed", extra={"key": update["Key"]["pk"]["S"]})

    # ------------------------------------------------------------------ credits in

    def add_credit_pack(self, user_id: str, pack_id: str, units_tenths: int, created_at: int,
                        expires_at: int, *, payment_ref: str | None = None) -> bool:
        """Add a purchased pack once (the entry point billing calls): see DynamoCredits.add_pack."""
        return self._credits.add_pack(user_id, pack_id, units_tenths, created_at, expires_at,
                                      payment_ref=payment_ref)

    def withdraw_refund(self, payment_ref: str, amount: int, amount_refunded: int) -> Withdrawal | None:
        """Take a refunded pack's unspent credits back once: see DynamoCredits.withdraw_refund."""
        return self._credits.withdraw_refund(payment_ref, amount, amount_refunded)
