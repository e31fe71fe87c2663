"""Pure parts of the providers: Replicate input per model, endpoint choice, error mapping, log redaction,
the local engine's model choice and time estimate."""

from __future__ import annotations

import math

import pytest

from enhancer.adapters.providers.local import (
    ANIMEVIDEO_X2,
    ANIMEVIDEO_X4,
    FAST_PIXELS_PER_SECOND,
    X4PLUS,
    engine_model,
    estimated_seconds,
)
from enhancer.adapters.providers.replicate.client import (
    error_for_prediction,
    error_for_status,
    image_type,
    output_url,
    redact_urls,
    url_for_logs,
)
from enhancer.adapters.providers.replicate.inputs import create_arguments, prefer_wait_seconds, replicate_input
from enhancer.domain.enhancement import EnhanceOptions
from enhancer.domain.errors import ProviderFailed, ProviderTimedOut, ServiceUnavailable, ValidationFailed
from enhancer.domain.image_checks import sniff_type
from enhancer.domain.models import MODELS, ModelSpec, ReplicateRef, find_model
from enhancer.http.envelope import http_status

URL = "https://bucket.s3.amazonaws.com/originals/a.png?X-Amz-Signature=abc"


def model(slug: str) -> ModelSpec:
    found = find_model(slug)
    assert found is not None
    return found


# --- input mapping --------------------------------------------------------------------------------------------

def test_real_esrgan_defaults_to_x2_without_faces():
    assert replicate_input(model("real-esrgan"), EnhanceOptions(), URL) == {
        "image": URL, "scale": 2, "face_enhance": False}


def test_real_esrgan_passes_scale_and_face_enhance():
    assert replicate_input(model("real-esrgan"), EnhanceOptions(scale=4, face_enhance=True), URL) == {
        "image": URL, "scale": 4, "face_enhance": True}


def test_gfpgan_takes_img_and_a_fixed_version_and_scale():
    assert replicate_input(model("gfpgan"), EnhanceOptions(), URL) == {"img": URL, "version": "v1.4", "scale": 2}


def test_codeformer_defaults_and_fidelity():
    expected = {"image": URL, "codeformer_fidelity": 0.5, "background_enhance": True, "face_upsample": True,
                "upscale": 2}
    assert replicate_input(model("codeformer"), EnhanceOptions(), URL) == expected
    assert replicate_input(model("codeformer"), EnhanceOptions(fidelity=0.9), URL) == {
        **expected, "codeformer_fidelity": 0.9}
    assert replicate_input(model("codeformer"), EnhanceOptions(fidelity=0.0), URL)["codeformer_fidelity"] == 0.0


def test_topaz_takes_only_the_image():
    assert replicate_input(model("topaz-upscale"), EnhanceOptions(), URL) == {"image": URL}


def test_sdxl_uses_the_registry_defaults_when_absent():
    sdxl = model("sdxl-img2img")
    assert replicate_input(sdxl, EnhanceOptions(), URL) == {
        "image": URL,
        "prompt": sdxl.option("prompt").default,
        "negative_prompt": sdxl.option("negative_prompt").default,
        "prompt_strength": 0.25, "guidance_scale": 5.0, "num_inference_steps": 20}


def test_sdxl_renames_the_given_options():
    options = EnhanceOptions(prompt="sharp", negative_prompt="blur", strength=0.4, guidance=7.5, steps=30)
    assert replicate_input(model("sdxl-img2img"), options, URL) == {
        "image": URL, "prompt": "sharp", "negative_prompt": "blur", "prompt_strength": 0.4,
        "guidance_scale": 7.5, "num_inference_steps": 30}


@pytest.mark.parametrize("spec", MODELS, ids=lambda m: m.slug)
def test_every_registry_model_has_a_mapping_that_carries_the_image(spec):
    mapped = replicate_input(spec, EnhanceOptions(), URL)
    assert URL in mapped.values()


def test_a_model_without_a_mapping_is_a_programming_error():
    unknown = ModelSpec(slug="new-model", label="New", replicate=ReplicateRef("o", "n", "v"))
    with pytest.raises(ValueError, match="new-model"):
        replicate_input(unknown, EnhanceOptions(), URL)


# --- endpoint -------------------------------------------------------------------------------------------------

def test_pinned_models_name_their_version():
    esrgan = model("real-esrgan")
    assert create_arguments(esrgan, {"image": URL}) == {"version": esrgan.replicate.version, "input": {"image": URL}}


def test_official_models_without_a_version_name_the_model():
    assert create_arguments(model("topaz-upscale"), {"image": URL}) == {"model": "topazlabs/image-upscale",
                                                                        "input": {"image": URL}}


def test_a_webhook_asks_only_for_completion():
    arguments = create_arguments(model("gfpgan"), {"img": URL}, webhook="https://api.example/hook?job=1")
    assert arguments["webhook"] == "https://api.example/hook?job=1"
    assert arguments["webhook_events_filter"] == ["completed"]


@pytest.mark.parametrize(("left", "wait"), [(25.0, 23), (120.0, 60), (60.5, 58), (2.5, 1), (0.2, 1), (-3, 1),
                                            (math.inf, 60)])
def test_prefer_wait_fits_the_deadline(left, wait):
    assert prefer_wait_seconds(left) == wait


# --- errors ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_mean_the_service_is_misconfigured(status):
    error = error_for_status(status)
    assert type(error) is ServiceUnavailable and http_status(error) == 503
    assert error.message == "The enhancement service is not configured correctly"


@pytest.mark.parametrize("status", [400, 404, 409, 413, 422])
def test_other_client_errors_are_validation_errors(status):
    error = error_for_status(status)
    assert type(error) is ValidationFailed and http_status(error) == 400
    assert error.message == "The model rejected the request"


def test_too_many_requests_is_a_retryable_provider_error():
    error = error_for_status(429)
    assert type(error) is ProviderFailed and http_status(error) == 502
    assert error.details == {"retryable": True} and error.retry_after == 5


@pytest.mark.parametrize("status", [500, 502, 503, 504, 599])
def test_server_errors_are_retryable_provider_errors(status):
    error = error_for_status(status)
    assert type(error) is ProviderFailed and http_status(error) == 502
    assert error.message == "The enhancement service failed, please retry"
    assert error.details == {"retryable": True}


@pytest.mark.parametrize(("status", "message"), [("failed", "The model could not enhance this image"),
                                                 ("canceled", "The enhancement was canceled"),
                                                 ("aborted", "The enhancement was canceled")])
def test_unsuccessful_predictions_are_provider_errors(status, message):
    error = error_for_prediction(status)
    assert type(error) is ProviderFailed and error.message == message
    assert not isinstance(error, ProviderTimedOut)


# --- logs and outputs -----------------------------------------------------------------------------------------

def test_presigned_query_strings_never_reach_the_logs():
    text = f"could not download {URL} (403); also 'https://x.example/p?sig=1&t=2'"
    redacted = redact_urls(text)
    assert "X-Amz-Signature" not in redacted and "sig=1" not in redacted
    assert "https://bucket.s3.amazonaws.com/originals/a.png?…" in redacted
    assert url_for_logs(URL) == "https://bucket.s3.amazonaws.com/originals/a.png"
    assert url_for_logs("data:image/png;base64,AAAA") == "data:…"


@pytest.mark.parametrize(("output", "url"), [
    ("https://replicate.delivery/a.png", "https://replicate.delivery/a.png"),
    (["https://replicate.delivery/b.png", "https://replicate.delivery/c.png"], "https://replicate.delivery/b.png"),
    ([], None), (None, None), ({"image": "x"}, None), ([None], None), ("", None)])
def test_output_url(output, url):
    assert output_url(output) == url


@pytest.mark.parametrize(("data", "content_type"), [
    (b"\xff\xd8\xff\xe0rest", "image/jpeg"), (b"\x89PNG\r\n\x1a\nrest", "image/png"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
    (b"GIF89a...", None),  # the product takes and returns JPEG, PNG and WebP only: one table, image_checks'
    (b"<html>", None), (b"", None)])
def test_a_providers_output_is_typed_by_the_products_one_format_table(data, content_type):
    assert sniff_type(data) == content_type


@pytest.mark.parametrize(("header", "content_type"), [
    ("image/png", "image/png"), ("IMAGE/JPEG; charset=binary", "image/jpeg"), ("image/svg+xml", None),
    ("text/html", None), ("", None)])
def test_only_raster_image_types_are_taken_from_headers(header, content_type):
    assert image_type(header) == content_type


def test_the_replicate_package_still_exports_its_public_names():
    import enhancer.adapters.providers.replicate as replicate
    from enhancer.adapters.providers.replicate import client, inputs

    assert replicate.replicate_input is inputs.replicate_input
    assert replicate.error_for_status is client.error_for_status
    with pytest.raises(AttributeError):
        _ = replicate.no_such_name


# --- local engine ---------------------------------------------------------------------------------------------

def test_local_engine_model_choice():
    assert engine_model("fast", 2) == ANIMEVIDEO_X2
    assert engine_model("fast", 4) == ANIMEVIDEO_X4
    assert engine_model("best", 2) == X4PLUS
    assert engine_model("best", 4) == X4PLUS
    with pytest.raises(ValidationFailed):
        engine_model("fast", 8)


def test_local_engine_estimate_counts_pixels_and_the_first_load():
    loaded = estimated_seconds(FAST_PIXELS_PER_SECOND * 3, ANIMEVIDEO_X2, loaded=True)
    assert loaded == pytest.approx(3.0)
    assert estimated_seconds(FAST_PIXELS_PER_SECOND * 3, ANIMEVIDEO_X2, loaded=False) > loaded
    assert estimated_seconds(128 * 128, X4PLUS, loaded=True) > estimated_seconds(128 * 128, ANIMEVIDEO_X4,
                                                                                   loaded=True) * 10
