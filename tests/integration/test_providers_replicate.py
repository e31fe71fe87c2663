"""The Replicate provider against a fake Replicate (httpx.MockTransport): requests per model, polling,
output download, every error class, the deadline, and that no upstream text reaches a client."""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Callable
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws
from PIL import Image

from enhancer.adapters.providers.replicate.provider import ReplicateProvider, replicate_token
from enhancer.config import EnhancementSettings
from enhancer.domain.enhancement import EnhanceOptions
from enhancer.domain.errors import AppError, ProviderFailed, ProviderTimedOut, ServiceUnavailable, ValidationFailed
from enhancer.domain.models import find_model
from enhancer.http.envelope import http_status
from enhancer.observability import metrics
from enhancer.services.ports import Prediction, RemoteProvider, SourceImage
from tests.replicate_wire import prediction_json

TOKEN = "r8_test-token-0123456789"
BASE = "https://api.replicate.test"
OUT = "https://replicate.delivery/pbxt/abc/out.png"
SOURCE_URL = "https://enhancer-images.s3.amazonaws.com/originals/g/x.png?X-Amz-Signature=PRESIGNED-SIG"
SECRET_DETAIL = "SECRET-UPSTREAM-DETAIL"


def png_bytes(size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(buffer, "PNG")
    return buffer.getvalue()


PNG = png_bytes()
SOURCE = SourceImage(data=PNG, content_type="image/png", width=8, height=8, url=SOURCE_URL)

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class FakeReplicate:
    """Scripted answers per (method, url without query); each list is consumed in order, its last entry repeats."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.routes: dict[tuple[str, str], list[Reply]] = {}

    def on(self, method: str, url: str, *replies: Reply) -> FakeReplicate:
        self.routes[(method, url if url.startswith("http") else BASE + url)] = list(replies)
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = (request.method, str(request.url.copy_with(query=None)))
        replies = self.routes.get(key)
        if not replies:
            return httpx.Response(599, text=f"unexpected {key}")
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        if isinstance(reply, Exception):
            raise reply
        if callable(reply):
            return reply(request)
        return reply

    def calls(self) -> list[tuple[str, str]]:
        return [(r.method, str(r.url).removeprefix(BASE)) for r in self.requests]

    def body(self, index: int = 0) -> Any:
        return json.loads(self.requests[index].content)


def prediction(status: str, **extra: Any) -> httpx.Response:
    """A prediction as Replicate answers it (the SDK refuses one without its model and version)."""
    return httpx.Response(201 if status == "starting" else 200, json=prediction_json(status, **extra))


def succeeded(output: Any = OUT) -> httpx.Response:
    return prediction("succeeded", output=output)


def provider(fake: FakeReplicate, *, poll_interval: float = 0.01) -> ReplicateProvider:
    return ReplicateProvider(TOKEN, base_url=BASE, http_timeout=5.0, transport=httpx.MockTransport(fake),
                             poll_interval=poll_interval)


def esrgan():
    return find_model("real-esrgan")


@pytest.fixture(autouse=True)
def clean_metrics():
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


def metric_values(name: str) -> list[float]:
    return list(metrics.metric_set.get(name, {}).get("Value", []))


def run(p: ReplicateProvider, model_slug: str = "real-esrgan", options: EnhanceOptions | None = None,
        *, seconds: float = 25.0, source: SourceImage = SOURCE):
    return p.run(find_model(model_slug), options or EnhanceOptions(), source, time.monotonic() + seconds)


def assert_no_upstream_text(error: AppError) -> None:
    shown = f"{error.message} {error.details} {error.retry_after} {error}"
    assert SECRET_DETAIL not in shown and TOKEN not in shown and "PRESIGNED" not in shown


# --- the happy paths ------------------------------------------------------------------------------------------

def test_polls_from_starting_to_succeeded_then_downloads_the_output():
    fake = (FakeReplicate()
            .on("POST", "/v1/predictions", prediction("starting"))
            .on("GET", "/v1/predictions/p1", prediction("processing"), prediction("processing"), succeeded())
            .on("GET", OUT, httpx.Response(200, content=PNG, headers={"content-type": "image/png"})))

    image = run(provider(fake), options=EnhanceOptions(scale=4))

    assert image.data == PNG and image.content_type == "image/png"
    assert fake.calls() == [("POST", "/v1/predictions"), ("GET", "/v1/predictions/p1"),
                            ("GET", "/v1/predictions/p1"), ("GET", "/v1/predictions/p1"), ("GET", OUT)]
    create = fake.requests[0]
    assert create.headers["Authorization"] == f"Bearer {TOKEN}"
    assert create.headers["Content-Type"] == "application/json"
    assert create.headers["Prefer"] == "wait=22"  # 25 s left, less the 2 s margin for the answer
    assert fake.body(0) == {"version": esrgan().replicate.version,
                            "input": {"image": SOURCE_URL, "scale": 4, "face_enhance": False}}
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in fake.requests[1:4])
    assert "Authorization" not in fake.requests[4].headers  # the token never goes to the file host
    assert len(metric_values("replicate_duration_ms")) == 1 and metric_values("replicate_error") == []


@pytest.mark.parametrize(("slug", "options", "path", "body"), [
    ("real-esrgan", EnhanceOptions(face_enhance=True), "/v1/predictions",
     {"version": "42fed1c4974146d4d2414e2be2c5277c7fcf05fcc3a73abf41610695738c1d7b",
      "input": {"image": SOURCE_URL, "scale": 2, "face_enhance": True}}),
    ("gfpgan", EnhanceOptions(), "/v1/predictions",
     {"version": "0fbacf7afc6c144e5be9767cff80f25aff23e52b0708f17e20f9879b2f21516c",
      "input": {"img": SOURCE_URL, "version": "v1.4", "scale": 2}}),
    ("codeformer", EnhanceOptions(fidelity=0.7), "/v1/predictions",
     {"version": "7de2ea26c616d5bf2245ad0d5e24f0ff9a6204578a5c876db53142edd9d2cd56",
      "input": {"image": SOURCE_URL, "codeformer_fidelity": 0.7, "background_enhance": True,
                "face_upsample": True, "upscale": 2}}),
    ("topaz-upscale", EnhanceOptions(), "/v1/models/topazlabs/image-upscale/predictions",
     {"input": {"image": SOURCE_URL}}),
    ("sdxl-img2img", EnhanceOptions(prompt="restore", strength=0.3), "/v1/predictions",
     {"version": "39ed52f2a78e934b3ba6e2a89f5b1c712de7dfea535525255b1aa35c5565e08b",
      "input": {"image": SOURCE_URL, "prompt": "restore",
                "negative_prompt": "cartoon, anime, text, watermark, oversharpen, artifacts, deformed, unrealistic",
                "prompt_strength": 0.3, "guidance_scale": 5.0, "num_inference_steps": 20}}),
])
def test_each_model_sends_its_own_body_and_a_finished_prediction_needs_no_poll(slug, options, path, body):
    fake = (FakeReplicate().on("POST", path, succeeded())
            .on("GET", OUT, httpx.Response(200, content=PNG, headers={"content-type": "image/png"})))

    image = run(provider(fake), slug, options, seconds=10.0)

    assert image.data == PNG
    assert fake.calls() == [("POST", path), ("GET", OUT)]
    assert fake.body(0) == body
    assert fake.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert fake.requests[0].headers["Prefer"] == "wait=7"


def test_a_list_output_downloads_its_first_image():
    second = "https://replicate.delivery/pbxt/abc/second.png"
    fake = (FakeReplicate().on("POST", "/v1/predictions", succeeded([OUT, second]))
            .on("GET", OUT, httpx.Response(200, content=PNG, headers={"content-type": "image/png"})))

    assert run(provider(fake)).data == PNG
    assert [str(r.url) for r in fake.requests[1:]] == [OUT]


def test_the_type_comes_from_the_bytes_when_the_header_is_generic():
    jpeg = io.BytesIO()
    Image.new("RGB", (4, 4)).save(jpeg, "JPEG")
    fake = (FakeReplicate().on("POST", "/v1/predictions", succeeded())
            .on("GET", OUT, httpx.Response(200, content=jpeg.getvalue(),
                                           headers={"content-type": "application/octet-stream"})))

    assert run(provider(fake)).content_type == "image/jpeg"


def test_the_header_type_is_used_for_formats_not_sniffed():
    fake = (FakeReplicate().on("POST", "/v1/predictions", succeeded())
            .on("GET", OUT, httpx.Response(200, content=b"\x00\x00\x00\x1cftypavif", headers={
                "content-type": "image/avif"})))

    assert run(provider(fake)).content_type == "image/avif"


def test_the_output_download_follows_redirects():
    moved = "https://cdn.replicate.test/out.png"
    fake = (FakeReplicate().on("POST", "/v1/predictions", succeeded())
            .on("GET", OUT, httpx.Response(302, headers={"location": moved}))
            .on("GET", moved, httpx.Response(200, content=PNG)))

    assert run(provider(fake)).content_type == "image/png"


def test_a_data_url_output_is_decoded_without_a_download():
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    fake = FakeReplicate().on("POST", "/v1/predictions", succeeded(data_url))

    image = run(provider(fake))

    assert image.data == PNG and image.content_type == "image/png"
    assert len(fake.requests) == 1


# --- errors ---------------------------------------------------------------------------------------------------

def upstream_error(status: int) -> httpx.Response:
    return httpx.Response(status, json={"title": "nope", "detail": f"{SECRET_DETAIL} see {SOURCE_URL}"})


@pytest.mark.parametrize(("status", "error_type", "message"), [
    (401, ServiceUnavailable, "The enhancement service is not configured correctly"),
    (403, ServiceUnavailable, "The enhancement service is not configured correctly"),
    (404, ValidationFailed, "The model rejected the request"),
    (422, ValidationFailed, "The model rejected the request"),
    (429, ProviderFailed, "The enhancement service is busy, please retry"),
    (500, ProviderFailed, "The enhancement service failed, please retry"),
    (503, ProviderFailed, "The enhancement service failed, please retry"),
])
def test_http_errors_map_to_client_errors_without_upstream_text(status, error_type, message, logs):
    fake = FakeReplicate().on("POST", "/v1/predictions", upstream_error(status))

    with pytest.raises(AppError) as caught:
        run(provider(fake))

    assert type(caught.value) is error_type and caught.value.message == message
    assert_no_upstream_text(caught.value)
    if status in (429, 500, 503):
        assert caught.value.details == {"retryable": True}
    [record] = [r for r in logs() if r["message"] == "replicate_error"]
    assert record["status"] == status and record["model"] == "real-esrgan"
    assert SECRET_DETAIL in record["snippet"] and len(record["snippet"]) <= 200
    assert "PRESIGNED" not in json.dumps(record) and TOKEN not in json.dumps(record)
    assert metric_values("replicate_error") == [1.0]


def test_an_http_error_while_polling_is_mapped_too():
    fake = (FakeReplicate().on("POST", "/v1/predictions", prediction("starting"))
            .on("GET", "/v1/predictions/p1", prediction("processing"), upstream_error(502)))

    with pytest.raises(ProviderFailed) as caught:
        run(provider(fake))
    assert_no_upstream_text(caught.value)


def test_a_connection_error_is_a_retryable_provider_error():
    fake = FakeReplicate().on("POST", "/v1/predictions", httpx.ConnectError(f"{SECRET_DETAIL} refused"))

    with pytest.raises(ProviderFailed) as caught:
        run(provider(fake))

    assert type(caught.value) is ProviderFailed
    assert caught.value.message == "The enhancement service failed, please retry"
    assert_no_upstream_text(caught.value)


def test_a_read_timeout_is_a_provider_timeout():
    fake = FakeReplicate().on("POST", "/v1/predictions", httpx.ReadTimeout(f"{SECRET_DETAIL} timed out"))

    with pytest.raises(ProviderTimedOut) as caught:
        run(provider(fake))

    assert http_status(caught.value) == 502 and caught.value.details == {"retryable": True}
    assert_no_upstream_text(caught.value)


def test_a_non_json_answer_is_a_provider_error():
    fake = FakeReplicate().on("POST", "/v1/predictions", httpx.Response(200, text=f"<html>{SECRET_DETAIL}"))

    with pytest.raises(ProviderFailed) as caught:
        run(provider(fake))
    assert_no_upstream_text(caught.value)


def test_a_prediction_id_that_is_not_an_id_is_refused():
    fake = FakeReplicate().on("POST", "/v1/predictions", prediction("starting", id="../../v1/account"))
    with pytest.raises(ProviderFailed):
        run(provider(fake))
    assert len(fake.requests) == 1


@pytest.mark.parametrize(("status", "message"), [("failed", "The model could not enhance this image"),
                                                 ("canceled", "The enhancement was canceled")])
def test_a_prediction_that_does_not_succeed_is_a_provider_error(status, message, logs):
    fake = (FakeReplicate().on("POST", "/v1/predictions", prediction("starting"))
            .on("GET", "/v1/predictions/p1", prediction("processing"),
                prediction(status, error=f"CUDA out of memory {SECRET_DETAIL}")))

    with pytest.raises(ProviderFailed) as caught:
        run(provider(fake))

    assert type(caught.value) is ProviderFailed and caught.value.message == message
    assert_no_upstream_text(caught.value)
    [record] = [r for r in logs() if r["message"] == "replicate_error"]
    assert record["status"] == f"prediction_{status}" and SECRET_DETAIL in record["snippet"]
    assert metric_values("replicate_error") == [1.0]


def test_the_deadline_while_polling_cancels_the_prediction_and_times_out():
    fake = (FakeReplicate().on("POST", "/v1/predictions", prediction("starting"))
            .on("GET", "/v1/predictions/p1", prediction("processing"))
            .on("POST", "/v1/predictions/p1/cancel", prediction("canceled")))
    started = time.monotonic()

    with pytest.raises(ProviderTimedOut):
        run(provider(fake, poll_interval=0.05), seconds=1.4)

    elapsed = time.monotonic() - started
    assert elapsed < 1.4  # polling stops early enough for the cancel to fit before the deadline
    assert fake.calls()[-1] == ("POST", "/v1/predictions/p1/cancel")
    assert fake.calls().count(("GET", "/v1/predictions/p1")) >= 3
    assert fake.requests[0].headers["Prefer"] == "wait=1"
    assert metric_values("replicate_error") == [1.0]


def test_the_deadline_with_keep_running_leaves_the_prediction_running_for_a_job():
    fake = (FakeReplicate().on("POST", "/v1/predictions", prediction("starting"))
            .on("GET", "/v1/predictions/p1", prediction("processing")))
    p = provider(fake, poll_interval=0.05)

    with pytest.raises(ProviderTimedOut) as caught:
        p.run(esrgan(), EnhanceOptions(), SOURCE, time.monotonic() + 1.4, keep_running=True)

    assert caught.value.prediction_id == "p1"
    assert ("POST", "/v1/predictions/p1/cancel") not in fake.calls()


def test_the_provider_is_also_the_remote_provider_jobs_use():
    remote: RemoteProvider = provider(FakeReplicate())
    assert remote.name == "replicate"


def test_a_passed_deadline_sends_nothing():
    fake = FakeReplicate()
    with pytest.raises(ProviderTimedOut):
        run(provider(fake), seconds=-0.1)
    assert fake.requests == []


def test_every_call_is_bounded_by_the_deadline():
    seen: list[tuple[float, dict[str, float]]] = []

    def record(reply: httpx.Response) -> Callable[[httpx.Request], httpx.Response]:
        def answer(request: httpx.Request) -> httpx.Response:
            seen.append((time.monotonic(), request.extensions["timeout"]))
            return reply
        return answer

    fake = (FakeReplicate().on("POST", "/v1/predictions", record(prediction("starting")))
            .on("GET", "/v1/predictions/p1", record(succeeded()))
            .on("GET", OUT, record(httpx.Response(200, content=PNG))))
    deadline = time.monotonic() + 3.0
    provider(fake).run(esrgan(), EnhanceOptions(), SOURCE, deadline)

    assert len(seen) == 3
    for at, timeout in seen:
        assert all(0 < value <= deadline - at + 0.05 for value in timeout.values()), timeout


def test_an_output_that_trickles_in_past_the_deadline_times_out_at_the_deadline(logs):
    def trickle():  # each chunk within the 5 s read timeout, the whole well past the deadline
        for pause in (0.5, 2.5):
            time.sleep(pause)
            yield b"\0" * 64

    fake = (FakeReplicate().on("POST", "/v1/predictions", succeeded())
            .on("GET", OUT, lambda request: httpx.Response(200, content=trickle(),
                                                          headers={"content-type": "image/png"})))
    started = time.monotonic()

    with pytest.raises(ProviderTimedOut):
        run(provider(fake), seconds=1.0)

    assert time.monotonic() - started < 2.0  # the 3 s download was not waited for
    assert any(r["message"] == "replicate_error" and r["status"] == "timeout" for r in logs())


def test_an_output_download_error_is_a_provider_error(logs):
    fake = (FakeReplicate().on("POST", "/v1/predictions", succeeded())
            .on("GET", OUT, httpx.Response(404, text=SECRET_DETAIL)))

    with pytest.raises(ProviderFailed) as caught:
        run(provider(fake))

    assert type(caught.value) is ProviderFailed
    assert_no_upstream_text(caught.value)
    assert any(r["message"] == "replicate_error" and r["status"] == 404 for r in logs())


@pytest.mark.parametrize(("content", "content_type"), [(b"", "image/png"), (b"<html>oops</html>", "text/html")])
def test_an_empty_or_non_image_output_is_a_provider_error(content, content_type):
    fake = (FakeReplicate().on("POST", "/v1/predictions", succeeded())
            .on("GET", OUT, httpx.Response(200, content=content, headers={"content-type": content_type})))

    with pytest.raises(ProviderFailed, match="The model returned no image"):
        run(provider(fake))


@pytest.mark.parametrize("output", [None, [], {"image": OUT}, "ftp://replicate.delivery/x.png"])
def test_a_succeeded_prediction_without_an_image_url_is_a_provider_error(output):
    fake = FakeReplicate().on("POST", "/v1/predictions", succeeded(output))

    with pytest.raises(ProviderFailed, match="The model returned no image"):
        run(provider(fake))
    assert len(fake.requests) == 1


def test_a_source_without_a_url_is_unavailable_and_sends_nothing():
    fake = FakeReplicate()
    with pytest.raises(ServiceUnavailable):
        run(provider(fake), source=SourceImage(data=PNG, content_type="image/png", width=8, height=8))
    assert fake.requests == []


# --- the calls the jobs workflow uses -------------------------------------------------------------------------

def test_the_sdks_retries_of_a_busy_poll_end_at_the_deadline():
    busy = httpx.Response(503, headers={"Retry-After": "30"}, json={"detail": SECRET_DETAIL})
    fake = FakeReplicate().on("POST", "/v1/predictions", prediction("starting")).on("GET", "/v1/predictions/p1", busy)
    started = time.monotonic()

    with pytest.raises(ProviderTimedOut) as caught:
        run(provider(fake), seconds=2.5)

    assert time.monotonic() - started < 3.0  # the SDK would sleep 30 s before its retry
    assert_no_upstream_text(caught.value)


def test_api_calls_go_through_the_sdk_with_the_token_and_the_download_carries_no_token():
    fake = (FakeReplicate().on("POST", "/v1/predictions", prediction("starting"))
            .on("GET", "/v1/predictions/p1", succeeded()).on("GET", OUT, httpx.Response(200, content=PNG)))
    run(provider(fake))

    api, download = fake.requests[:2], fake.requests[2]
    assert all(r.headers["user-agent"].startswith("replicate-python/") for r in api)
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in api)
    assert "authorization" not in download.headers  # the output host never sees the API token


@pytest.mark.parametrize("answer", [{"id": "p1"}, {"id": "p1", "status": "starting"}, [1, 2], "text"])
def test_an_answer_that_is_not_a_prediction_is_a_retryable_provider_error(answer):
    fake = FakeReplicate().on("POST", "/v1/predictions", httpx.Response(201, json=answer))

    with pytest.raises(ProviderFailed) as caught:
        run(provider(fake))
    assert caught.value.details == {"retryable": True}


def test_start_with_a_webhook_poll_and_cancel():
    fake = (FakeReplicate().on("POST", "/v1/predictions", prediction("starting"))
            .on("GET", "/v1/predictions/p1", prediction("processing"))
            .on("POST", "/v1/predictions/p1/cancel", prediction("canceled")))
    p = provider(fake)

    started = p.start(find_model("gfpgan"), EnhanceOptions(), SOURCE_URL,
                      webhook="https://api.example/hooks/replicate?job=j1")

    assert (started.id, started.status, started.done) == ("p1", "starting", False)
    assert fake.body(0) == {"version": find_model("gfpgan").replicate.version,
                            "input": {"img": SOURCE_URL, "version": "v1.4", "scale": 2},
                            "webhook": "https://api.example/hooks/replicate?job=j1",
                            "webhook_events_filter": ["completed"]}
    assert "Prefer" not in fake.requests[0].headers  # no deadline: answer at once, the webhook reports the end
    assert p.poll("p1").status == "processing"
    p.cancel("p1")
    assert fake.calls()[1:] == [("GET", "/v1/predictions/p1"), ("POST", "/v1/predictions/p1/cancel")]


@pytest.mark.parametrize(("webhook", "prefer"), [("https://api.example/hooks/replicate?job=j1", None),
                                                 (None, "wait=27")])
def test_a_create_is_held_only_when_no_webhook_will_report_the_end(webhook, prefer):
    """With a webhook the task's function would only be billed for the model's time while Replicate held it."""
    fake = FakeReplicate().on("POST", "/v1/predictions", prediction("starting"))

    provider(fake).start(find_model("gfpgan"), EnhanceOptions(), SOURCE_URL, webhook=webhook,
                         deadline=time.monotonic() + 30)

    assert fake.requests[0].headers.get("Prefer") == prefer


def test_output_of_a_finished_prediction():
    fake = FakeReplicate().on("GET", OUT, httpx.Response(200, content=PNG))
    p = provider(fake)

    assert p.output(esrgan(), Prediction("p1", "succeeded", OUT)).data == PNG
    with pytest.raises(ProviderFailed):
        p.output(esrgan(), Prediction("p1", "failed"))


def test_poll_refuses_an_id_that_would_change_the_path():
    fake = FakeReplicate()
    with pytest.raises(ProviderFailed):
        provider(fake).poll("p1/../../account")
    assert fake.requests == []


def test_the_token_never_shows_in_the_provider_repr():
    assert TOKEN not in repr(provider(FakeReplicate()))


# --- the token ------------------------------------------------------------------------------------------------

def settings(**values: Any) -> EnhancementSettings:
    return EnhancementSettings(environment="development", **values)


def test_the_token_is_read_from_ssm():
    with mock_aws():
        boto3.client("ssm", region_name="us-east-1").put_parameter(
            Name="/enhancer/test/replicate-token", Value="r8_from-ssm", Type="SecureString")
        assert replicate_token(settings(replicate_api_token_parameter="/enhancer/test/replicate-token",
                                        replicate_api_token="r8_inline")) == "r8_from-ssm"


def test_a_missing_ssm_token_is_unavailable_without_naming_it():
    with mock_aws(), pytest.raises(ServiceUnavailable) as caught:
        replicate_token(settings(replicate_api_token_parameter="/enhancer/test/absent-token"))
    assert "/enhancer/test/absent-token" not in caught.value.message


def test_the_inline_token_and_no_token():
    assert replicate_token(settings(replicate_api_token="r8_inline")) == "r8_inline"
    assert replicate_token(settings()) is None


def test_the_token_can_live_in_secrets_manager():
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
    with mock_aws():
        arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="enhancer/test/replicate-token", SecretString=" r8_from-secrets-manager\n")["ARN"]
        assert replicate_token(settings(replicate_api_token_parameter=arn)) == "r8_from-secrets-manager"
    parameters.clear_caches()
