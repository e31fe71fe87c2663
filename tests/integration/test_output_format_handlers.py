"""`outputFormat` and `quality` (README "Output format") through the real handlers (moto, SQLite): the result's
bytes, content type and key extension follow the format, and the proxy serves it under that type; a JPEG comes
back as a JPEG by default; a job keeps its format from create to result."""

from __future__ import annotations

import io
import json

import httpx
import pytest
from PIL import Image

from local.events import LambdaContext
from local.gateway import load_handler
from local.template import ROOT, load_template
from tests.integration.conftest import BUCKET, guest_key, load_event, multipart
from tests.integration.test_generate_handler import GUEST, TOKEN, generate_event


def encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def photo(size: int = 64) -> Image.Image:
    """Something with detail in it, so the encoders have work to do."""
    image = Image.new("RGB", (size, size))
    image.putdata([(x * 4 % 256, y * 4 % 256, (x * y) % 256) for y in range(size) for x in range(size)])
    return image


@pytest.fixture(autouse=True)
def _echo_by_default(provider):
    """Every test starts on the echo provider (the original back, so only the format changes)."""


PNG = encoded(photo(), "PNG")
JPEG = encoded(photo(), "JPEG", quality=92)


def half_transparent(size: int = 32) -> bytes:
    """Left half opaque red, right half fully transparent."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (0, 0, size // 2, size))
    return encoded(image, "PNG")


def generate(invoke, fields: dict[str, str], image: bytes = PNG, *, content_type: str = "image/png"):
    event = generate_event({"model": "real-esrgan", **fields}, image)
    if content_type != "image/png":  # the part's declared type means nothing to us (magic bytes decide)
        body, multipart_type = multipart({"model": "real-esrgan", **fields}, image, "photo.jpg", content_type)
        event = load_event("generate-post", cookies={"csrf_token": TOKEN, "guest_id": GUEST},
                           headers={"content-type": multipart_type, "x-csrf-token": TOKEN}, body=body)
    return invoke("GenerateFunction", event)


def proxied(invoke, url: str):
    path = httpx.URL(url).raw_path.decode()
    reply = invoke("ImageProxyFunction", load_event("image-proxy-get-upload", path=path, cookies={"guest_id": GUEST}))
    assert reply.status == 200, reply.body[:300]
    return reply


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def stored_type(aws, url: str) -> str:
    key = httpx.URL(url).path.removeprefix("/r2-ai/")
    return str(aws.s3.head_object(Bucket=BUCKET, Key=key)["ContentType"])


# --- generate ---------------------------------------------------------------------------------------------

def test_webp_asked_for_comes_back_as_a_webp_the_proxy_serves_as_image_webp(invoke, aws):
    reply = generate(invoke, {"outputFormat": "webp"})

    assert reply.status == 200, reply.body[:300]
    url = reply.json()["data"]["imageUrl"]
    assert url.startswith(f"https://api.example.com/r2-ai/ai-enhancer/results/guest/{guest_key(GUEST)}/")
    assert url.endswith(".webp") and stored_type(aws, url) == "image/webp"
    result = proxied(invoke, url)
    assert result.header("Content-Type") == "image/webp"
    image = opened(result.body)
    assert image.format == "WEBP" and image.size == (64, 64)


def test_the_local_engine_encodes_the_format_asked_for_itself(invoke, aws, provider):
    provider("local")

    reply = generate(invoke, {"scale": "2", "outputFormat": "webp", "quality": "80"})

    assert reply.status == 200, reply.body[:300]
    result = proxied(invoke, reply.json()["data"]["imageUrl"])
    assert result.header("Content-Type") == "image/webp"
    image = opened(result.body)
    assert image.format == "WEBP" and image.size == (128, 128)


@pytest.mark.parametrize("engine", ["echo", "local"])
def test_a_jpeg_photo_comes_back_as_a_jpeg_by_default(invoke, aws, provider, engine):
    provider(engine)

    reply = generate(invoke, {}, JPEG, content_type="image/jpeg")

    assert reply.status == 200, reply.body[:300]
    url = reply.json()["data"]["imageUrl"]
    assert url.endswith(".jpg") and stored_type(aws, url) == "image/jpeg"
    result = proxied(invoke, url)
    assert result.header("Content-Type") == "image/jpeg"
    image = opened(result.body)
    assert image.format == "JPEG" and image.size == ((128, 128) if engine == "local" else (64, 64))


def test_a_png_comes_back_as_a_png_by_default(invoke, aws):
    reply = generate(invoke, {})

    url = reply.json()["data"]["imageUrl"]
    assert url.endswith(".png") and proxied(invoke, url).header("Content-Type") == "image/png"


def test_quality_trades_bytes_for_detail(invoke, aws):
    low = generate(invoke, {"outputFormat": "jpeg", "quality": "10"})
    high = generate(invoke, {"outputFormat": "jpeg", "quality": "95"})

    low_bytes = proxied(invoke, low.json()["data"]["imageUrl"]).body
    high_bytes = proxied(invoke, high.json()["data"]["imageUrl"]).body
    assert opened(low_bytes).format == opened(high_bytes).format == "JPEG"
    assert len(low_bytes) * 2 < len(high_bytes)


def test_a_json_body_takes_the_format_and_a_numeric_quality(invoke, aws):
    jar = {"csrf_token": TOKEN, "guest_id": GUEST}
    ticket_event = load_event("dev-login-post", path="/api/ai-image/uploads", cookies=jar)
    ticket_event["routeKey"] = ticket_event["requestContext"]["routeKey"] = "POST /api/ai-image/uploads"
    ticket_event["body"] = json.dumps({"contentType": "image/jpeg", "size": len(JPEG)})
    ticket = invoke("UploadsFunction", ticket_event).json()["data"]
    aws.s3.put_object(  # the presigned form itself is tested elsewhere: the original where it points
        Bucket=BUCKET, Key=ticket["uploadKey"], Body=JPEG, ContentType="image/jpeg")

    reply = invoke("GenerateFunction", generate_event({}, json_body={
        "model": "real-esrgan", "uploadKey": ticket["uploadKey"], "outputFormat": "PNG", "quality": 50}))

    assert reply.status == 200, reply.body[:300]
    result = proxied(invoke, reply.json()["data"]["imageUrl"])
    assert result.header("Content-Type") == "image/png" and opened(result.body).format == "PNG"


def test_transparency_is_kept_in_webp_and_flattened_onto_white_in_jpeg(invoke, aws):
    source = half_transparent()

    webp = opened(proxied(invoke, generate(invoke, {"outputFormat": "webp", "quality": "100"},
                                           source).json()["data"]["imageUrl"]).body)
    jpeg = opened(proxied(invoke, generate(invoke, {"outputFormat": "jpeg"}, source).json()["data"]["imageUrl"]).body)

    assert webp.mode == "RGBA" and webp.getpixel((28, 16))[3] == 0 and webp.getpixel((4, 16))[3] == 255
    assert jpeg.mode == "RGB"
    assert all(channel > 240 for channel in jpeg.getpixel((28, 16)))  # white, not black
    red = jpeg.getpixel((4, 16))
    assert red[0] > 200 and red[1] < 40 and red[2] < 40


@pytest.mark.parametrize(("fields", "field"), [
    ({"outputFormat": "gif"}, "outputFormat"), ({"outputFormat": "image/webp"}, "outputFormat"),
    ({"quality": "0"}, "quality"), ({"quality": "101"}, "quality"), ({"quality": "high"}, "quality"),
    ({"outputFormat": "jpeg", "quality": "85.5"}, "quality"),
])
def test_a_bad_format_or_quality_is_a_400_naming_the_field_and_nothing_is_stored(invoke, aws, fields, field):
    reply = generate(invoke, fields)

    assert reply.status == 400, reply.body[:300]
    assert reply.json()["error"]["type"] == "validation_error"
    assert reply.json()["error"]["details"] == {"field": field}
    assert aws.s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0


# --- jobs -------------------------------------------------------------------------------------------------

def run_task(function_id: str, event: dict) -> object:
    """The task's real handler from template.yaml, called with the input the state machine sends it."""
    props = load_template()["Resources"][function_id]["Properties"]
    handler = load_handler(ROOT / str(props["CodeUri"]), str(props["Handler"]), function_id)
    return handler(event, LambdaContext(function_name=function_id, aws_request_id="req-task",
                                        timeout_seconds=int(props.get("Timeout", 3))))


def test_a_job_keeps_its_format_from_create_to_result(invoke, aws, db, state_machine):
    body, content_type = multipart({"model": "real-esrgan", "outputFormat": "webp", "quality": "75"}, JPEG,
                                   "photo.jpg", "image/jpeg")
    created = invoke("JobsCreateFunction", load_event(
        "jobs-create-post", cookies={"csrf_token": TOKEN, "guest_id": GUEST},
        headers={"content-type": content_type, "x-csrf-token": TOKEN}, body=body))
    assert created.status == 202, created.body[:300]
    job = created.json()["data"]
    assert job["options"] == {"output_format": "webp", "quality": 75}
    stored = json.loads(db.rows("SELECT params_json FROM ai_jobs WHERE id = ?", job["id"])[0][0])
    assert stored == {"output_format": "webp", "quality": 75}

    run_task("JobStartFunction", {"jobId": job["id"], "step": "run"})  # RunModel, as the state machine runs it

    done = invoke("JobGetFunction", load_event("job-get-get", path=f"/api/ai-image/jobs/{job['id']}",
                                               cookies={"guest_id": GUEST}))
    assert done.status == 200, done.body[:300]
    finished = done.json()["data"]
    assert finished["status"] == "succeeded"
    url = finished["output"]["url"]
    assert url.endswith(".webp") and stored_type(aws, url) == "image/webp"
    result = proxied(invoke, url)
    assert result.header("Content-Type") == "image/webp" and opened(result.body).format == "WEBP"


def test_a_job_for_a_jpeg_without_a_format_keeps_jpeg(invoke, aws, db, state_machine):
    body, content_type = multipart({"model": "real-esrgan"}, JPEG, "photo.jpg", "image/jpeg")
    created = invoke("JobsCreateFunction", load_event(
        "jobs-create-post", cookies={"csrf_token": TOKEN, "guest_id": GUEST},
        headers={"content-type": content_type, "x-csrf-token": TOKEN}, body=body))

    assert created.status == 202, created.body[:300]
    assert created.json()["data"]["options"] == {"output_format": "jpeg", "quality": 90}


def test_a_job_with_a_bad_format_is_a_400_and_no_job(invoke, aws, db, state_machine):
    body, content_type = multipart({"model": "real-esrgan", "outputFormat": "bmp"}, PNG)
    reply = invoke("JobsCreateFunction", load_event(
        "jobs-create-post", cookies={"csrf_token": TOKEN, "guest_id": GUEST},
        headers={"content-type": content_type, "x-csrf-token": TOKEN}, body=body))

    assert reply.status == 400 and reply.json()["error"]["details"] == {"field": "outputFormat"}
    assert db.rows("SELECT id FROM ai_jobs") == []
