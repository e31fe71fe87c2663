"""Personal API keys on the local stack, over HTTP through its gateway: a signed-in user makes a key with the
session; a separate client that holds only the key (no cookies at all) enhances an image and polls a job with
`Authorization: Bearer`; once revoked, the same call is 401."""

from __future__ import annotations

import httpx

from local.samples import png_bytes
from tests.stack.accounts import sign_in, usage
from tests.stack.conftest import client_from
from tests.stack.jobs import unsafe


def test_a_key_made_with_the_session_works_alone_until_revoked(client, stack):
    sign_in(client, "api-keys@example.com")
    made = client.post("/api/keys", headers=unsafe(client), json={"name": "script", "scopes": ["enhance",
                                                                                               "jobs:read"]})
    assert made.status_code == 201, made.text
    key, key_id = made.json()["data"]["key"], made.json()["data"]["id"]

    with client_from(client.source_address, stack["url"]) as script:  # its own, empty cookie jar
        bearer = {"Authorization": f"Bearer {key}"}

        def enhance() -> httpx.Response:
            return script.post("/api/ai-image/generate", headers=bearer, data={"model": "real-esrgan"},
                               files={"image": ("photo.png", png_bytes(32, 32), "image/png")})

        enhanced = enhance()
        assert enhanced.status_code == 200, enhanced.text
        assert "set-cookie" not in enhanced.headers and not script.cookies
        used = script.get("/api/ai-image/usage", headers=bearer).json()["data"]
        assert used["ownerType"] == "user" and used["usage"]["used"] == 1
        assert script.get("/api/ai-image/jobs", headers=bearer).status_code == 200
        assert script.get("/api/keys", headers=bearer).status_code == 401  # a key cannot manage keys

        listed = client.get("/api/keys").json()["data"]["keys"]
        assert [k["id"] for k in listed] == [key_id] and listed[0]["lastUsedAt"] is not None
        assert client.delete(f"/api/keys/{key_id}", headers=unsafe(client)).status_code == 200

        refused = enhance()
        assert refused.status_code == 401 and key not in refused.text
    assert usage(client)["usage"]["used"] == 1  # the key's enhancement was charged to the session's user
