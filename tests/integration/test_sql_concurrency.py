"""Races on the SQL store, on SQLite and on PostgreSQL (`database_url`): the same end state on both engines
whatever the interleaving. Threads share one repository (one connection each), as the local gateway's do;
Lambda's execution environments are separate processes, which the database sees the same way: as separate
connections. On PostgreSQL the write transactions are serializable and run again on a conflict
(`connections.PerThreadConnection._write`); on SQLite they take the write lock first."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from enhancer.adapters.sql import connect, migrate_and_check, open_accounts, open_billing, open_jobs
from enhancer.domain.auth import SignInRefused
from enhancer.domain.billing import Recorded, SubscriptionState
from enhancer.domain.jobs import JobStatus
from enhancer.domain.plans import Plan
from tests.integration.test_sql_jobs import at, job

THREADS = 8


@pytest.fixture
def url(database_url):
    assert migrate_and_check(database_url, apply=True).ok
    return database_url


def rows(url: str, statement: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = connect(url)
    try:
        return [tuple(row) for row in conn.execute(statement, args).fetchall()]
    finally:
        conn.close()


def race(count: int, attempt: Callable[[int], Any]) -> list[Any]:
    """`attempt(i)` on `count` threads released at once; each one's result, or the exception it raised."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        start.wait()
        try:
            results[index] = attempt(index)
        except Exception as exc:  # the test asserts on what each thread got
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


# --- jobs ---------------------------------------------------------------------------------------------------------

def test_parallel_creates_all_land(url):
    jobs = open_jobs(url)

    results = race(THREADS, lambda i: jobs.insert(job(f"job-{i}", created=i)))

    assert results == [None] * THREADS
    assert rows(url, "SELECT COUNT(*) FROM ai_jobs") == [(THREADS,)]


def test_of_parallel_creates_with_one_id_exactly_one_lands(url):
    jobs = open_jobs(url)

    results = race(THREADS, lambda i: jobs.insert(job("same", created=i)))

    assert sum(result is None for result in results) == 1
    assert rows(url, "SELECT COUNT(*) FROM ai_jobs") == [(1,)]


def test_cancels_racing_completions_end_in_exactly_one_of_them(url):
    jobs = open_jobs(url)
    for i in range(THREADS):
        jobs.insert(job(f"job-{i}", status=JobStatus.PROCESSING))
    moves = [(f"job-{i // 2}", JobStatus.CANCELED if i % 2 else JobStatus.SUCCEEDED) for i in range(THREADS * 2)]

    won = race(len(moves), lambda i: jobs.move(moves[i][0], moves[i][1], at=at(10 + i)))

    for i in range(THREADS):
        winners = [moves[k][1] for k in range(len(moves)) if moves[k][0] == f"job-{i}" and won[k] is True]
        assert len(winners) == 1, (i, won)
        assert jobs.get(f"job-{i}").status is winners[0]


# --- accounts -----------------------------------------------------------------------------------------------------

def test_parallel_upserts_of_one_email_make_one_user(url):
    accounts = open_accounts(url)

    results = race(THREADS, lambda i: accounts.upsert_user("Same@Example.com", "pro" if i % 2 else "free"))

    assert {result.user_id for result in results} == {rows(url, "SELECT id FROM users")[0][0]}
    assert rows(url, "SELECT COUNT(*), email FROM users GROUP BY email") == [(1, "same@example.com")]


def test_parallel_first_sign_ins_of_one_subject_make_one_user(url):
    accounts = open_accounts(url)

    results = race(THREADS, lambda i: accounts.sign_in("subject-1", "first@example.com"))

    assert all(not isinstance(result, Exception) for result in results), results
    assert len({result.user_id for result in results}) == 1
    assert rows(url, "SELECT COUNT(*), cognito_sub FROM users GROUP BY cognito_sub") == [(1, "subject-1")]


def test_two_subjects_racing_for_one_email_leave_it_to_one_of_them(url):
    accounts = open_accounts(url)

    results = race(THREADS, lambda i: accounts.sign_in(f"subject-{i % 2}", "shared@example.com"))

    refused = [r for r in results if isinstance(r, SignInRefused)]
    signed_in = [r for r in results if not isinstance(r, Exception)]
    assert len(refused) + len(signed_in) == THREADS and refused and signed_in
    assert len({r.user_id for r in signed_in}) == 1
    assert rows(url, "SELECT COUNT(*) FROM users") == [(1,)]


# --- billing: duplicated webhooks ---------------------------------------------------------------------------------

def state(user_id: str, *, status: str = "active", event_at: int = 1_790_000_000) -> SubscriptionState:
    return SubscriptionState(id="sub_1", user_id=user_id, customer_id="cus_1", plan=Plan.PRO, status=status,
                             current_period_end=event_at + 2_592_000, cancel_at_period_end=False, event_at=event_at)


def stored(url: str) -> list[tuple[Any, ...]]:
    return rows(url, "SELECT s.plan, s.status, s.last_event_at, s.price_id, c.customer_id, u.plan "
                     "FROM subscriptions s JOIN stripe_customers c ON c.user_id = s.user_id "
                     "JOIN users u ON u.id = s.user_id")


def test_a_subscription_event_delivered_many_times_at_once_lands_as_one(url):
    user = open_accounts(url).upsert_user("buyer@example.com", "free")
    billing = open_billing(url)

    results = race(THREADS, lambda i: billing.record_subscription(state(user.user_id), "price_pro"))

    assert all(isinstance(result, Recorded) for result in results), results
    assert stored(url) == [("pro", "active", 1_790_000_000, "price_pro", "cus_1", "pro")]
    assert rows(url, "SELECT COUNT(*) FROM subscriptions") == [(1,)]


def test_a_checkout_and_its_subscription_events_racing_end_as_the_newest_says(url):
    user = open_accounts(url).upsert_user("buyer@example.com", "free")
    billing = open_billing(url)
    deliveries = [lambda: billing.record_checkout(state(user.user_id, event_at=1_790_000_000)),
                  lambda: billing.record_subscription(state(user.user_id, event_at=1_790_000_005), "price_pro"),
                  lambda: billing.record_subscription(
                      state(user.user_id, status="canceled", event_at=1_790_000_009), "price_pro")] * 3

    results = race(len(deliveries), lambda i: deliveries[i]())

    assert all(isinstance(result, Recorded) for result in results), results
    assert stored(url) == [("pro", "canceled", 1_790_000_009, "price_pro", "cus_1", "free")]


def test_payment_failures_racing_a_newer_update_never_overwrite_it(url):
    user = open_accounts(url).upsert_user("buyer@example.com", "free")
    billing = open_billing(url)
    billing.record_subscription(state(user.user_id, event_at=1_790_000_000), "price_pro")
    deliveries = [lambda: billing.record_payment_failed("sub_1", 1_790_000_003),
                  lambda: billing.record_subscription(state(user.user_id, event_at=1_790_000_007), "price_pro")] * 4

    results = race(len(deliveries), lambda i: deliveries[i]())

    assert all(isinstance(result, Recorded) for result in results), results
    assert stored(url) == [("pro", "active", 1_790_000_007, "price_pro", "cus_1", "pro")]
