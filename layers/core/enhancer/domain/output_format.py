"""Which format an enhanced image comes back in (README "Output format"): `outputFormat` and `quality` parsed,
and the pure choice of the format when none is asked for — the input's own kind, so a JPEG photo comes back as
a JPEG and not as a PNG five times its size."""

from __future__ import annotations

import math

from enhancer.domain.errors import ValidationFailed
from enhancer.domain.image_checks import EXTENSIONS, JPEG, PNG, WEBP
from enhancer.domain.values import value_class

# The names the request uses, and the content type each stands for.
FORMATS: dict[str, str] = {"png": PNG, "jpeg": JPEG, "webp": WEBP}
FORMAT_NAMES = tuple(FORMATS)
_ALIASES = {"jpg": "jpeg"}  # the file extension, which people type as often as the format's name
_BY_CONTENT_TYPE = {content_type: name for name, content_type in FORMATS.items()}
LOSSY = frozenset({"jpeg", "webp"})
MIN_QUALITY, MAX_QUALITY = 1, 100
# What a photo needs to look unchanged after an upscale; the encoders' own defaults (75, 80) show blocks and
# smearing at ×4 magnification.
DEFAULT_QUALITY = 90


@value_class
class OutputFormat:
    """A format and, for the lossy ones, its quality (1–100); PNG is lossless and has none."""

    name: str
    quality: int | None = None

    @property
    def content_type(self) -> str:
        return FORMATS[self.name]

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.content_type]

    @property
    def keeps_alpha(self) -> bool:
        """JPEG has no alpha channel: transparency is flattened onto white for it."""
        return self.name != "jpeg"


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details={"field": field})


def parse_output_format(raw: object) -> str | None:
    """`outputFormat`: png, jpeg (or jpg) or webp, in any case, surrounding blanks ignored; blank or absent →
    None."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    name = raw.strip().lower() if isinstance(raw, str) else None
    name = _ALIASES.get(name or "", name)
    if name not in FORMATS:
        raise _invalid("outputFormat", "'outputFormat' must be png, jpeg or webp")
    return name


def parse_quality(raw: object) -> int | None:
    """`quality`: a whole number from 1 to 100 (a form's text or a JSON number); blank or absent → None."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    message = f"'quality' must be a whole number from {MIN_QUALITY} to {MAX_QUALITY}"
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise _invalid("quality", message)
    try:
        number = float(raw.strip() if isinstance(raw, str) else raw)
    except (ValueError, OverflowError):
        number = math.nan
    if not math.isfinite(number) or number != int(number) or not MIN_QUALITY <= number <= MAX_QUALITY:
        raise _invalid("quality", message)
    return int(number)


def default_format(input_content_type: str | None) -> str:
    """The input's own kind; PNG for anything else (lossless, and it keeps transparency)."""
    return _BY_CONTENT_TYPE.get(input_content_type or "", "png")


def choose_output(requested: str | None, quality: int | None, input_content_type: str | None) -> OutputFormat:
    """The format asked for (or the input's kind) with its quality: the one asked for, else DEFAULT_QUALITY for
    JPEG and WebP; a quality sent with PNG is ignored (PNG is lossless, there is nothing to trade)."""
    name = requested if requested in FORMATS else default_format(input_content_type)
    if name not in LOSSY:
        return OutputFormat(name)
    return OutputFormat(name, DEFAULT_QUALITY if quality is None else quality)
