"""Stripe customers and subscriptions behind the `BillingAccounts` port (`services/ports.py`).

Each method is one write transaction: an event's SQL changes land together or not at all. The order of
events is decided here, against the row as stored (`domain.billing.supersedes`), inside the transaction.
"""

from __future__ import annotations

import time
from typing import Any

from enhancer.adapters.sql.connections import PerThreadConnection
from enhancer.domain.billing import ENDED_SUBSCRIPTION_STATUSES, Recorded, SubscriptionState, plan_after, supersedes
from enhancer.domain.plans import Plan, parse_plan


class SqlBilling(PerThreadConnection):
    def user_exists(self, user_id: str) -> bool:
        return self._conn.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is not None

    def user_for_customer(self, customer_id: str) -> str | None:
        row = self._conn.execute("SELECT user_id FROM stripe_customers WHERE customer_id = ?",
                                 (customer_id,)).fetchone()
        return row[0] if row else None

    def customer_of(self, user_id: str) -> str | None:
        row = self._conn.execute("SELECT customer_id FROM stripe_customers WHERE user_id = ?", (user_id,)).fetchone()
        return row[0] if row else None

    def subscription(self, subscription_id: str) -> SubscriptionState | None:
        row = self._conn.execute(
            "SELECT id, user_id, customer_id, plan, status, current_period_end, cancel_at_period_end, "
            "last_event_at FROM subscriptions WHERE id = ?", (subscription_id,)).fetchone()
        if row is None:
            return None
        return SubscriptionState(id=row[0], user_id=row[1], customer_id=row[2], plan=parse_plan(row[3]),
                                 status=row[4], current_period_end=row[5], cancel_at_period_end=bool(row[6]),
                                 event_at=row[7] or 0)

    def live_subscriptions(self, user_id: str) -> list[str]:
        """The ids of the user's subscriptions that have not ended (what an account deletion must cancel)."""
        ended = sorted(ENDED_SUBSCRIPTION_STATUSES)
        rows = self._conn.execute(
            f"SELECT id FROM subscriptions WHERE user_id = ? AND status NOT IN ({', '.join('?' * len(ended))}) "  # noqa: S608
            "ORDER BY id", (user_id, *ended)).fetchall()
        return [row[0] for row in rows]

    def current_subscription(self, customer_id: str) -> SubscriptionState | None:
        """The customer's newest subscription that has not ended (the development portal's view)."""
        ended = sorted(ENDED_SUBSCRIPTION_STATUSES)
        row = self._conn.execute(
            f"SELECT id FROM subscriptions WHERE customer_id = ? AND status NOT IN ({', '.join('?' * len(ended))}) "  # noqa: S608
            "ORDER BY last_event_at DESC, id LIMIT 1", (customer_id, *ended)).fetchone()
        return self.subscription(row[0]) if row else None

    def record_checkout(self, state: SubscriptionState) -> Recorded:
        """A completed subscription checkout: the customer linked to the user, the subscription stored unless a
        subscription event stored it already (that one knows more), and `users.plan` set from the subscription
        as stored."""
        def work(conn: Any) -> Recorded:
            _link_customer(conn, state.user_id, state.customer_id)
            now = _now()
            conn.execute(
                "INSERT INTO subscriptions (id, user_id, customer_id, plan, status, current_period_end, "
                "cancel_at_period_end, last_event_at, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (state.id, state.user_id, state.customer_id, state.plan.value, state.status,
                 state.current_period_end, int(state.cancel_at_period_end), state.event_at, now, now))
            plan, status = conn.execute("SELECT plan, status FROM subscriptions WHERE id = ?", (state.id,)).fetchone()
            return Recorded(True, _set_user_plan(conn, state.user_id, plan_after(status, parse_plan(plan))))

        return self._write(work)

    def record_subscription(self, state: SubscriptionState, price_id: str | None) -> Recorded:
        """A subscription event: stored when it is newer than what is stored (else nothing changes), the
        customer linked, `users.plan` set by the subscription's state."""
        def work(conn: Any) -> Recorded:
            row = conn.execute("SELECT last_event_at, status FROM subscriptions WHERE id = ?", (state.id,)).fetchone()
            if row is not None and not supersedes(state.event_at, state.status, row[0], row[1]):
                return Recorded(False)
            _link_customer(conn, state.user_id, state.customer_id)
            now = _now()
            conn.execute(
                "INSERT INTO subscriptions (id, user_id, customer_id, plan, status, current_period_end, "
                "cancel_at_period_end, last_event_at, price_id, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, customer_id = excluded.customer_id, "
                "plan = excluded.plan, status = excluded.status, current_period_end = excluded.current_period_end, "
                "cancel_at_period_end = excluded.cancel_at_period_end, last_event_at = excluded.last_event_at, "
                "price_id = excluded.price_id, updated_at = excluded.updated_at",
                (state.id, state.user_id, state.customer_id, state.plan.value, state.status,
                 state.current_period_end, int(state.cancel_at_period_end), state.event_at, price_id, now, now))
            return Recorded(True, _set_user_plan(conn, state.user_id, plan_after(state.status, state.plan)))

        return self._write(work)

    def record_payment_failed(self, subscription_id: str, event_at: int) -> Recorded:
        """A failed invoice: a paid subscription becomes past_due (it keeps its plan while Stripe retries),
        unless a newer event already said more."""
        def work(conn: Any) -> Recorded:
            cursor = conn.execute(
                "UPDATE subscriptions SET status = 'past_due', last_event_at = ?, updated_at = ? "
                "WHERE id = ? AND status IN ('active', 'trialing') AND COALESCE(last_event_at, 0) <= ?",
                (event_at, _now(), subscription_id, event_at))
            return Recorded(cursor.rowcount == 1)

        return self._write(work)


def _now() -> str:
    # The format SQLite's CURRENT_TIMESTAMP writes (the old rows'), written by the application on every dialect.
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())


def _link_customer(conn: Any, user_id: str, customer_id: str) -> None:
    conn.execute("INSERT INTO stripe_customers (user_id, customer_id) VALUES (?, ?) "
                 "ON CONFLICT (user_id) DO UPDATE SET customer_id = excluded.customer_id", (user_id, customer_id))


def _set_user_plan(conn: Any, user_id: str, plan: Plan | None) -> Plan | None:
    if plan is not None:
        conn.execute("UPDATE users SET plan = ? WHERE id = ?", (plan.value, user_id))
    return plan
