"""GET/HEAD /r2-ai/{key+}: public uploads, owner-only results, conditional requests, large bodies."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest

from tests.integration.conftest import BUCKET, assert_security_headers, guest_cookie, guest_key, load_event

OWNER = guest_cookie("5d8a1f3e-2b4c-4d6e-8f0a-1b2c3d4e5f6a")
STRANGER = guest_cookie("7e6d5c4b-3a29-4180-9f8e-7d6c5b4a3928")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200


def _get(invoke, key: str, *, method: str = "GET", cookies=None, headers=None):
    return invoke("ImageProxyFunction", load_event("image-proxy-get-upload", method=method, path=f"/r2-ai/{key}",
                                                   cookies=cookies, headers=headers))


def _store(aws, key: str, body: bytes = PNG, content_type: str = "image/png") -> None:
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=body, ContentType=content_type)


def test_an_upload_is_public_with_cache_headers_and_an_etag(invoke, aws):
    key = "ai-enhancer/uploads/guest/abc123/1f0e.png"
    _store(aws, key)

    reply = _get(invoke, key)

    assert reply.status == 200
    assert reply.body == PNG
    assert reply.header("Content-Type") == "image/png"
    assert reply.header("Cache-Control") == "public, max-age=900, immutable"
    assert reply.header("ETag", ) and reply.header("ETag").startswith('"')
    assert reply.set_cookies == []  # public objects never issue a guest cookie
    assert_security_headers(reply)


def test_the_event_file_request_reaches_its_upload(invoke, aws):
    event = load_event("image-proxy-get-upload")
    _store(aws, event["rawPath"].removeprefix("/r2-ai/"))

    assert invoke("ImageProxyFunction", event).status == 200


def test_if_none_match_answers_304_without_a_body(invoke, aws):
    key = "ai-enhancer/uploads/user/u1/2a3b.png"
    _store(aws, key)
    etag = _get(invoke, key).header("ETag")

    for candidate in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        reply = _get(invoke, key, headers={"If-None-Match": candidate})
        assert reply.status == 304, candidate
        assert reply.body == b""
        assert reply.header("ETag") == etag
        assert_security_headers(reply)
    assert _get(invoke, key, headers={"If-None-Match": '"stale"'}).status == 200


def test_head_reports_size_and_etag_without_body(invoke, aws):
    key = "ai-enhancer/uploads/guest/g1/3c4d.png"
    _store(aws, key)

    reply = _get(invoke, key, method="HEAD")

    assert reply.status == 200
    assert reply.body == b""
    assert reply.header("Content-Length") == str(len(PNG))
    assert reply.header("Cache-Control") == "public, max-age=900, immutable"
    etag = reply.header("ETag")
    assert _get(invoke, key, method="HEAD", headers={"If-None-Match": etag}).status == 304


def test_a_result_is_served_to_its_guest_owner_only(invoke, aws):
    key = f"ai-enhancer/results/guest/{guest_key(OWNER)}/4e5f.png"
    _store(aws, key)

    owner = _get(invoke, key, cookies={"guest_id": OWNER})
    stranger = _get(invoke, key, cookies={"guest_id": STRANGER})

    assert owner.status == 200 and owner.body == PNG
    assert owner.header("Cache-Control") == "private, max-age=31536000, immutable"
    assert stranger.status == 403
    assert stranger.json()["error"]["type"] == "forbidden"
    assert_security_headers(stranger)


def test_a_result_without_any_cookie_is_403_and_issues_a_guest_cookie(invoke, aws):
    key = f"ai-enhancer/results/guest/{guest_key(OWNER)}/5f6a.png"
    _store(aws, key)

    reply = _get(invoke, key)

    assert reply.status == 403
    assert any(c.startswith("guest_id=") for c in reply.set_cookies)


def test_a_missing_result_is_404_to_anyone_and_someone_elses_stored_one_is_403(invoke, aws):
    mine = f"ai-enhancer/results/guest/{guest_key(OWNER)}/missing.png"
    theirs = f"ai-enhancer/results/guest/{guest_key(STRANGER)}/missing.png"
    stored = f"ai-enhancer/results/guest/{guest_key(STRANGER)}/stored.png"
    aws.s3.put_object(Bucket=BUCKET, Key=stored, Body=b"\x89PNG", ContentType="image/png")

    assert _get(invoke, mine, cookies={"guest_id": OWNER}).status == 404
    assert _get(invoke, theirs, cookies={"guest_id": OWNER}).status == 404
    assert _get(invoke, "ai-enhancer/results/guest/someone-else/x.png", cookies={"guest_id": OWNER}).status == 404
    assert _get(invoke, stored, cookies={"guest_id": OWNER}).status == 403


def test_a_user_result_needs_that_users_session(invoke, aws, accounts):
    alice = accounts.upsert_user("alice@example.com", "pro")
    bob = accounts.upsert_user("bob@example.com", "pro")
    alice_session = accounts.create_session(alice.user_id, int(time.time()) + 600)
    bob_session = accounts.create_session(bob.user_id, int(time.time()) + 600)
    key = f"ai-enhancer/results/user/{alice.user_id}/6a7b.png"
    _store(aws, key)

    assert _get(invoke, key, cookies={"session_id": alice_session}).status == 200
    assert _get(invoke, key, cookies={"session_id": bob_session}).status == 403


def test_a_signed_in_user_still_reads_results_made_as_a_guest(invoke, aws, accounts):
    user = accounts.upsert_user("convert@example.com", "free")
    session = accounts.create_session(user.user_id, int(time.time()) + 600)
    key = f"ai-enhancer/results/guest/{guest_key(OWNER)}/7b8c.png"
    _store(aws, key)

    assert _get(invoke, key, cookies={"session_id": session, "guest_id": OWNER}).status == 200


@pytest.mark.parametrize("key", [
    "not-allowed/x.png",
    "ai-enhancer/other/guest/x/y.png",
    "ai-enhancer/uploads/guest/x",
    "ai-enhancer/uploads/guest/x/../../results/guest/y/z.png",
    "ai-enhancer/uploads/guest/x/..%2F..%2Fsecret.png",
    "ai-enhancer%2Fuploads%2Fguest%2Fx%2Fy.png",
    "ai-enhancer/uploads//guest/x/y.png",
    "ai-enhancer/uploads/guest/x/./y.png",
    "ai-enhancer/uploads/guest/x/.hidden",
    "ai-enhancer/uploads/admin/x/y.png",
])
def test_keys_outside_the_scheme_never_reach_the_bucket(invoke, aws, key):
    # Even if such an object existed, the proxy must not serve it.
    aws.s3.put_object(Bucket=BUCKET, Key=key.replace("%2F", "/"), Body=PNG, ContentType="image/png")

    reply = _get(invoke, key, cookies={"guest_id": OWNER})

    assert reply.status == 404
    assert reply.json()["error"]["type"] == "not_found"
    assert_security_headers(reply)


def test_a_stored_non_image_is_never_rendered_inline(invoke, aws):
    key = "ai-enhancer/uploads/guest/x/evil.png"
    _store(aws, key, body=b"<script>alert(1)</script>", content_type="text/html")

    reply = _get(invoke, key)

    assert reply.status == 200
    assert reply.header("Content-Type") == "application/octet-stream"
    assert reply.header("Content-Disposition") == "attachment"


def test_a_body_too_large_for_lambda_redirects_to_a_short_lived_presigned_url(invoke, aws, monkeypatch):
    from enhancer import bootstrap

    monkeypatch.setenv("IMAGE_PROXY_INLINE_MAX_BYTES", "100")
    bootstrap.reset()
    key = "ai-enhancer/uploads/guest/x/big.png"
    _store(aws, key)

    reply = _get(invoke, key)

    assert reply.status == 302
    location = urlsplit(reply.header("Location"))
    assert location.path.endswith("/big.png")
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in location.query and "X-Amz-Expires=300" in location.query
    assert reply.header("Cache-Control") == "private, no-store"
    assert reply.body == b""
    assert_security_headers(reply)
