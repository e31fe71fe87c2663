"""POST /api/ai-image/generate through the real handler: validation, plans, quota, credits, providers."""

from __future__ import annotations

import base64
import io
import json
import sys
import time

import httpx
import pytest
import respx
from PIL import Image

from enhancer import bootstrap
from enhancer.adapters.dynamo_keys import credits_key, daily_usage_key, monthly_usage_key
from enhancer.domain.clock import month_key
from tests.integration.conftest import (
    BUCKET,
    TABLE,
    assert_security_headers,
    guest_cookie,
    guest_key,
    load_event,
    multipart,
    png_bytes,
    start_in_a_fresh_rate_window,
)
from tests.replicate_wire import prediction_json

GUEST = guest_cookie("2b7e1516-28ae-4d2a-a6f7-15880928cf4f")
OTHER_GUEST = guest_cookie("6bc1bee2-2e40-4f9f-96e9-3d7e117393d1")
TOKEN = "0123456789abcdef0123456789abcdef"
PNG_256 = png_bytes(256, 256)


@pytest.fixture(autouse=True)
def _echo_by_default(provider):
    """Every test starts on the echo provider (`provider` in the integration conftest chooses another)."""


def generate_event(fields: dict[str, str], image: bytes | None = PNG_256, *, cookies: dict[str, str] | None = None,
                   json_body: dict | None = None, headers: dict[str, str] | None = None,
                   source_ip: str | None = None) -> dict:
    jar = {"csrf_token": TOKEN, "guest_id": GUEST} if cookies is None else {"csrf_token": TOKEN, **cookies}
    if json_body is not None:
        body, content_type = json.dumps(json_body).encode(), "application/json"
    else:
        body, content_type = multipart(fields, image)
    event = load_event("dev-login-post", path="/api/ai-image/generate", cookies=jar,
                       headers={"content-type": content_type, **(headers or {})}, source_ip=source_ip)
    event["routeKey"] = event["requestContext"]["routeKey"] = "POST /api/ai-image/generate"
    event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    return event


def _objects(aws) -> list[str]:
    return [o["Key"] for o in aws.s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def _daily(aws, owner_type: str, owner_key: str) -> int:
    item = aws.dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": daily_usage_key(owner_type, owner_key)}}).get("Item")
    return int(item["count"]["N"]) if item else 0


def _monthly(aws, owner_type: str, owner_key: str) -> int:
    key = monthly_usage_key(owner_type, owner_key, month_key(time.time()))
    item = aws.dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": key}}).get("Item")
    return int(item["usedTenths"]["N"]) if item else 0


def _proxy(invoke, url: str, guest_id: str):
    path = httpx.URL(url).raw_path.decode()
    return invoke("ImageProxyFunction", load_event("image-proxy-get-upload", path=path, cookies={"guest_id": guest_id}))


def test_a_guest_upscales_a_png_with_the_local_engine(invoke, aws, provider):
    provider("local")

    reply = invoke("GenerateFunction", generate_event({"model": "real-esrgan", "scale": "2"}))

    assert reply.status == 200, reply.body[:300]
    data = reply.json()["data"]
    assert data["model"] == "real-esrgan"
    assert data["usage"]["used"] == 1 and data["usage"]["limit"] == 3
    assert data["charge"] == {"total": 1.0, "planPortion": 1.0, "creditsPortion": 0.0}
    assert data["imageUrl"].startswith(f"https://api.example.com/r2-ai/ai-enhancer/results/guest/{guest_key(GUEST)}/")
    assert data["originalUrl"].startswith(
        f"https://api.example.com/r2-ai/ai-enhancer/uploads/guest/{guest_key(GUEST)}/")
    result = _proxy(invoke, data["imageUrl"], GUEST)
    assert result.status == 200 and result.header("Content-Type") == "image/png"
    with Image.open(io.BytesIO(result.body)) as image:
        assert image.size == (512, 512)
    assert result.body != PNG_256
    assert _proxy(invoke, data["imageUrl"], OTHER_GUEST).status == 403
    assert _proxy(invoke, data["originalUrl"], OTHER_GUEST).status == 200  # uploads are public
    assert_security_headers(reply)


def test_scale_4_is_beyond_a_guests_plan(invoke, aws):
    reply = invoke("GenerateFunction", generate_event({"model": "real-esrgan", "scale": "4"}))

    assert reply.status == 403
    error = reply.json()["error"]
    assert error["type"] == "forbidden" and error["details"]["field"] == "scale" and "×2" in error["message"]
    assert _objects(aws) == [] and _daily(aws, "guest", guest_key(GUEST)) == 0


def test_face_enhance_is_beyond_a_free_plan(invoke, aws):
    reply = invoke("GenerateFunction", generate_event({"model": "real-esrgan", "face_enhance": "true"}))

    assert reply.status == 403 and reply.json()["error"]["details"]["field"] == "face_enhance"


def test_the_fourth_success_in_a_day_is_refused_with_scope_daily(invoke, aws):
    statuses = [invoke("GenerateFunction", generate_event({"model": "real-esrgan"})).status for _ in range(3)]
    fourth = invoke("GenerateFunction", generate_event({"model": "real-esrgan"}))

    assert statuses == [200, 200, 200]
    assert fourth.status == 403
    details = fourth.json()["error"]["details"]
    assert details["scope"] == "daily" and details["used"] == 3 and details["limit"] == 3
    assert details["resetAt"].endswith("Z")
    assert len([k for k in _objects(aws) if "/results/" in k]) == 3


def _signed_in(accounts, plan: str, email: str) -> tuple[str, dict[str, str]]:
    account = accounts.upsert_user(email, plan)
    return account.user_id, {"session_id": accounts.create_session(account.user_id, int(time.time()) + 600)}


def test_a_pro_user_pays_2_5_for_scale_4_with_face_enhance(invoke, aws, accounts):
    user_id, cookies = _signed_in(accounts, "pro", "pro@example.com")

    reply = invoke("GenerateFunction", generate_event({"model": "real-esrgan", "scale": "4",
                                                       "face_enhance": "true"}, cookies=cookies))

    assert reply.status == 200, reply.body[:300]
    data = reply.json()["data"]
    assert data["charge"] == {"total": 2.5, "planPortion": 2.5, "creditsPortion": 0.0}
    assert data["usage"]["limit"] == 30
    assert _monthly(aws, "user", user_id) == 25


def _grant(user_id: str, tenths: int) -> None:
    now = int(time.time())
    bootstrap.ledger().add_credit_pack(user_id, "cs_test", tenths, now - 60, now + 86400)


def test_past_the_allowance_credits_pay_and_without_them_it_is_403_monthly(invoke, aws, accounts):
    user_id, cookies = _signed_in(accounts, "free", "credits@example.com")
    aws.dynamodb.put_item(TableName=TABLE, Item={
        "pk": {"S": monthly_usage_key("user", user_id, month_key(time.time()))}, "usedTenths": {"N": "300"}})
    _grant(user_id, 15)

    paid = invoke("GenerateFunction", generate_event({"model": "gfpgan"}, cookies=cookies))
    refused = invoke("GenerateFunction", generate_event({"model": "gfpgan"}, cookies=cookies))

    assert paid.status == 200, paid.body[:300]
    assert paid.json()["data"]["charge"] == {"total": 1.0, "planPortion": 0.0, "creditsPortion": 1.0}
    assert refused.status == 403
    assert refused.json()["error"]["details"]["scope"] == "monthly"
    item = aws.dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": credits_key(user_id)}})["Item"]
    assert sum(int(p["M"]["unitsTenths"]["N"]) for p in item["packs"]["L"]) == 5
    assert _daily(aws, "user", user_id) == 1  # the refused one gave its day back


@pytest.mark.parametrize(("fields", "image", "field", "fragment"), [
    ({"model": "real-esrgan"}, b"this is text, not a picture", "image", "not a JPEG, PNG or WebP"),
    ({"model": "real-esrgan"}, b"\x89PNG\r\n\x1a\n" + b"\0" * (10 * 1024 * 1024), "image", "10 MB"),
    ({"model": "dall-e"}, PNG_256, "model", "Unsupported model"),
    ({}, PNG_256, "model", "'model' is required"),
    ({"model": "real-esrgan", "scale": "3"}, PNG_256, "scale", "2 or 4"),
    ({"model": "real-esrgan", "scale": "two"}, PNG_256, "scale", "number"),
    ({"model": "real-esrgan", "face_enhance": "maybe"}, PNG_256, "face_enhance", "true or false"),
    ({"model": "gfpgan", "scale": "2"}, PNG_256, "scale", "Unsupported parameter 'scale'"),
    ({"model": "codeformer", "fidelity": "1.5"}, PNG_256, "fidelity", "between 0 and 1"),
    ({"model": "sdxl-img2img", "steps": "0"}, PNG_256, "steps", "between 1 and 60"),
    ({"model": "sdxl-img2img", "prompt": "x" * 501}, PNG_256, "prompt", "500"),
    ({"model": "real-esrgan"}, None, "image", "'image'"),
])
def test_bad_input_is_a_400_naming_the_problem_and_nothing_is_stored_or_charged(
        invoke, aws, fields, image, field, fragment):
    reply = invoke("GenerateFunction", generate_event(fields, image))

    assert reply.status == 400, reply.body[:300]
    error = reply.json()["error"]
    assert error["type"] == "validation_error"
    assert fragment in error["message"]
    assert error["details"]["field"] == field
    assert _objects(aws) == []
    assert _daily(aws, "guest", guest_key(GUEST)) == 0
    assert_security_headers(reply)


def test_a_truncated_png_is_refused(invoke, aws):
    reply = invoke("GenerateFunction", generate_event({"model": "real-esrgan"}, PNG_256[: len(PNG_256) // 2]))

    assert reply.status == 400 and "truncated or corrupt" in reply.json()["error"]["message"]


def test_the_16th_generate_in_a_minute_is_429(invoke, aws):
    start_in_a_fresh_rate_window()
    statuses = [invoke("GenerateFunction", generate_event({"model": "nope"})).status for _ in range(16)]

    assert statuses[:15] == [400] * 15
    assert statuses[15] == 429


def test_csrf_is_required(invoke, aws):
    event = generate_event({"model": "real-esrgan"})
    event["headers"]["x-csrf-token"] = "f" * 32

    reply = invoke("GenerateFunction", event)

    assert reply.status == 403 and reply.json()["error"]["message"] == "Invalid CSRF token"


REPLICATE = "https://api.replicate.com"


@pytest.mark.parametrize("failure", ["http-500", "timeout", "prediction-failed"])
def test_a_provider_failure_is_502_and_the_charge_is_given_back(invoke, aws, provider, failure):
    provider("replicate", REPLICATE_API_TOKEN="r8_test_token", REPLICATE_BASE_URL=REPLICATE)
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        route = mock.post(f"{REPLICATE}/v1/predictions")
        if failure == "http-500":
            route.respond(500, json={"detail": "SECRET-UPSTREAM-DETAIL"})
        elif failure == "timeout":
            route.side_effect = httpx.ReadTimeout("upstream too slow")
        else:
            route.respond(201, json=prediction_json("failed", error="SECRET-UPSTREAM-DETAIL"))
        mock.get(f"{REPLICATE}/v1/predictions/p1").respond(
            200, json=prediction_json("failed", error="SECRET-UPSTREAM-DETAIL"))
        mock.post(f"{REPLICATE}/v1/predictions/p1/cancel").respond(200, json=prediction_json("canceled"))

        reply = invoke("GenerateFunction", generate_event({"model": "real-esrgan"}))

    assert reply.status == 502, reply.body[:300]
    assert reply.json()["error"]["type"] == "provider_error"
    assert "SECRET-UPSTREAM-DETAIL" not in reply.body.decode()
    assert _daily(aws, "guest", guest_key(GUEST)) == 0
    assert _monthly(aws, "guest", guest_key(GUEST)) == 0
    assert _objects(aws) == []  # the original stored for the call is removed again
    usage = invoke("UsageFunction", load_event("usage-get", cookies={"guest_id": GUEST})).json()["data"]
    assert usage["usage"]["used"] == 0


def test_replicate_receives_a_presigned_url_of_the_original(invoke, aws, provider):
    provider("replicate", REPLICATE_API_TOKEN="r8_test_token", REPLICATE_BASE_URL=REPLICATE)
    output = png_bytes(64, 64)
    with respx.mock(assert_all_mocked=True) as mock:
        start = mock.post(f"{REPLICATE}/v1/predictions").respond(
            201, json=prediction_json("succeeded", prediction_id="p2", output="https://replicate.delivery/out.png"))
        mock.get("https://replicate.delivery/out.png").respond(200, content=output,
                                                                headers={"content-type": "image/png"})
        reply = invoke("GenerateFunction", generate_event({"model": "real-esrgan", "scale": "2"}))

    assert reply.status == 200, reply.body[:300]
    sent = json.loads(start.calls.last.request.content)
    assert sent["input"]["scale"] == 2 and sent["input"]["face_enhance"] is False
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in sent["input"]["image"] and "X-Amz-Signature=" in sent["input"]["image"]
    assert sent["input"]["image"].startswith("https://enhancer-test-images.s3.us-east-1.amazonaws.com/")
    assert f"ai-enhancer/uploads/guest/{guest_key(GUEST)}/" in sent["input"]["image"]
    result = _proxy(invoke, reply.json()["data"]["imageUrl"], GUEST)
    assert result.body == output


def test_production_without_a_token_is_503_and_charges_nothing(invoke, aws, monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("ENHANCER_PROVIDER", "auto")
    monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)
    bootstrap.reset()

    reply = invoke("GenerateFunction", generate_event({"model": "real-esrgan"}))

    assert reply.status == 503
    assert reply.json()["error"]["type"] == "service_unavailable"
    assert _daily(aws, "guest", guest_key(GUEST)) == 0 and _objects(aws) == []


def _upload(invoke, content_type: str = "image/png", cookies: dict[str, str] | None = None) -> dict:
    jar = {"csrf_token": TOKEN, "guest_id": GUEST, **(cookies or {})}
    event = load_event("dev-login-post", path="/api/ai-image/uploads", cookies=jar)
    event["routeKey"] = event["requestContext"]["routeKey"] = "POST /api/ai-image/uploads"
    event["body"] = json.dumps({"contentType": content_type, "size": 1234})
    reply = invoke("UploadsFunction", event)
    assert reply.status == 201, reply.body[:300]
    return reply.json()["data"]


def test_an_upload_key_is_accepted_in_place_of_the_file(invoke, aws):
    ticket = _upload(invoke)
    assert ticket["uploadKey"].startswith(f"ai-enhancer/uploads/guest/{guest_key(GUEST)}/")
    assert ticket["fields"]["key"] == ticket["uploadKey"] and ticket["fields"]["Content-Type"] == "image/png"
    policy = json.loads(base64.b64decode(ticket["fields"]["policy"]))
    assert ["content-length-range", 1, 10 * 1024 * 1024] in policy["conditions"]
    aws.s3.put_object(Bucket=BUCKET, Key=ticket["uploadKey"], Body=PNG_256, ContentType="image/png")

    reply = invoke("GenerateFunction", generate_event({}, json_body={"model": "real-esrgan",
                                                                     "uploadKey": ticket["uploadKey"]}))

    assert reply.status == 200, reply.body[:300]
    original_url = reply.json()["data"]["originalUrl"]
    # The checked bytes were copied to a key the client's form cannot overwrite.
    assert f"/ai-enhancer/uploads/guest/{guest_key(GUEST)}/" in original_url
    assert not original_url.endswith(ticket["uploadKey"])
    assert _proxy(invoke, original_url, GUEST).body == PNG_256


def test_an_earlier_original_can_be_enhanced_again_and_stays_linked(invoke, aws):
    first = invoke("GenerateFunction", generate_event({"model": "real-esrgan"}))
    original_url = first.json()["data"]["originalUrl"]
    original_key = httpx.URL(original_url).path.removeprefix("/r2-ai/")

    again = invoke("GenerateFunction", generate_event({}, None, json_body={"model": "gfpgan",
                                                                           "uploadKey": original_key}))

    assert again.status == 200, again.body[:300]
    assert _proxy(invoke, original_url, GUEST).status == 200  # the first result's original is still there
    assert _proxy(invoke, again.json()["data"]["originalUrl"], GUEST).body == PNG_256


def test_an_upload_key_is_rechecked_and_owner_bound(invoke, aws):
    ticket = _upload(invoke)
    aws.s3.put_object(Bucket=BUCKET, Key=ticket["uploadKey"], Body=b"<html>not an image</html>",
                      ContentType="image/png")
    someone_elses = f"ai-enhancer/uploads/guest/{guest_key(OTHER_GUEST)}/x.png"
    aws.s3.put_object(Bucket=BUCKET, Key=someone_elses, Body=PNG_256, ContentType="image/png")
    big = _upload(invoke)["uploadKey"]
    aws.s3.put_object(Bucket=BUCKET, Key=big, Body=PNG_256 + b"\0" * (10 * 1024 * 1024), ContentType="image/png")

    def send(key: str):
        return invoke("GenerateFunction", generate_event({}, json_body={"model": "real-esrgan", "uploadKey": key}))

    assert send(ticket["uploadKey"]).status == 400
    assert send(someone_elses).status == 403
    assert send(big).json()["error"]["message"] == "The image is larger than 10 MB"
    assert send(f"ai-enhancer/uploads/guest/{guest_key(GUEST)}/missing.png").status == 400
    assert send("ai-enhancer/results/guest/x/y.png").status == 400
    assert _daily(aws, "guest", guest_key(GUEST)) == 0


def test_uploads_accept_only_images(invoke, aws):
    event = load_event("dev-login-post", path="/api/ai-image/uploads", cookies={"csrf_token": TOKEN})
    event["body"] = json.dumps({"contentType": "text/html"})

    reply = invoke("UploadsFunction", event)

    assert reply.status == 400 and reply.json()["error"]["details"]["field"] == "contentType"


def test_image_urls_are_on_the_sites_origin_when_base_url_is_set(invoke, aws, monkeypatch):
    """Behind CloudFront the API is called on its execute-api host; the page (and the proxy's cookies) are on the
    site's origin, so that is where the image URLs must point."""
    monkeypatch.setenv("BASE_URL", "https://Enhancer.example.org/")
    monkeypatch.setenv("ENHANCER_PROVIDER", "echo")
    bootstrap.reset()

    data = invoke("GenerateFunction", generate_event({"model": "real-esrgan"})).json()["data"]

    assert data["imageUrl"].startswith("https://enhancer.example.org/r2-ai/ai-enhancer/results/guest/")
    assert data["originalUrl"].startswith("https://enhancer.example.org/r2-ai/ai-enhancer/uploads/guest/")


def test_models_lists_the_registry_and_the_flags(invoke, aws, monkeypatch):
    monkeypatch.setenv("PUBLIC_ENABLE_CREDITS_CTA", "0")
    bootstrap.reset()

    reply = invoke("ModelsFunction", load_event("usage-get", path="/api/ai-image/models"))

    data = reply.json()["data"]
    assert [m["slug"] for m in data["models"]] == ["real-esrgan", "gfpgan", "codeformer", "topaz-upscale",
                                                   "sdxl-img2img"]
    esrgan = data["models"][0]
    assert esrgan["options"]["scale"]["choices"] == [2, 4] and esrgan["supportsFaceEnhance"] is True
    assert esrgan["providerRef"].startswith("nightmareai/real-esrgan:42fed1c4")
    assert data["flags"] == {"creditsCta": False, "planGating": True, "developmentSignIn": False}
    assert reply.set_cookies == []  # public: no identity, no guest cookie


@pytest.mark.parametrize(("provider", "available"), [
    ("local", ["real-esrgan"]),
    ("echo", ["real-esrgan", "gfpgan", "codeformer", "topaz-upscale", "sdxl-img2img"]),
])
def test_models_says_which_models_the_provider_can_run(invoke, aws, monkeypatch, provider, available):
    monkeypatch.setenv("ENHANCER_PROVIDER", provider)
    bootstrap.reset()

    data = invoke("ModelsFunction", load_event("usage-get", path="/api/ai-image/models")).json()["data"]

    assert data["provider"] == provider
    assert [m["slug"] for m in data["models"] if m["available"]] == available


def test_an_old_full_slug_is_accepted(invoke, aws):
    slug = "nightmareai/real-esrgan:42fed1c4974146d4d2414e2be2c5277c7fcf05fcc3a73abf41610695738c1d7b"

    reply = invoke("GenerateFunction", generate_event({"model": slug}))

    assert reply.status == 200 and reply.json()["data"]["model"] == "real-esrgan"


@pytest.mark.parametrize("body", [
    '{"model": "real-esrgan", "scale": 1' + "0" * 400 + "}",
    '{"model": "real-esrgan", "scale": ' + "[" * 100000 + "]" * 100000 + "}",
    '{"model": "real-esrgan", "scale": ' + "1" * 5000 + "}",
    '{"model": "\\ud800"}',
    '{"model": 5}',
    '{"model": ["real-esrgan"]}',
    '{"model": "sdxl-img2img", "prompt": {"a": 1}}',
    '{"model": "real-esrgan", "face_enhance": [true]}',
    '{"model": "real-esrgan", "uploadKey": {"key": 1}}',
    "[]",
    "not json",
    '"just a string"',
])
def test_malformed_json_is_a_400_never_a_500(invoke, aws, body):
    event = generate_event({}, json_body={})
    event["body"], event["isBase64Encoded"] = body, False

    reply = invoke("GenerateFunction", event)

    assert reply.status == 400, reply.body[:300]
    assert reply.json()["error"]["type"] == "validation_error"
    assert_security_headers(reply)


@pytest.mark.parametrize("origin", ["http://[::1", "https://[x/", "http://a:b:c", "\u0000"])
def test_a_malformed_origin_is_refused_with_a_403_envelope(invoke, aws, origin):
    reply = invoke("GenerateFunction", generate_event({"model": "real-esrgan"}, headers={"origin": origin}))

    assert reply.status == 403
    assert reply.json()["error"]["type"] == "forbidden"
    assert_security_headers(reply)


def test_malformed_upload_requests_are_400(invoke, aws):
    for body in ('{"contentType": ["image/png"]}', '{"contentType": "image/png", "size": 1e400}',
                 '{"contentType": "image/png", "size": true}', "[1]"):
        event = load_event("dev-login-post", path="/api/ai-image/uploads", cookies={"csrf_token": TOKEN})
        event["body"] = body
        reply = invoke("UploadsFunction", event)
        assert reply.status == 400, (body, reply.body[:200])


def test_guests_on_one_ip_get_at_most_the_hours_enhancements_whatever_their_cookies(invoke, aws, accounts,
                                                                                    monkeypatch):
    import uuid

    monkeypatch.setenv("GUEST_IMAGES_PER_IP_PER_HOUR", "4")
    bootstrap.reset()
    returning = {"guest_id": GUEST}
    first = [invoke("GenerateFunction", generate_event({"model": "real-esrgan"}, cookies=returning)) for _ in range(2)]
    # A made-up guest id every time, as a client dodging the per-guest allowance would send.
    made_up = [invoke("GenerateFunction", generate_event({"model": "real-esrgan"},
                                                         cookies={"guest_id": str(uuid.uuid4())}))
               for _ in range(4)]
    stored = len(_objects(aws))
    _, user_cookies = _signed_in(accounts, "free", "ip-neighbour@example.com")
    signed_in = invoke("GenerateFunction", generate_event({"model": "real-esrgan"}, cookies=user_cookies))
    elsewhere = invoke("GenerateFunction", generate_event({"model": "real-esrgan"}, cookies={"guest_id": OTHER_GUEST},
                                                          source_ip="203.0.113.9"))

    assert [reply.status for reply in first] == [200, 200]  # images are counted, not daily windows
    assert [reply.status for reply in made_up] == [200, 200, 429, 429]
    refused = made_up[-1].json()
    assert refused["error"]["details"]["scope"] == "guestIp" and refused["error"]["details"]["signIn"] is True
    assert refused["retryAfter"] > 0 and made_up[-1].header("Retry-After") == str(refused["retryAfter"])
    assert all(any(c.startswith("guest_id=") for c in reply.set_cookies) for reply in made_up)  # each replaced
    assert stored == 2 * 4  # two images for each success, nothing for the refused
    assert signed_in.status == 200  # signed-in users are never counted
    assert elsewhere.status == 200


def test_past_the_days_guest_budget_guests_are_asked_to_sign_in_and_it_is_counted(invoke, aws, accounts, capsys,
                                                                                  monkeypatch):
    from enhancer.observability import logger

    monkeypatch.setenv("GUEST_IMAGES_PER_DAY", "2")
    bootstrap.reset()
    previous = logger.registered_handler.setStream(sys.stdout)
    try:
        replies = [invoke("GenerateFunction", generate_event({"model": "real-esrgan"}, cookies={"guest_id": guest},
                                                             source_ip=ip))
                   for guest, ip in ((GUEST, "198.51.100.7"), (OTHER_GUEST, "203.0.113.9"),
                                     (guest_cookie("0f1e2d3c-4b5a-4968-8776-655443322110"), "192.0.2.44"))]
    finally:
        logger.registered_handler.setStream(previous)
    _, user_cookies = _signed_in(accounts, "free", "budget@example.com")
    signed_in = invoke("GenerateFunction", generate_event({"model": "real-esrgan"}, cookies=user_cookies))

    assert [reply.status for reply in replies] == [200, 200, 403]
    error = replies[-1].json()["error"]
    assert error["type"] == "forbidden" and "sign in" in error["message"]
    assert error["details"]["scope"] == "guestBudget" and error["details"]["limit"] == 2
    assert error["details"]["signIn"] is True and error["details"]["resetAt"].endswith("T00:00:00Z")
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines()
               if line.startswith("{") and "guest_budget_exhausted" in line and "_aws" in line]
    assert [m["guest_budget_exhausted"] for m in metrics] == [[1.0]]
    assert signed_in.status == 200


def test_the_budget_running_out_is_counted_even_when_the_guests_own_month_is_named(invoke, aws, output,
                                                                                  monkeypatch):
    monkeypatch.setenv("GUEST_IMAGES_PER_DAY", "1")
    bootstrap.reset()
    assert invoke("GenerateFunction", generate_event({"model": "real-esrgan"})).status == 200
    aws.dynamodb.put_item(TableName=TABLE, Item={
        "pk": {"S": monthly_usage_key("guest", guest_key(OTHER_GUEST), month_key(time.time()))},
        "usedTenths": {"N": "900"}})
    output()  # what the first request printed

    refused = invoke("GenerateFunction", generate_event({"model": "real-esrgan"}, cookies={"guest_id": OTHER_GUEST},
                                                        source_ip="203.0.113.9"))

    assert refused.status == 403 and refused.json()["error"]["details"]["scope"] == "monthly"
    assert [line["guest_budget_exhausted"] for line in output() if "guest_budget_exhausted" in line
            and "_aws" in line] == [[1.0]]


def test_a_failed_enhancement_gives_the_guest_caps_back(invoke, aws, provider):
    provider("replicate", REPLICATE_API_TOKEN="r8_test_token", REPLICATE_BASE_URL=REPLICATE)
    with respx.mock(assert_all_mocked=True) as mock:
        mock.post(f"{REPLICATE}/v1/predictions").respond(500, json={"detail": "boom"})
        reply = invoke("GenerateFunction", generate_event({"model": "real-esrgan"}))

    assert reply.status == 502
    caps = [i for i in aws.dynamodb.scan(TableName=TABLE)["Items"] if i["pk"]["S"].startswith("ai:cap:")]
    assert len(caps) == 2 and all(int(item["count"]["N"]) == 0 for item in caps)


def test_a_generated_result_is_never_cached(invoke, aws):
    reply = invoke("GenerateFunction", generate_event({"model": "real-esrgan"}))

    assert reply.status == 200
    assert reply.header("Cache-Control") == "no-store"
