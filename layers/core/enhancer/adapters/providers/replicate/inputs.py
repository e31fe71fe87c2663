"""What we send Replicate, per model: the `input` object, the SDK arguments that create a prediction, and how
long to let Replicate hold the call. Pure: no I/O, no httpx, no SDK."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from enhancer.domain.enhancement import EnhanceOptions
from enhancer.domain.models import ModelSpec

MAX_PREFER_WAIT_SECONDS = 60
# Replicate holds a `Prefer: wait` call this much less than the time left, so its answer (and a cancel, if the
# prediction is still running) arrive before the deadline.
PREFER_WAIT_MARGIN_SECONDS = 2.0
WEBHOOK_EVENTS = ("completed",)


def _given(model: ModelSpec, name: str, value: object) -> object:
    """The option's value, or the registry's default when it was not given."""
    if value is not None:
        return value
    spec = model.option(name)
    return spec.default if spec is not None else None


def _real_esrgan(model: ModelSpec, o: EnhanceOptions, url: str) -> dict[str, Any]:
    return {"image": url, "scale": _given(model, "scale", o.scale) or 2,
            "face_enhance": bool(_given(model, "face_enhance", o.face_enhance))}


def _gfpgan(model: ModelSpec, o: EnhanceOptions, url: str) -> dict[str, Any]:
    return {"img": url, "version": "v1.4", "scale": 2}


def _codeformer(model: ModelSpec, o: EnhanceOptions, url: str) -> dict[str, Any]:
    fidelity = _given(model, "fidelity", o.fidelity)
    return {"image": url, "codeformer_fidelity": 0.5 if fidelity is None else fidelity,
            "background_enhance": True, "face_upsample": True, "upscale": 2}


def _topaz(model: ModelSpec, o: EnhanceOptions, url: str) -> dict[str, Any]:
    return {"image": url}


def _sdxl(model: ModelSpec, o: EnhanceOptions, url: str) -> dict[str, Any]:
    return {"image": url,
            "prompt": _given(model, "prompt", o.prompt),
            "negative_prompt": _given(model, "negative_prompt", o.negative_prompt),
            "prompt_strength": _given(model, "strength", o.strength),
            "guidance_scale": _given(model, "guidance", o.guidance),
            "num_inference_steps": _given(model, "steps", o.steps)}


_INPUTS: dict[str, Callable[[ModelSpec, EnhanceOptions, str], dict[str, Any]]] = {
    "real-esrgan": _real_esrgan,
    "gfpgan": _gfpgan,
    "codeformer": _codeformer,
    "topaz-upscale": _topaz,
    "sdxl-img2img": _sdxl,
}


def replicate_input(model: ModelSpec, options: EnhanceOptions, image_url: str) -> dict[str, Any]:
    """The `input` object Replicate's model expects, with the registry's defaults for absent options."""
    try:
        build = _INPUTS[model.slug]
    except KeyError:
        raise ValueError(f"no Replicate input mapping for model {model.slug!r}") from None
    return build(model, options, image_url)


def create_arguments(model: ModelSpec, model_input: dict[str, Any], *, webhook: str | None = None) -> dict[str, Any]:
    """The SDK's keyword arguments creating a prediction: a pinned `version` (POST /v1/predictions), or, for an
    official model without one, `model="owner/name"` (POST /v1/models/{owner}/{name}/predictions)."""
    ref = model.replicate
    arguments: dict[str, Any] = ({"version": ref.version} if ref.version else {"model": f"{ref.owner}/{ref.name}"})
    arguments["input"] = model_input
    if webhook:
        arguments["webhook"] = webhook
        arguments["webhook_events_filter"] = list(WEBHOOK_EVENTS)
    return arguments


def prefer_wait_seconds(seconds_left: float) -> int:
    """`Prefer: wait=n`: as long as the deadline allows (less a margin for the answer), between 1 and 60."""
    if not math.isfinite(seconds_left):
        return MAX_PREFER_WAIT_SECONDS
    return max(1, min(MAX_PREFER_WAIT_SECONDS, math.floor(seconds_left - PREFER_WAIT_MARGIN_SECONDS)))
