"""Guests cannot spend without bound, and refusals name the limit that refused, over HTTP on the local stack."""

from __future__ import annotations

import time
import uuid

from enhancer.adapters.dynamo_keys import monthly_usage_key
from enhancer.domain.clock import month_key
from enhancer.domain.identity import guest_owner_key
from tests.stack.test_generate_stack import _dynamodb, _in_parallel, generate


def test_a_made_up_guest_cookie_is_replaced_by_an_issued_one(client):
    made_up = str(uuid.uuid4())
    client.cookies.set("guest_id", made_up)

    first = client.get("/api/ai-image/usage")
    issued = first.cookies["guest_id"]
    again = client.get("/api/ai-image/usage")

    issued_id, _, signature = issued.partition(".")
    assert issued_id != made_up and len(signature) == 32
    assert "guest_id" not in again.cookies  # the issued cookie is honoured, not replaced again
    assert again.json()["data"]["ownerType"] == "guest"


def test_forty_made_up_guest_ids_from_one_ip_get_twenty_enhancements_in_the_hour(client):
    """The default bound (GUEST_IMAGES_PER_IP_PER_HOUR=20). Each made-up id is replaced by a new guest, and a
    request that makes a new guest also counts in its IP's shared generate window (15 a minute), so the rest of
    the hour's twenty come from guests that keep their issued cookie."""
    replies, issued = [], []
    for _ in range(40):
        client.cookies.clear()
        client.cookies.set("guest_id", str(uuid.uuid4()))
        reply = generate(client, {"model": "real-esrgan"})
        replies.append(reply)
        if reply.status_code == 200:
            issued.append(reply.cookies["guest_id"])
    for cookie in issued:
        client.cookies.clear()
        client.cookies.set("guest_id", cookie)
        replies.append(generate(client, {"model": "real-esrgan"}))

    statuses = [reply.status_code for reply in replies]
    assert statuses.count(200) == 20, statuses
    assert set(statuses) == {200, 429}
    scopes = {reply.json()["error"].get("details", {}).get("scope") for reply in replies if reply.status_code == 429}
    assert "guestIp" in scopes


def test_parallel_refusals_at_the_end_of_the_month_name_the_month(client, stack, owner_key_secret):
    """A guest at 89 of 90 credits sends 12 at once: one is charged, and every refusal names the month (not
    the day, which parallel requests fill for a moment with charges the month then gives back)."""
    client.get("/api/ai-image/usage")
    owner_key = guest_owner_key(owner_key_secret, client.cookies["guest_id"].partition(".")[0])
    _dynamodb(stack).put_item(TableName=stack["table"], Item={
        "pk": {"S": monthly_usage_key("guest", owner_key, month_key(time.time()))}, "usedTenths": {"N": "890"}})

    replies = _in_parallel(client, 12)

    assert sorted(reply.status_code for reply in replies) == [200] + [403] * 11, [r.text[:200] for r in replies]
    refusals = [reply.json()["error"]["details"] for reply in replies if reply.status_code == 403]
    assert {(d["scope"], d["used"], d["limit"]) for d in refusals} == {("monthly", 90, 90)}
    usage = client.get("/api/ai-image/usage").json()["data"]
    assert usage["usage"]["used"] == 1


def test_a_signed_in_user_is_never_counted_by_the_guest_bounds(client, stack):
    from tests.stack.test_local_stack import sign_in

    sign_in(client, "pro")
    statuses = [generate(client, {"model": "real-esrgan"}).status_code for _ in range(3)]

    assert statuses == [200, 200, 200]
    items = _dynamodb(stack).scan(TableName=stack["table"])["Items"]
    assert not [i for i in items if i["pk"]["S"].startswith(f"ai:cap:guestImagesIp:{client.source_address}:")]
