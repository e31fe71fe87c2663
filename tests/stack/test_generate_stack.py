"""POST /api/ai-image/generate end to end over HTTP: the local stack with the real Real-ESRGAN engine."""

from __future__ import annotations

import io
import threading
import time
import uuid

import httpx
from PIL import Image

from enhancer.adapters.dynamo_keys import monthly_usage_key
from enhancer.adapters.dynamo_ledger import DynamoLedger
from enhancer.domain.clock import month_key
from tests.integration.conftest import png_bytes
from tests.stack.conftest import client_from
from tests.stack.test_local_stack import assert_security_headers, sign_in, unsafe_headers

PNG_256 = png_bytes(256, 256)
PNG_64 = png_bytes(64, 64)


def generate(client: httpx.Client, fields: dict[str, str], image: bytes | None = PNG_64,
             content_type: str = "image/png") -> httpx.Response:
    files = {"image": ("photo.png", image, content_type)} if image is not None else None
    return client.post("/api/ai-image/generate", data=fields, files=files, headers=unsafe_headers(client))


def test_a_guest_doubles_a_256px_png(client, stack):
    response = generate(client, {"model": "real-esrgan", "scale": "2"}, PNG_256)

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["usage"]["used"] == 1
    assert data["charge"]["total"] == 1.0
    assert data["imageUrl"].startswith(stack["url"] + "/r2-ai/ai-enhancer/results/guest/")
    result = client.get(data["imageUrl"])
    assert result.status_code == 200 and result.headers["Content-Type"] == "image/png"
    with Image.open(io.BytesIO(result.content)) as image:
        assert image.size == (512, 512) and image.format == "PNG"
    with httpx.Client(timeout=30) as stranger:
        stranger.get(stack["url"] + "/api/ai-image/usage")  # a guest cookie of its own
        assert stranger.get(data["imageUrl"]).status_code == 403
    assert_security_headers(response)


def test_scale_4_is_refused_for_a_guest(client):
    response = generate(client, {"model": "real-esrgan", "scale": "4"})

    assert response.status_code == 403
    assert response.json()["error"]["details"]["field"] == "scale"


def test_the_fourth_success_of_the_day_is_refused(client):
    statuses = [generate(client, {"model": "real-esrgan"}).status_code for _ in range(3)]
    fourth = generate(client, {"model": "real-esrgan"})

    assert statuses == [200, 200, 200]
    assert fourth.status_code == 403
    assert fourth.json()["error"]["details"]["scope"] == "daily"


def test_a_pro_user_is_charged_2_5_for_scale_4_with_faces(client):
    sign_in(client, "pro")

    response = generate(client, {"model": "real-esrgan", "scale": "4", "face_enhance": "true"})

    assert response.status_code == 200, response.text
    assert response.json()["data"]["charge"] == {"total": 2.5, "planPortion": 2.5, "creditsPortion": 0.0}
    with Image.open(io.BytesIO(client.get(response.json()["data"]["imageUrl"]).content)) as image:
        assert image.size == (256, 256)


def _dynamodb(stack: dict):
    import boto3

    return boto3.client("dynamodb", endpoint_url=stack["awsEndpoint"], region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def _past_the_allowance_with_credits(stack: dict, user_id: str, used_tenths: int, credit_tenths: int) -> None:
    dynamodb = _dynamodb(stack)
    dynamodb.put_item(TableName=stack["table"], Item={
        "pk": {"S": monthly_usage_key("user", user_id, month_key(time.time()))}, "usedTenths": {"N": str(used_tenths)}})
    now = int(time.time())
    DynamoLedger(dynamodb, stack["table"]).add_credit_pack(user_id, f"cs_{uuid.uuid4().hex}", credit_tenths, now,
                                                           now + 86400)


def test_past_the_allowance_credits_pay_then_monthly_is_refused(client, stack):
    user = sign_in(client, "free")
    _past_the_allowance_with_credits(stack, user["id"], used_tenths=300, credit_tenths=10)

    paid = generate(client, {"model": "real-esrgan"})
    refused = generate(client, {"model": "real-esrgan"})

    assert paid.status_code == 200, paid.text
    assert paid.json()["data"]["charge"] == {"total": 1.0, "planPortion": 0.0, "creditsPortion": 1.0}
    assert refused.status_code == 403
    assert refused.json()["error"]["details"]["scope"] == "monthly"
    assert client.get("/api/ai-image/usage").json()["data"]["creditsBalanceTenths"] == 0


def _in_parallel(client: httpx.Client, count: int) -> list[httpx.Response]:
    """`count` generates for the client's owner at once, each on a connection of its own."""
    from concurrent.futures import ThreadPoolExecutor

    files = {"image": ("photo.png", png_bytes(16, 16), "image/png")}
    headers = {**unsafe_headers(client), "Cookie": "; ".join(f"{k}={v}" for k, v in client.cookies.items())}
    start = threading.Barrier(count)

    def one(_: int) -> httpx.Response:
        with client_from(client.source_address, str(client.base_url)) as own:
            start.wait()
            return own.post("/api/ai-image/generate", data={"model": "real-esrgan"}, files=files, headers=headers)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def test_parallel_generates_for_one_guest_stop_exactly_at_the_daily_cap(client):
    client.get("/api/ai-image/usage")  # the guest cookie

    replies = _in_parallel(client, 10)

    statuses = sorted(reply.status_code for reply in replies)
    assert statuses == [200] * 3 + [403] * 7, [reply.text[:200] for reply in replies]
    assert {reply.json()["error"]["details"]["scope"] for reply in replies if reply.status_code == 403} == {"daily"}
    assert client.get("/api/ai-image/usage").json()["data"]["usage"]["used"] == 3


def test_parallel_generates_paid_by_credits_never_overdraw_them(client, stack):
    user = sign_in(client, "pro")
    _past_the_allowance_with_credits(stack, user["id"], used_tenths=3000, credit_tenths=25)

    replies = _in_parallel(client, 8)

    paid = [reply for reply in replies if reply.status_code == 200]
    refused = [reply for reply in replies if reply.status_code != 200]
    assert len(paid) == 2, [reply.text[:200] for reply in replies]  # 2.5 credits buy two 1.0 charges
    assert all(reply.json()["data"]["charge"]["creditsPortion"] == 1.0 for reply in paid)
    assert {(reply.status_code, reply.json()["error"]["details"]["scope"]) for reply in refused} == {(403, "monthly")}
    assert client.get("/api/ai-image/usage").json()["data"]["creditsBalanceTenths"] == 5


def test_bad_input_is_400_and_charges_nothing(client):
    cases = [
        ({"model": "real-esrgan"}, b"just some text", "image"),
        ({"model": "stable-diffusion-9"}, PNG_64, "model"),
        ({"model": "real-esrgan", "scale": "8"}, PNG_64, "scale"),
        ({"model": "real-esrgan"}, None, "image"),
    ]
    for fields, image, field in cases:
        response = generate(client, fields, image)
        assert response.status_code == 400, (fields, response.text)
        assert response.json()["error"]["details"]["field"] == field
    assert client.get("/api/ai-image/usage").json()["data"]["usage"]["used"] == 0


def test_a_body_over_6_mb_is_413_and_an_upload_over_10_mb_is_400(client, stack):
    too_big_for_lambda = generate(client, {"model": "real-esrgan"}, PNG_64 + b"\0" * (7 * 1024 * 1024))
    assert too_big_for_lambda.status_code == 413
    assert "/api/ai-image/uploads" in too_big_for_lambda.json()["error"]["message"]

    ticket = client.post("/api/ai-image/uploads", json={"contentType": "image/png"},
                         headers=unsafe_headers(client)).json()["data"]
    # The browser's direct upload: S3 enforces the policy's size range; the stand-in may not, so the route's
    # own re-check is what this proves.
    httpx.post(ticket["url"], data=ticket["fields"],
               files={"file": ("big.png", PNG_64 + b"\0" * (10 * 1024 * 1024), "image/png")}, timeout=60)
    response = client.post("/api/ai-image/generate", json={"model": "real-esrgan", "uploadKey": ticket["uploadKey"]},
                           headers=unsafe_headers(client))

    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"] in ("The image is larger than 10 MB",
                                                   "Nothing was uploaded at 'uploadKey'")


def test_an_image_uploaded_straight_to_s3_is_enhanced(client):
    ticket = client.post("/api/ai-image/uploads", json={"contentType": "image/png", "size": len(PNG_64)},
                         headers=unsafe_headers(client))
    assert ticket.status_code == 201, ticket.text
    data = ticket.json()["data"]
    uploaded = httpx.post(data["url"], data=data["fields"], files={"file": ("photo.png", PNG_64, "image/png")},
                          timeout=30)
    assert uploaded.status_code in (200, 201, 204), uploaded.text

    response = client.post("/api/ai-image/generate", json={"model": "real-esrgan", "uploadKey": data["uploadKey"]},
                           headers=unsafe_headers(client))

    assert response.status_code == 200, response.text
    original = client.get(response.json()["data"]["originalUrl"])
    assert original.status_code == 200 and original.content == PNG_64


def test_the_16th_generate_in_a_minute_is_429_the_one_that_made_a_new_guest_included(client):
    for _ in range(3):  # retry only if the fixed window turned over mid-burst
        client.cookies.clear()  # the first request makes a new guest, whose cookie the jar keeps
        window = int(time.time() // 60)
        statuses = [generate(client, {"model": "no-such-model"}).status_code for _ in range(15)]
        last = generate(client, {"model": "no-such-model"})
        if int(time.time() // 60) == window:
            break
    assert statuses == [400] * 15
    assert last.status_code == 429
    assert int(last.headers["Retry-After"]) >= 1 and isinstance(last.json()["retryAfter"], int)


def test_models_are_listed_with_the_local_provider(client):
    data = client.get("/api/ai-image/models").json()["data"]

    assert data["provider"] == "local" and data["flags"]["creditsCta"] is True
    assert {m["slug"] for m in data["models"]} == {"real-esrgan", "gfpgan", "codeformer", "topaz-upscale",
                                                   "sdxl-img2img"}
