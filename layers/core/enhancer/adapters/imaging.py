"""Pillow behind the image checks: a full decode of every upload (docs/architecture.md §6).

Pillow is imported inside the functions so a handler importing this module does not pay for it at cold start.
`verify_decodes` changes Pillow's process-wide `MAX_IMAGE_PIXELS` and `LOAD_TRUNCATED_IMAGES` for the duration
of one decode and restores them. Lambda runs one request per process, but the local stack runs requests on
threads: a lock keeps the changes from interleaving (interleaved, a restore could leave another request's
limit in place for good), and the product passes the configured maximum, so the ceiling other decodes may
see meanwhile is never below it: an image that passed the header checks is never refused because of it.
"""

from __future__ import annotations

import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from io import BytesIO

from enhancer.domain.image_checks import JPEG, PNG, WEBP, ImageHeader, corrupt_image, inspect_image

_PILLOW_FORMATS = {JPEG: "JPEG", PNG: "PNG", WEBP: "WEBP"}
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # by colour type: grey, RGB, palette, grey+alpha, RGBA
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_INFLATE_BLOCK = 1 << 20
_pillow_globals = threading.RLock()


def _decode_errors() -> tuple[type[BaseException], ...]:
    """What Pillow raises on bad input; plugins parsing hostile metadata have leaked the lookup errors too."""
    from PIL import Image

    return (OSError, SyntaxError, ValueError, EOFError, TypeError, IndexError, KeyError, struct.error,
            Image.DecompressionBombError)


@contextmanager
def _pillow_limits(max_pixels: int | None) -> Iterator[None]:
    """Pillow refuses more than `max_pixels` pixels (an error, not its default warning) and truncated files."""
    from PIL import Image, ImageFile

    with _pillow_globals:
        saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
        Image.MAX_IMAGE_PIXELS = max_pixels
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                yield
        finally:
            Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved


def verify_decodes(data: bytes, header: ImageHeader, *, max_pixels: int | None = None) -> None:
    """Decode the whole (first) frame with Pillow; `ValidationFailed` when Pillow cannot, when it sees another
    format than the magic bytes said, when the decoded size differs from the header's, or (PNG) when the image
    data inflates to more or fewer bytes than the header's dimensions need. Pillow's bomb ceiling is
    `max_pixels` (the header's own size when not given)."""
    from PIL import Image

    # The bomb warning is raised as an error here (see _pillow_limits).
    refusals: tuple[type[BaseException], ...] = (*_decode_errors(), Image.DecompressionBombWarning)
    expected_format = _PILLOW_FORMATS.get(header.content_type)
    if expected_format is None:
        raise corrupt_image()
    try:
        ceiling = max(header.pixels, 1) if max_pixels is None else max(header.pixels, max_pixels)
        with _pillow_limits(ceiling), Image.open(BytesIO(data), formats=[expected_format]) as image:
            if image.format != expected_format or image.size != (header.width, header.height):
                raise corrupt_image()
            image.load()
            if image.size != (header.width, header.height):
                raise corrupt_image()
    except refusals as exc:
        raise corrupt_image() from exc
    # Pillow fills the missing rows with zeros when a PNG's deflate stream ends early but cleanly, so the
    # amount of image data is checked here; the stream is inflated in blocks and never held whole.
    if header.content_type == PNG and not _png_data_fits(data):
        raise corrupt_image()


def _png_raw_size(width: int, height: int, depth: int, colour: int, interlaced: bool) -> int:
    """Bytes the IDAT stream must inflate to: every (sub-)image row is a filter byte plus its packed pixels."""
    bits = _PNG_CHANNELS[colour] * depth
    if not interlaced:
        return height * (1 + (width * bits + 7) // 8)
    total = 0
    for x0, y0, dx, dy in _ADAM7:
        pass_width, pass_height = (width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy
        if pass_width > 0 and pass_height > 0:
            total += pass_height * (1 + (pass_width * bits + 7) // 8)
    return total


def _png_data_fits(data: bytes) -> bool:
    """True when the IDAT chunks inflate to exactly the image's size (not less, not more)."""
    try:
        width, height, depth, colour, _compression, _filter, interlace = struct.unpack_from(">IIBBBBB", data, 16)
        expected = _png_raw_size(width, height, depth, colour, bool(interlace))
        inflater, produced, pos, view = zlib.decompressobj(), 0, 8, memoryview(data)
        while pos + 8 <= len(data):
            length, chunk_type = struct.unpack_from(">I4s", data, pos)
            if chunk_type == b"IEND":
                break
            if chunk_type == b"IDAT":
                pending: bytes | memoryview = view[pos + 8:pos + 8 + length]
                while pending and produced <= expected:
                    produced += len(inflater.decompress(pending, _INFLATE_BLOCK))
                    pending = inflater.unconsumed_tail
                if produced > expected:
                    return False
            pos += 12 + length
        return produced + len(inflater.flush()) == expected
    except (struct.error, KeyError, zlib.error):
        return False


def check_image(data: bytes, *, max_pixels: int) -> ImageHeader:
    """Everything an upload must pass before it is stored or charged: the header checks, then a full decode."""
    header = inspect_image(data, max_pixels=max_pixels)
    verify_decodes(data, header, max_pixels=max_pixels)
    return header
