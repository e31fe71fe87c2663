"""The local Real-ESRGAN engine for real, on small images (the whole file stays well under 20 s)."""

from __future__ import annotations

import io
import json
import sys
import time

import pytest
from PIL import Image, ImageChops, ImageDraw

from enhancer.adapters.providers.local import LocalEngineProvider
from enhancer.domain.enhancement import EnhanceOptions
from enhancer.domain.errors import PayloadTooLarge, ProviderTimedOut, ServiceUnavailable, ValidationFailed
from enhancer.domain.models import find_model
from enhancer.http.envelope import http_status
from enhancer.observability import logger, metrics
from enhancer.services.ports import SourceImage

ESRGAN = find_model("real-esrgan")


def drawing(size: int = 64, mode: str = "RGB") -> Image.Image:
    image = Image.linear_gradient("L").resize((size, size)).convert("RGB")
    draw = ImageDraw.Draw(image)
    draw.ellipse((size // 4, size // 4, 3 * size // 4, 3 * size // 4), fill=(200, 30, 60), outline=(0, 0, 0))
    draw.rectangle((2, 2, size // 3, size // 5), fill=(20, 180, 90))
    draw.line((0, size - 1, size - 1, 0), fill=(255, 255, 0), width=2)
    if mode == "RGBA":
        alpha = Image.new("L", (size, size), 0)
        ImageDraw.Draw(alpha).ellipse((4, 4, size - 5, size - 5), fill=255)
        image.putalpha(alpha)
    return image.convert(mode) if mode not in ("RGB", "RGBA") else image


def source(image: Image.Image, fmt: str = "PNG", **save: object) -> SourceImage:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return SourceImage(data=buffer.getvalue(), content_type=f"image/{fmt.lower()}", width=image.width,
                       height=image.height)


def enhance(src: SourceImage, *, quality: str = "fast", seconds: float = 20.0, **options: object) -> Image.Image:
    result = LocalEngineProvider(quality=quality).run(ESRGAN, EnhanceOptions(**options), src,
                                                      time.monotonic() + seconds)
    # Encoded straight in the chosen format: the one asked for, else the input's own kind.
    chosen = EnhanceOptions(**options).output(src.content_type)
    output = Image.open(io.BytesIO(result.data))
    assert result.content_type == chosen.content_type and output.format == chosen.name.upper()
    return output


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    histogram = ImageChops.difference(a.convert("RGB"), b.convert("RGB")).convert("L").histogram()
    return sum(level * count for level, count in enumerate(histogram)) / (a.width * a.height)


@pytest.mark.parametrize("scale", [2, 4])
def test_fast_upscale_is_exactly_the_scale_and_not_a_plain_resize(scale):
    original = drawing(64)

    output = enhance(source(original), scale=scale)

    assert output.size == (64 * scale, 64 * scale) and output.mode == "RGB"
    for resampling in (Image.Resampling.NEAREST, Image.Resampling.LANCZOS):
        resized = original.resize(output.size, resampling)
        assert 2 < mean_difference(output, resized) < 30  # new pixels (≈6 measured), of the same picture
    assert output.tobytes() != original.tobytes()


def test_the_default_scale_is_2():
    assert enhance(source(drawing(48))).size == (96, 96)


def test_transparency_survives():
    output = enhance(source(drawing(64, "RGBA")), scale=2)

    assert output.mode == "RGBA" and output.size == (128, 128)
    alpha = output.getchannel("A")
    assert alpha.getpixel((0, 0)) < 10 and alpha.getpixel((64, 64)) > 245


@pytest.mark.parametrize("mode", ["L", "P", "CMYK"])
def test_other_modes_come_out_as_rgb(mode):
    image = drawing(32, "RGB").convert(mode)
    output = enhance(source(image, "JPEG" if mode == "CMYK" else "PNG"), scale=2)
    assert output.size == (64, 64) and output.mode == "RGB"


def test_exif_orientation_is_applied_before_upscaling():
    image = drawing(64).crop((0, 0, 64, 32))  # 64 wide, 32 high
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise for display: 32 wide, 64 high
    output = enhance(source(image, "JPEG", exif=exif.tobytes()), scale=2)
    assert output.size == (64, 128)


def test_best_quality_x2_halves_the_x4plus_output():
    output = enhance(source(drawing(32)), quality="best", seconds=30.0, scale=2)
    assert output.size == (64, 64)


def test_other_models_need_replicate():
    with pytest.raises(ServiceUnavailable) as caught:
        LocalEngineProvider().run(find_model("gfpgan"), EnhanceOptions(), source(drawing(16)),
                                  time.monotonic() + 10)
    assert caught.value.message == "Model gfpgan needs the Replicate provider (set REPLICATE_API_TOKEN)"


def test_an_image_too_large_for_the_time_left_is_refused_before_running():
    started = time.monotonic()
    with pytest.raises(PayloadTooLarge) as caught:
        enhance(source(drawing(64)), seconds=0.01, scale=2)
    assert time.monotonic() - started < 0.05
    assert caught.value.message == ("The image is too large for the local engine to enhance in time (64×64); "
                                    "send a smaller one or run it as a job")
    assert http_status(caught.value) == 413 and not caught.value.details


def test_an_engine_that_would_load_past_the_deadline_asks_for_a_retry(monkeypatch):
    from enhancer.adapters.providers import local

    monkeypatch.setattr(local, "_engines", {})  # nothing loaded yet: the load counts against the time left
    small = source(drawing(16))
    left = local.estimated_seconds(256, local.ANIMEVIDEO_X2, loaded=True) + 0.05  # enough only once loaded

    with pytest.raises(ProviderTimedOut) as caught:
        enhance(small, seconds=left, scale=2)

    assert caught.value.details == {"retryable": True}


def test_a_corrupt_image_is_a_validation_error():
    broken = source(drawing(32))
    with pytest.raises(ValidationFailed):
        enhance(SourceImage(data=broken.data[:60], content_type="image/png", width=32, height=32))


def test_face_enhance_is_skipped_with_one_warning_and_progress_is_silent(capfd):
    import enhancer.adapters.providers.local as local

    local._face_enhance_logged = False
    handler = logger.registered_handler
    previous, handler.stream = handler.stream, sys.stdout  # inside the call phase: capfd's stdout
    metrics.clear_metrics()
    try:
        first = enhance(source(drawing(32)), scale=2, face_enhance=True)
        enhance(source(drawing(32)), scale=2, face_enhance=True)
    finally:
        handler.stream = previous
    captured = capfd.readouterr()

    assert first.size == (64, 64)
    records = [json.loads(line) for line in captured.out.splitlines() if line.startswith("{")]
    assert [r["message"] for r in records].count("local_face_enhance_unavailable") == 1
    assert "%" not in captured.err  # the engine's "0.00%" progress lines are silenced
    assert len(metrics.metric_set["local_engine_duration_ms"]["Value"]) == 2
    metrics.clear_metrics()


# --- the output format (README "Output format") -----------------------------------------------------------------

def test_a_jpeg_comes_back_as_a_jpeg_and_a_png_as_a_png_by_default():
    assert enhance(source(drawing(32), "JPEG", quality=95), scale=2).format == "JPEG"
    assert enhance(source(drawing(32)), scale=2).format == "PNG"


def test_webp_keeps_transparency_and_jpeg_flattens_it_onto_white():
    transparent = source(drawing(32, "RGBA"))

    webp = enhance(transparent, scale=2, output_format="webp")
    jpeg = enhance(transparent, scale=2, output_format="jpeg")

    assert webp.mode == "RGBA" and webp.getpixel((0, 0))[3] == 0 and webp.getpixel((32, 32))[3] == 255
    assert jpeg.mode == "RGB" and all(channel > 240 for channel in jpeg.getpixel((0, 0)))  # the corner was clear


def test_quality_decides_a_lossy_outputs_size():
    original = source(drawing(64))

    low = LocalEngineProvider().run(ESRGAN, EnhanceOptions(output_format="webp", quality=5), original,
                                    time.monotonic() + 20)
    high = LocalEngineProvider().run(ESRGAN, EnhanceOptions(output_format="webp", quality=100), original,
                                     time.monotonic() + 20)

    assert low.content_type == high.content_type == "image/webp" and len(low.data) * 2 < len(high.data)
