"""DynamoDB throttled or unreachable, injected on the shared client's `before-call` events: 503
`service_unavailable`, and whatever the reservation had taken before the fault is given back."""

from __future__ import annotations

from tests.faults.conftest import GUEST, assert_error, generate_event, load_event, throttled, unreachable


def _monthly_take(body: bytes, _: int) -> bool:
    return b"ai:usage:month:" in body


def test_dynamodb_throttled_mid_reservation_is_503_and_gives_back_what_was_taken(invoke, faults, books):
    # The guest caps and the day are taken; the month's write is throttled (botocore's retries spent).
    faults.fail("dynamodb", "UpdateItem", throttled("UpdateItem"), when=_monthly_take)

    reply = invoke("GenerateFunction", generate_event())

    error = assert_error(reply, 503, "service_unavailable")
    assert "ThrottlingException" not in reply.body.decode() and "retry" in error["message"]
    assert faults.failed == {"dynamodb.UpdateItem": 1}
    faults.heal()
    assert books.caps() and books.daily() == 0  # taken, then counted back
    books.untouched()


def test_dynamodb_unreachable_is_503_on_generate_and_usage_and_nothing_is_charged(invoke, faults, books):
    for operation in ("UpdateItem", "GetItem", "PutItem", "TransactWriteItems", "BatchGetItem", "Query"):
        faults.fail("dynamodb", operation, lambda: unreachable("dynamodb"))

    generated = invoke("GenerateFunction", generate_event())
    usage = invoke("UsageFunction", load_event("usage-get", cookies={"guest_id": GUEST}))

    assert_error(generated, 503, "service_unavailable")
    assert_error(usage, 503, "service_unavailable")
    assert faults.failed  # the fault was met, not sidestepped
    faults.heal()
    books.untouched()


def test_dynamodb_unreachable_after_the_day_is_taken_gives_the_day_back(invoke, faults, books):
    # The connection drops on the month's write: the day and the caps already counted go back.
    faults.fail("dynamodb", "UpdateItem", lambda: unreachable("dynamodb"), when=_monthly_take)

    reply = invoke("GenerateFunction", generate_event())

    assert_error(reply, 503, "service_unavailable")
    faults.heal()
    books.untouched()
