"""DELETE /api/auth/account through its real handler: S3, DynamoDB and the Cognito user pool in moto, the rows in
SQLite, Stripe's API answered at the HTTP layer (respx): everything the account had is removed, once."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs

import boto3
import httpx
import pytest
import respx

from enhancer.adapters.dynamo_keys import credits_key, daily_usage_key, monthly_usage_key
from enhancer.domain.clock import month_key
from tests.integration.conftest import BUCKET, TABLE, assert_security_headers, both_engines, load_event

# The SQL store is this module's subject: every test runs on SQLite and on PostgreSQL.
engine = both_engines

TOKEN = "t" * 32
STRIPE_KEY = "sk_test_account_deletion_0123456789"


@pytest.fixture
def pool(aws, monkeypatch):
    cognito = boto3.client("cognito-idp", region_name="us-east-1")
    pool_id = cognito.create_user_pool(PoolName="users", UsernameAttributes=["email"])["UserPool"]["Id"]
    monkeypatch.setenv("COGNITO_USER_POOL_ID", pool_id)
    return type("Pool", (), {"client": cognito, "id": pool_id})


@pytest.fixture
def member(pool, accounts, aws, db):
    """A Cognito user signed in here, with images, counters, a credit pack, a job and a live subscription."""
    created = pool.client.admin_create_user(UserPoolId=pool.id, Username="member@example.com")["User"]
    account = accounts.sign_in(created["Username"], "member@example.com")
    user_id = account.user_id
    session = accounts.create_session(user_id, int(time.time()) + 3600)
    for key in (f"ai-enhancer/uploads/user/{user_id}/a.png", f"ai-enhancer/results/user/{user_id}/b.png"):
        aws.s3.put_object(Bucket=BUCKET, Key=key, Body=b"\x89PNG", ContentType="image/png")
    aws.s3.put_object(Bucket=BUCKET, Key="ai-enhancer/results/user/someone-else/c.png", Body=b"x")
    month = month_key(time.time())
    for key in (daily_usage_key("user", user_id), monthly_usage_key("user", user_id, month), credits_key(user_id)):
        aws.dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": key}, "count": {"N": "1"}})
    # rows the product's own flows would have written
    db.run("INSERT INTO stripe_customers (user_id, customer_id) VALUES (?, 'cus_1')", user_id)
    db.run("INSERT INTO subscriptions (id, user_id, customer_id, plan, status) "
           "VALUES ('sub_1', ?, 'cus_1', 'pro', 'active')", user_id)
    db.run("INSERT INTO ai_jobs (id, user_id, owner_type, owner_ref, provider, status) "
           "VALUES ('job-1', ?, 'user', ?, 'local', 'succeeded')", user_id, user_id)
    db.run("INSERT INTO api_keys (id, user_id, name, prefix, key_hash, scopes, created_at) "
           "VALUES ('key-1', ?, 'CI', 'enh_abcdefgh', ?, 'enhance', '2026-12-07T00:00:00.000000Z')", user_id, "h" * 64)
    return type("Member", (), {"id": user_id, "session": session, "subject": created["Username"]})


def _delete(invoke, session: str, *, csrf: bool = True):
    headers = {"origin": "https://api.example.com", **({"x-csrf-token": TOKEN} if csrf else {})}
    event = load_event("usage-get", method="DELETE", path="/api/auth/account", route_key="DELETE /api/auth/account",
                       cookies={"session_id": session, "csrf_token": TOKEN}, headers=headers)
    return invoke("AuthAccountFunction", event)


@pytest.fixture
def stripe_api(monkeypatch):
    monkeypatch.setenv("STRIPE_SECRET", STRIPE_KEY)
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post("https://api.stripe.com/v1/subscriptions/sub_1").mock(
            return_value=httpx.Response(200, json={"id": "sub_1", "object": "subscription",
                                                   "cancel_at_period_end": True, "status": "active"}))
        yield route


def test_deleting_an_account_removes_everything_it_had_once(invoke, member, pool, aws, db, stripe_api):
    reply = _delete(invoke, member.session)

    assert reply.status == 200, reply.body
    assert_security_headers(reply)
    removed = reply.json()["data"]["removed"]
    assert removed == {"subscriptionsCanceled": ["sub_1"], "signInIdentity": True, "images": 2, "counters": 3,
                       "jobs": 1, "apiKeys": 1, "sessions": 1, "user": True}
    [call] = stripe_api.calls
    assert parse_qs(call.request.content.decode()) == {"cancel_at_period_end": ["true"]}
    assert call.request.headers["authorization"] == f"Bearer {STRIPE_KEY}"
    assert call.request.headers["idempotency-key"] == "cancel-at-period-end:sub_1"
    keys = [o["Key"] for o in aws.s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert keys == ["ai-enhancer/results/user/someone-else/c.png"]
    left = [item["pk"]["S"] for item in aws.dynamodb.scan(TableName=TABLE)["Items"] if member.id in item["pk"]["S"]]
    assert all(key.startswith("rl:") for key in left), left  # only this request's rate window, which expires
    with pytest.raises(pool.client.exceptions.UserNotFoundException):
        pool.client.admin_get_user(UserPoolId=pool.id, Username=member.subject)
    for table, column in (("users", "id"), ("sessions", "user_id"), ("ai_jobs", "user_id"),
                          ("subscriptions", "user_id"), ("stripe_customers", "user_id"), ("api_keys", "user_id")):
        assert db.rows(f"SELECT COUNT(*) FROM {table} WHERE {column} = ?", member.id) == [(0,)]  # noqa: S608
    cleared = [c for c in reply.set_cookies if c.startswith("session_id=")]
    assert cleared and "Max-Age=0" in cleared[0]

    again = _delete(invoke, member.session)
    assert again.status == 401 and len(stripe_api.calls) == 1


def test_a_stripe_failure_deletes_nothing_so_the_user_can_ask_again(invoke, member, pool, aws, monkeypatch,
                                                                     db):
    monkeypatch.setenv("STRIPE_SECRET", STRIPE_KEY)
    with respx.mock() as mock:
        mock.post("https://api.stripe.com/v1/subscriptions/sub_1").mock(
            return_value=httpx.Response(500, json={"error": {"message": "Stripe is down", "type": "api_error"}}))
        reply = _delete(invoke, member.session)

    assert reply.status == 502 and "Stripe is down" not in reply.body.decode()
    assert pool.client.admin_get_user(UserPoolId=pool.id, Username=member.subject)["Username"] == member.subject
    assert len(aws.s3.list_objects_v2(Bucket=BUCKET)["Contents"]) == 3
    assert db.rows("SELECT COUNT(*) FROM users WHERE id = ?", member.id) == [(1,)]


def test_deleting_an_account_needs_csrf_and_a_session(invoke, member):
    assert _delete(invoke, member.session, csrf=False).status == 403
    assert _delete(invoke, "no-such-session").status == 401
    assert json.loads(_delete(invoke, "no-such-session").body)["error"]["type"] == "auth_error"
