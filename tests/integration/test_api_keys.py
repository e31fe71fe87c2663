"""Personal API keys through the real handlers (events from `events/`, moto, the SQL store on SQLite and on
PostgreSQL): created, listed and revoked with the session; used as `Authorization: Bearer` with no cookies."""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from enhancer.adapters.sql import open_api_keys
from enhancer.domain.api_keys import Scope, new_key
from enhancer.services.api_keys import key_time
from tests.integration.conftest import (
    TABLE,
    assert_security_headers,
    both_engines,
    load_event,
    start_in_a_fresh_rate_window,
)

# The keys live in the SQL store: every test runs on SQLite and on PostgreSQL.
engine = both_engines

TOKEN = "0123456789abcdef0123456789abcdef"  # the events' CSRF double submit
ORIGIN = "https://api.example.com"


@pytest.fixture
def member(accounts):
    """A pro user signed in with a session."""
    account = accounts.upsert_user("keys-owner@example.com", "pro")
    return type("Member", (), {"id": account.user_id,
                               "session": accounts.create_session(account.user_id, int(time.time()) + 3600)})


def _session_event(name: str, session: str, *, method: str | None = None, path: str | None = None,
                   route_key: str | None = None, csrf: bool = True, origin: bool = True,
                   body: dict | None = None) -> dict:
    event = load_event(name, method=method, path=path, route_key=route_key,
                       cookies={"session_id": session, "csrf_token": TOKEN})
    if not csrf:
        event["headers"].pop("x-csrf-token", None)
    if not origin:
        event["headers"].pop("origin", None)
    if body is not None:
        event["body"], event["isBase64Encoded"] = json.dumps(body), False
    return event


def create(invoke, session: str, name: str = "CI", scopes: tuple[str, ...] = ("enhance", "jobs:read"), **kw):
    return invoke("KeysCreateFunction", _session_event("keys-create-post", session,
                                                       body={"name": name, "scopes": list(scopes)}, **kw))


def listing(invoke, session: str):
    return invoke("KeysListFunction", _session_event("keys-list-get", session))


def revoke(invoke, session: str, key_id: str, **kw):
    event = _session_event("keys-revoke-delete", session, path=f"/api/keys/{key_id}", **kw)
    event["pathParameters"] = {"key_id": key_id}
    return invoke("KeysRevokeFunction", event)


def with_key(event: dict, key: str) -> dict:
    """The event as an API client sends it: the key, and no cookies, no Origin, no CSRF token."""
    event.pop("cookies", None)
    for name in ("origin", "x-csrf-token", "referer"):
        event["headers"].pop(name, None)
    event["headers"]["authorization"] = f"Bearer {key}"
    return event


def generate_with(invoke, key: str):
    return invoke("GenerateFunction", with_key(load_event("generate-post"), key))


def _daily_user_count(aws, user_id: str) -> int:
    from enhancer.adapters.dynamo_keys import daily_usage_key

    item = aws.dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": daily_usage_key("user", user_id)}}).get("Item")
    return int(item["count"]["N"]) if item else 0


def test_a_key_enhances_with_bearer_and_no_cookies_and_after_revocation_is_401(invoke, aws, member, db):
    created = create(invoke, member.session)
    assert created.status == 201, created.body
    data = created.json()["data"]
    key = data["key"]
    assert key.startswith("enh_") and len(key) == 47 and data["prefix"] == key[:12]
    assert data["scopes"] == ["enhance", "jobs:read"] and data["lastUsedAt"] is None and data["revokedAt"] is None

    enhanced = generate_with(invoke, key)

    assert enhanced.status == 200, enhanced.body
    assert_security_headers(enhanced)
    assert enhanced.set_cookies == []  # no guest is made for a key caller
    assert _daily_user_count(aws, member.id) == 1  # charged to the key's user, on their plan
    assert enhanced.json()["data"]["entitlements"]["maxUpscale"] == 4  # pro's, not a guest's

    revoked = revoke(invoke, member.session, data["id"])
    assert revoked.status == 200 and revoked.json()["data"]["revokedAt"] is not None

    refused = generate_with(invoke, key)
    assert refused.status == 401, refused.body
    assert refused.json()["error"]["type"] == "auth_error" and key not in refused.body.decode()
    assert _daily_user_count(aws, member.id) == 1


def test_the_store_holds_the_keys_hash_and_prefix_never_the_key(invoke, aws, member, db):
    key = create(invoke, member.session).json()["data"]["key"]

    rows = db.rows("SELECT id, user_id, name, prefix, key_hash, scopes, created_at, last_used_at, revoked_at "
                   "FROM api_keys")

    assert len(rows) == 1
    _, user_id, name, prefix, stored_hash, scopes, created_at, last_used_at, revoked_at = rows[0]
    assert stored_hash == hashlib.sha256(key.encode()).hexdigest()
    assert (user_id, name, prefix, scopes) == (member.id, "CI", key[:12], "enhance jobs:read")
    assert last_used_at is None and revoked_at is None and created_at.endswith("Z")
    assert not any(key in str(value) for value in rows[0])


def test_the_list_is_newest_first_with_revoked_keys_and_never_a_key_or_hash(invoke, aws, member):
    first = create(invoke, member.session, "first").json()["data"]
    second = create(invoke, member.session, "second", ("jobs:read",)).json()["data"]
    revoke(invoke, member.session, first["id"])

    reply = listing(invoke, member.session)

    assert reply.status == 200
    keys = reply.json()["data"]["keys"]
    assert [k["name"] for k in keys] == ["second", "first"]
    assert keys[0]["revokedAt"] is None and keys[1]["revokedAt"] is not None
    assert set(keys[0]) == {"id", "name", "prefix", "scopes", "createdAt", "lastUsedAt", "revokedAt"}
    body = reply.body.decode()
    for secret in (first["key"], second["key"]):
        assert secret not in body and hashlib.sha256(secret.encode()).hexdigest() not in body


def test_each_key_shows_when_it_was_last_used(invoke, aws, member):
    key = create(invoke, member.session).json()["data"]["key"]
    before = key_time(time.time() - 1)

    assert invoke("UsageFunction", with_key(load_event("usage-get"), key)).status == 200

    [shown] = listing(invoke, member.session).json()["data"]["keys"]
    assert shown["lastUsedAt"] is not None and shown["lastUsedAt"] >= before


def test_last_used_is_one_conditional_write_a_minute(accounts, member, database_url_of_test):
    from enhancer.domain.api_keys import ApiKey

    keys = open_api_keys(database_url_of_test)
    record = ApiKey(id="8d2f4a6b-1c3e-4f5a-9b7d-2e4f6a8c0b1d", user_id=member.id, name="CI", prefix="enh_abcdefgh",
                    scopes=(Scope.ENHANCE,), created_at=key_time(1000), last_used_at=None, revoked_at=None)
    assert keys.insert(record, "h" * 64, max_active=10)

    assert keys.touch(record.id, key_time(2000), stale_before=key_time(1940)) is True  # never used yet
    assert keys.touch(record.id, key_time(2030), stale_before=key_time(1970)) is False  # used 30 s ago
    assert keys.touch(record.id, key_time(2061), stale_before=key_time(2001)) is True  # a minute later
    found = keys.authenticate("h" * 64)
    assert found is not None and found.last_used_at == key_time(2061)


def test_the_repository_caps_active_keys_and_revocation_keeps_its_time(accounts, member, database_url_of_test):
    from enhancer.domain.api_keys import ApiKey

    keys = open_api_keys(database_url_of_test)
    other = accounts.upsert_user("someone-else@example.com", "free").user_id

    def key(n: int, user_id: str = member.id) -> ApiKey:
        return ApiKey(id=f"8d2f4a6b-1c3e-4f5a-9b7d-2e4f6a8c{n:04d}", user_id=user_id, name=f"k{n}",
                      prefix="enh_abcdefgh", scopes=(Scope.ENHANCE, Scope.JOBS_READ), created_at=key_time(1000 + n),
                      last_used_at=None, revoked_at=None)

    assert all(keys.insert(key(n), f"{n:064d}", max_active=10) for n in range(10))
    assert keys.insert(key(10), f"{10:064d}", max_active=10) is False
    assert keys.insert(key(11, other), f"{11:064d}", max_active=10) is True
    assert [k.name for k in keys.list_for(member.id)] == [f"k{n}" for n in range(9, -1, -1)]

    revoked = keys.revoke(member.id, key(3).id, key_time(5000))
    again = keys.revoke(member.id, key(3).id, key_time(6000))
    assert revoked is not None and again is not None and again.revoked_at == key_time(5000)
    assert keys.revoke(other, key(4).id, key_time(5000)) is None  # someone else's key
    assert keys.authenticate(f"{3:064d}") is None and keys.authenticate(f"{4:064d}") is not None
    assert keys.insert(key(10), f"{10:064d}", max_active=10) is True  # room again


def test_past_ten_active_keys_create_is_409(invoke, aws, member, database_url_of_test):
    from enhancer.domain.api_keys import ApiKey

    keys = open_api_keys(database_url_of_test)
    for n in range(10):
        keys.insert(ApiKey(id=f"8d2f4a6b-1c3e-4f5a-9b7d-2e4f6a8c{n:04d}", user_id=member.id, name=f"k{n}",
                           prefix="enh_abcdefgh", scopes=(Scope.ENHANCE,), created_at=key_time(1000 + n),
                           last_used_at=None, revoked_at=None), f"{n:064d}", max_active=10)

    reply = create(invoke, member.session)

    assert reply.status == 409 and reply.json()["error"]["type"] == "conflict"
    assert reply.json()["error"]["details"] == {"maxActiveKeys": 10}


@pytest.mark.parametrize("missing", ["csrf", "origin"])
def test_creating_and_revoking_need_origin_and_csrf(invoke, aws, member, db, missing):
    key_id = create(invoke, member.session).json()["data"]["id"]
    flags = {"csrf": missing != "csrf", "origin": missing != "origin"}

    assert create(invoke, member.session, "second", **flags).status == 403
    assert revoke(invoke, member.session, key_id, **flags).status == 403
    assert db.rows("SELECT name, revoked_at FROM api_keys") == [("CI", None)]


@pytest.mark.parametrize(("function_id", "name"), [("KeysListFunction", "keys-list-get"),
                                                    ("KeysCreateFunction", "keys-create-post"),
                                                    ("KeysRevokeFunction", "keys-revoke-delete")])
def test_the_key_routes_need_a_session_before_anything_else(invoke, aws, function_id, name):
    anonymous = load_event(name, cookies={"csrf_token": TOKEN})
    anonymous["body"] = "{}" if anonymous["requestContext"]["http"]["method"] == "POST" else None

    reply = invoke(function_id, anonymous)

    assert reply.status == 401 and reply.json()["error"]["type"] == "auth_error", reply.body


@pytest.mark.parametrize("body", [{"name": "", "scopes": ["enhance"]}, {"name": "x" * 65, "scopes": ["enhance"]},
                                  {"name": "tab\there", "scopes": ["enhance"]}, {"name": "CI", "scopes": []},
                                  {"name": "CI", "scopes": ["admin"]}, {"name": "CI"}, {"scopes": ["enhance"]}])
def test_a_bad_name_or_scope_is_a_400_naming_the_field(invoke, aws, member, db, body):
    event = _session_event("keys-create-post", member.session, body=body)

    reply = invoke("KeysCreateFunction", event)

    assert reply.status == 400 and reply.json()["error"]["type"] == "validation_error", reply.body
    assert db.rows("SELECT COUNT(*) FROM api_keys") == [(0,)]


def test_someone_elses_key_or_an_unknown_one_cannot_be_revoked(invoke, aws, member, accounts):
    key_id = create(invoke, member.session).json()["data"]["id"]
    other = accounts.upsert_user("other@example.com", "free").user_id
    other_session = accounts.create_session(other, int(time.time()) + 3600)

    assert revoke(invoke, other_session, key_id).status == 404
    assert revoke(invoke, member.session, "8d2f4a6b-1c3e-4f5a-9b7d-2e4f6a8c0b1d").status == 404
    assert revoke(invoke, member.session, "not-a-uuid").status == 404
    first = revoke(invoke, member.session, key_id)
    second = revoke(invoke, member.session, key_id)
    assert first.status == second.status == 200
    assert first.json()["data"]["revokedAt"] == second.json()["data"]["revokedAt"]


def test_a_key_cannot_manage_keys_or_reach_routes_that_take_none(invoke, aws, member):
    key = create(invoke, member.session).json()["data"]["key"]
    elsewhere = [("KeysListFunction", load_event("keys-list-get")),
                 ("KeysCreateFunction", load_event("keys-create-post")),
                 ("KeysRevokeFunction", load_event("keys-revoke-delete")),
                 ("BillingSessionFunction", load_event("billing-session-post")),
                 ("AuthMeFunction", load_event("auth-me-get")),
                 ("AuthAccountFunction", load_event("auth-account-delete"))]

    for function_id, event in elsewhere:
        reply = invoke(function_id, with_key(event, key))
        assert reply.status == 401, (function_id, reply.body)
        assert reply.json()["error"]["message"] == "API keys are not accepted here", function_id
        assert_security_headers(reply)

    # A session cookie beside the key changes nothing: the key decides, and it is refused here.
    with_session = with_key(load_event("keys-list-get"), key)
    with_session["cookies"] = [f"session_id={member.session}"]
    assert invoke("KeysListFunction", with_session).status == 401


def test_a_bearer_request_ignores_cookies_entirely(invoke, aws, member):
    event = with_key(load_event("usage-get"), new_key())  # well-formed, but no such key
    event["cookies"] = [f"session_id={member.session}"]

    reply = invoke("UsageFunction", event)

    assert reply.status == 401 and reply.json()["error"]["type"] == "auth_error"
    assert reply.set_cookies == []


def test_a_bearer_generate_needs_no_origin_or_csrf_but_a_cookie_one_still_does(invoke, aws, member):
    key = create(invoke, member.session).json()["data"]["key"]
    cookie_event = load_event("generate-post", cookies={"session_id": member.session})  # no csrf_token cookie

    assert invoke("GenerateFunction", cookie_event).status == 403
    assert generate_with(invoke, key).status == 200


def test_a_key_without_the_routes_scope_is_403_naming_it(invoke, aws, member):
    reader = create(invoke, member.session, "reader", ("jobs:read",)).json()["data"]["key"]
    enhancer = create(invoke, member.session, "enhancer", ("enhance",)).json()["data"]["key"]

    refused = generate_with(invoke, reader)
    assert refused.status == 403, refused.body
    assert "'enhance'" in refused.json()["error"]["message"]
    assert refused.json()["error"]["details"] == {"requiredScopes": ["enhance"]}
    assert invoke("JobsListFunction", with_key(load_event("jobs-list-get"), reader)).status == 200
    assert invoke("JobsListFunction", with_key(load_event("jobs-list-get"), enhancer)).status == 403
    for key in (reader, enhancer):  # usage takes either
        assert invoke("UsageFunction", with_key(load_event("usage-get"), key)).status == 200


@pytest.mark.parametrize("presented", ["", "not-a-key", "enh_" + "A" * 43, "Zm9vOmJhcg=="])
def test_a_malformed_or_unknown_key_is_401_and_never_echoed(invoke, aws, presented):
    reply = invoke("UsageFunction", with_key(load_event("usage-get"), presented))

    assert reply.status == 401 and reply.json()["error"]["type"] == "auth_error"
    if presented:
        assert presented not in reply.body.decode()


def test_key_requests_count_in_the_keys_and_the_users_rate_windows(invoke, aws, member):
    key = create(invoke, member.session, scopes=("jobs:read",)).json()["data"]["key"]
    other_key = create(invoke, member.session, "second", ("jobs:read",)).json()["data"]["key"]

    # `api` allows 30 a minute per subject: a second key of the same user does not buy 30 more.
    start_in_a_fresh_rate_window()
    statuses = [invoke("UsageFunction", with_key(load_event("usage-get"), k)).status
                for k in [key] * 20 + [other_key] * 11]

    assert statuses[:30] == [200] * 30 and statuses[30] == 429


def test_the_key_appears_in_no_log_line_and_no_response(invoke, aws, member, logs, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")  # an operator's debugging switch changes nothing
    key = create(invoke, member.session).json()["data"]["key"]
    replies = [generate_with(invoke, key),
               invoke("GenerateFunction", with_key(load_event("generate-post", body=b"not a form"), key)),
               invoke("BillingSessionFunction", with_key(load_event("billing-session-post"), key)),
               invoke("UsageFunction", with_key(load_event("usage-get"), key + "x"))]
    key_id = listing(invoke, member.session).json()["data"]["keys"][0]["id"]
    revoke(invoke, member.session, key_id)
    replies.append(generate_with(invoke, key))

    assert [reply.status for reply in replies] == [200, 400, 401, 401, 401]
    lines = logs()
    assert lines, "the handlers logged nothing: the check would prove nothing"
    assert key not in json.dumps(lines)
    assert key[4:] not in json.dumps(lines)  # not even without its prefix
    for reply in replies:
        assert key not in reply.body.decode() and key not in json.dumps(reply.header_list)


def test_a_keys_result_image_is_served_to_the_key_and_to_no_one_else(invoke, aws, member):
    created = create(invoke, member.session).json()["data"]
    key = created["key"]
    image_url = generate_with(invoke, key).json()["data"]["imageUrl"]
    path = "/" + image_url.split("/", 3)[3]

    def fetch(event: dict):
        return invoke("ImageProxyFunction", event)

    with_the_key = fetch(with_key(load_event("image-proxy-get-upload", path=path), key))
    assert with_the_key.status == 200, with_the_key.body
    assert (with_the_key.header("content-type") or "").startswith("image/")
    as_a_guest = fetch(with_key(load_event("image-proxy-get-upload", path=path), key) | {"headers": {}})
    assert as_a_guest.status == 403  # a result is its owner's alone
    models = invoke("ModelsFunction", with_key(load_event("models-get"), key))
    assert models.status == 200  # a public route does not refuse a client that sends its key everywhere

    revoke(invoke, member.session, created["id"])
    assert fetch(with_key(load_event("image-proxy-get-upload", path=path), key)).status == 401
