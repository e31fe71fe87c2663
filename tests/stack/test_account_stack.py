"""Account deletion on the local stack: a signed-in user with results, credits and a session asks to be
forgotten; afterwards their images are gone, the session no longer works, and signing in again starts fresh."""

from __future__ import annotations

from local.samples import png_bytes
from tests.stack.accounts import pay, sign_in, usage
from tests.stack.jobs import path_of, unsafe


def test_a_deleted_account_leaves_no_images_no_credits_and_no_session(client, s3, stack):
    user_id = sign_in(client, "leaving@example.com")
    checkout = client.post("/api/billing/credits", headers=unsafe(client), json={"pack": 100})
    assert pay(client, checkout.json()["data"]["url"]).status_code == 303
    made = client.post("/api/ai-image/generate", headers=unsafe(client), data={"model": "real-esrgan"},
                       files={"image": ("photo.png", png_bytes(32, 32), "image/png")})
    assert made.status_code == 200, made.text
    result, original = made.json()["data"]["imageUrl"], made.json()["data"]["originalUrl"]
    assert client.get(path_of(result)).status_code == 200
    before = usage(client)
    assert before["usage"]["used"] == 1 and before["creditsBalanceTenths"] == 1000

    deleted = client.delete("/api/auth/account", headers=unsafe(client))

    assert deleted.status_code == 200, deleted.text
    removed = deleted.json()["data"]["removed"]
    assert removed["images"] >= 2 and removed["counters"] >= 2 and removed["user"] is True
    assert removed["sessions"] == 1
    assert client.get(path_of(result)).status_code == 404 and client.get(path_of(original)).status_code == 404
    listed = s3.list_objects_v2(Bucket=stack["bucket"], Prefix=f"ai-enhancer/results/user/{user_id}/")
    assert listed.get("KeyCount", 0) == 0
    assert client.get("/api/auth/me").status_code == 401
    assert client.delete("/api/auth/account", headers=unsafe(client)).status_code == 401  # nothing left to delete

    again = sign_in(client, "leaving@example.com")
    fresh = usage(client)
    assert again != user_id and fresh["usage"]["used"] == 0 and fresh["creditsBalanceTenths"] == 0


def test_deleting_an_account_needs_the_csrf_token(client):
    sign_in(client, "staying@example.com")

    refused = client.delete("/api/auth/account", headers={"Origin": str(client.base_url).rstrip("/")})

    assert refused.status_code == 403
    assert client.get("/api/auth/me").status_code == 200
