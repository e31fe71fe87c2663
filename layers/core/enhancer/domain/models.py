"""The model registry (docs/architecture.md §6): stable slugs, labels, pinned provider references and the options each
model accepts, with their ranges. The old system's full Replicate slugs are accepted as aliases."""

from __future__ import annotations

from dataclasses import field
from typing import Literal

from enhancer.domain.values import value_class

OptionKind = Literal["int", "float", "bool", "text"]


@value_class
class OptionSpec:
    name: str
    kind: OptionKind
    choices: tuple[int, ...] | None = None  # allowed values of an int option
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None  # text options
    default: object = None

    def describe(self) -> dict[str, object]:
        described: dict[str, object] = {"type": self.kind}
        if self.choices is not None:
            described["choices"] = list(self.choices)
        if self.minimum is not None:
            described["min"] = self.minimum
        if self.maximum is not None:
            described["max"] = self.maximum
        if self.max_length is not None:
            described["maxLength"] = self.max_length
        if self.default is not None:
            described["default"] = self.default
        return described


@value_class
class ReplicateRef:
    """`owner/name` plus a pinned version id; official models run without one (/v1/models/…/predictions)."""

    owner: str
    name: str
    version: str | None

    def __str__(self) -> str:
        return f"{self.owner}/{self.name}" + (f":{self.version}" if self.version else "")


@value_class
class ModelSpec:
    slug: str
    label: str
    replicate: ReplicateRef
    options: tuple[OptionSpec, ...] = ()
    aliases: tuple[str, ...] = field(default_factory=tuple)
    description: str = ""

    def option(self, name: str) -> OptionSpec | None:
        return next((o for o in self.options if o.name == name), None)

    @property
    def supports_scale(self) -> bool:
        return self.option("scale") is not None

    @property
    def supports_face_enhance(self) -> bool:
        return self.option("face_enhance") is not None

    def describe(self) -> dict[str, object]:
        return {
            "slug": self.slug,
            "label": self.label,
            "description": self.description,
            "provider": "replicate",
            "providerRef": str(self.replicate),
            "supportsScale": self.supports_scale,
            "supportsFaceEnhance": self.supports_face_enhance,
            "options": {o.name: o.describe() for o in self.options},
            "aliases": list(self.aliases),
        }


MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        slug="real-esrgan",
        label="Real-ESRGAN upscale",
        description="Upscale ×2 or ×4, optionally restoring faces.",
        replicate=ReplicateRef("nightmareai", "real-esrgan",
                               "42fed1c4974146d4d2414e2be2c5277c7fcf05fcc3a73abf41610695738c1d7b"),
        options=(OptionSpec("scale", "int", choices=(2, 4), default=2),
                 OptionSpec("face_enhance", "bool", default=False)),
        aliases=("nightmareai/real-esrgan:42fed1c4974146d4d2414e2be2c5277c7fcf05fcc3a73abf41610695738c1d7b",
                 "nightmareai/real-esrgan:f0992969a94014d73864d08e6d9a39286868328e4263d9ce2da6fc4049d01a1a"),
    ),
    ModelSpec(
        slug="gfpgan",
        label="GFPGAN face restoration",
        description="Restore faces in old or blurry photos.",
        replicate=ReplicateRef("tencentarc", "gfpgan",
                               "0fbacf7afc6c144e5be9767cff80f25aff23e52b0708f17e20f9879b2f21516c"),
        aliases=("tencentarc/gfpgan:0fbacf7afc6c144e5be9767cff80f25aff23e52b0708f17e20f9879b2f21516c",),
    ),
    ModelSpec(
        slug="codeformer",
        label="CodeFormer face restoration",
        description="Repair badly damaged faces; higher fidelity keeps more of the original.",
        replicate=ReplicateRef("sczhou", "codeformer",
                               "7de2ea26c616d5bf2245ad0d5e24f0ff9a6204578a5c876db53142edd9d2cd56"),
        options=(OptionSpec("fidelity", "float", minimum=0.0, maximum=1.0, default=0.5),),
    ),
    ModelSpec(
        slug="topaz-upscale",
        label="Topaz image upscale",
        description="Topaz Labs upscaling (an official Replicate model).",
        replicate=ReplicateRef("topazlabs", "image-upscale", None),
        aliases=("topazlabs/image-upscale",),
    ),
    ModelSpec(
        slug="sdxl-img2img",
        label="SDXL prompt-guided restoration",
        description="Restore or re-imagine a photo guided by a text prompt.",
        replicate=ReplicateRef("stability-ai", "sdxl",
                               "39ed52f2a78e934b3ba6e2a89f5b1c712de7dfea535525255b1aa35c5565e08b"),
        options=(
            OptionSpec("prompt", "text", max_length=500,
                       default="photo restoration, high quality, detailed, natural, sharp focus, accurate colors"),
            OptionSpec("negative_prompt", "text", max_length=500,
                       default="cartoon, anime, text, watermark, oversharpen, artifacts, deformed, unrealistic"),
            OptionSpec("strength", "float", minimum=0.0, maximum=1.0, default=0.25),
            OptionSpec("guidance", "float", minimum=1.0, maximum=12.0, default=5.0),
            OptionSpec("steps", "int", minimum=1, maximum=60, default=20),
        ),
        aliases=("@cf/runwayml/stable-diffusion-v1-5-img2img",),
    ),
)

_BY_NAME: dict[str, ModelSpec] = {}
for _model in MODELS:
    _BY_NAME[_model.slug] = _model
    for _alias in _model.aliases:
        _BY_NAME[_alias] = _model

ALL_OPTION_NAMES = ("scale", "face_enhance", "fidelity", "prompt", "negative_prompt", "strength", "guidance", "steps")


def find_model(name: str | None) -> ModelSpec | None:
    """A registry entry by slug or old full slug; None when unknown."""
    return _BY_NAME.get((name or "").strip())
