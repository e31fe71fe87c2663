"""What one enhancement asks for: options parsed against the model, checked against the plan, and priced."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace

from enhancer.domain.errors import Forbidden, ValidationFailed
from enhancer.domain.models import ALL_OPTION_NAMES, ModelSpec, OptionSpec
from enhancer.domain.output_format import OutputFormat, choose_output, parse_output_format, parse_quality
from enhancer.domain.plans import Entitlements
from enhancer.domain.values import value_class

BASE_COST_TENTHS = 10
SCALE_4_COST_TENTHS = 10
FACE_ENHANCE_COST_TENTHS = 5

_TRUE = frozenset({"true", "1", "on", "yes"})
_FALSE = frozenset({"false", "0", "off", "no"})


@value_class
class EnhanceOptions:
    scale: int | None = None
    face_enhance: bool | None = None
    fidelity: float | None = None
    prompt: str | None = None
    negative_prompt: str | None = None
    strength: float | None = None
    guidance: float | None = None
    steps: int | None = None
    # Not model options (every model takes them): the result's format, png/jpeg/webp, and its quality.
    output_format: str | None = None
    quality: int | None = None

    def as_dict(self) -> dict[str, object]:
        """The options that were given (the job's parameters), without the absent ones."""
        return {name: getattr(self, name) for name in (*ALL_OPTION_NAMES, *OUTPUT_OPTION_NAMES)
                if getattr(self, name) is not None}

    def output(self, input_content_type: str | None) -> OutputFormat:
        """The result's format: the one asked for, else the input's kind."""
        return choose_output(self.output_format, self.quality, input_content_type)

    def with_output(self, output: OutputFormat) -> EnhanceOptions:
        """These options with the format decided, so a job carries the choice made when it was created."""
        return replace(self, output_format=output.name, quality=output.quality)


OUTPUT_OPTION_NAMES = ("output_format", "quality")


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details={"field": field})


def _parse_value(spec: OptionSpec, raw: object) -> object:
    text = raw.strip() if isinstance(raw, str) else raw
    name = spec.name
    if spec.kind == "bool":
        if isinstance(text, bool):
            return text
        if not isinstance(text, str):
            raise _invalid(name, f"'{name}' must be true or false")
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise _invalid(name, f"'{name}' must be true or false")
    if spec.kind == "text":
        if not isinstance(raw, str):
            raise _invalid(name, f"'{name}' must be text")
        value = raw
        if spec.max_length is not None and len(value) > spec.max_length:
            raise _invalid(name, f"'{name}' must be at most {spec.max_length} characters")
        if not value.isprintable() and _has_non_text(value):
            # Lone surrogates (from JSON escapes) cannot be sent on as UTF-8; control characters mean nothing.
            raise _invalid(name, f"'{name}' contains characters that are not text")
        return value
    try:
        number = float(text) if isinstance(text, str | int | float) and not isinstance(text, bool) else math.nan
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if not math.isfinite(number):
        raise _invalid(name, f"'{name}' must be a number")
    if spec.kind == "int":
        if number != int(number):
            raise _invalid(name, f"'{name}' must be a whole number")
        number = int(number)
        if spec.choices is not None and number not in spec.choices:
            allowed = " or ".join(str(c) for c in spec.choices)
            raise _invalid(name, f"'{name}' must be {allowed}")
    if (spec.minimum is not None and number < spec.minimum) or (spec.maximum is not None and number > spec.maximum):
        raise _invalid(name, f"'{name}' must be between {spec.minimum:g} and {spec.maximum:g}")
    return number


def _is_absent(raw: object) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def parse_flag(fields: Mapping[str, object], name: str) -> bool:
    """A request flag that is not a model option (`dryRun`): the words the boolean options take, a JSON
    boolean, or absent/blank for false; anything else is a 400 naming the field."""
    raw = fields.get(name)
    if _is_absent(raw):
        return False
    return bool(_parse_value(OptionSpec(name=name, kind="bool"), raw))


def parse_options(model: ModelSpec, fields: Mapping[str, object]) -> EnhanceOptions:
    """Every option field parsed and range-checked; blank values count as absent, unknown fields are ignored,
    and an option the model does not take is refused by name. `outputFormat` and `quality` apply to every
    model."""
    values: dict[str, object] = {}
    for name in ALL_OPTION_NAMES:
        raw = fields.get(name)
        if _is_absent(raw):
            continue
        spec = model.option(name)
        if spec is None:
            raise _invalid(name, f"Unsupported parameter '{name}' for model {model.slug}")
        values[name] = _parse_value(spec, raw)
    values["output_format"] = parse_output_format(fields.get("outputFormat"))
    values["quality"] = parse_quality(fields.get("quality"))
    return EnhanceOptions(**values)  # type: ignore[arg-type]


def check_entitlements(options: EnhanceOptions, entitlements: Entitlements) -> None:
    """Plan capabilities: the largest upscale and face restoration."""
    if options.scale is not None and options.scale > entitlements.max_upscale:
        raise Forbidden(f"'scale' {options.scale} exceeds your plan's limit of ×{entitlements.max_upscale}",
                        details={"field": "scale", "maxUpscale": entitlements.max_upscale})
    if options.face_enhance and not entitlements.face_enhance:
        raise Forbidden("'face_enhance' is not available on your plan", details={"field": "face_enhance"})


def cost_tenths(options: EnhanceOptions) -> int:
    """One enhancement, in tenths of a credit: the same for synchronous generate and for jobs."""
    cost = BASE_COST_TENTHS
    if options.scale == 4:
        cost += SCALE_4_COST_TENTHS
    if options.face_enhance:
        cost += FACE_ENHANCE_COST_TENTHS
    return cost


def _has_non_text(value: str) -> bool:
    """Control characters other than tab and newlines, or lone surrogates."""
    import unicodedata  # a C extension (~0.4 ms to load): only for text that is not all printable

    return any(c not in "\t\n\r" and unicodedata.category(c) in ("Cc", "Cs") for c in value)
