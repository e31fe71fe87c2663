"""Pillow behind the image checks (a full decode of every upload, docs/architecture.md §6) and the result's
encoding in the format the request chose (README "Output format").

Pillow is imported inside the functions so a handler importing this module does not pay for it at cold start.
`verify_decodes` changes Pillow's process-wide `MAX_IMAGE_PIXELS` and `LOAD_TRUNCATED_IMAGES` for the duration
of one decode and restores them. Lambda runs one request per process, but the local stack runs requests on
threads: a lock keeps the changes from interleaving (interleaved, a restore could leave another request's
limit in place for good), and the product passes the configured maximum, so the ceiling other decodes may
see meanwhile is never below it: an image that passed the header checks is never refused because of it.
"""

from __future__ import annotations

import itertools
import os
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from io import BytesIO
from typing import TYPE_CHECKING

from enhancer.domain.errors import ProviderFailed
from enhancer.domain.image_checks import JPEG, PNG, WEBP, ImageHeader, corrupt_image, inspect_image
from enhancer.domain.output_format import OutputFormat

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from PIL.Image import Image as PillowImage

_PILLOW_FORMATS = {JPEG: "JPEG", PNG: "PNG", WEBP: "WEBP"}
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # by colour type: grey, RGB, palette, grey+alpha, RGBA
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_INFLATE_BLOCK = 1 << 20
_pillow_globals = threading.RLock()
# The encoders' speed settings: the encode is inside every enhancement's time (`make bench`, local_engine).
# Measured on the engine's 1 Mpx output (×4 of 256², 2 x86_64 CPUs, unloaded): Pillow's PNG at level 3 ≈ 100 ms
# (300 ms at its default 6); WebP method 2 ≈ 29 ms against 72 ms at the default 4, for 2 % more bytes at the
# same quality (JPEG: 3 ms). 8-bit grey, RGB and RGBA PNGs take `_fast_png` instead: on a loaded machine 64 ms
# against Pillow's 150–220 ms at level 3, and 3 % fewer bytes (a flat graphic comes out larger, 41 KB
# against 18 KB for 1 Mpx, still small).
PNG_COMPRESS_LEVEL = 3  # the modes `_fast_png` does not write
WEBP_METHOD = 2
_FAST_PNG = {"L": 0, "RGB": 2, "RGBA": 6}  # mode → PNG colour type, 8 bits per channel
_PNG_BAND_ROWS = 64  # fewer rows than this per band are not worth a thread
# A model's output is decoded only to re-encode it: ×4 of the largest input the settings allow (50 Mpx) would be
# 800 Mpx, far beyond any output a model returns; this refuses a bomb, not a real result.
MAX_OUTPUT_PIXELS = 200_000_000
_WHITE = (255, 255, 255)


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


def _flattened(image: PillowImage) -> PillowImage:
    """RGB for JPEG: transparency composited onto white (black, what dropping alpha gives, looks broken)."""
    from PIL import Image

    if image.mode in ("RGB", "L"):
        return image
    if not _has_alpha(image):
        return image.convert("RGB")
    rgba = image.convert("RGBA")
    flat = Image.new("RGB", rgba.size, _WHITE)
    flat.paste(rgba, mask=rgba.getchannel("A"))
    return flat


def _has_alpha(image: PillowImage) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def _colour_ready(image: PillowImage, keep: frozenset[str]) -> PillowImage:
    """The image as it is when the encoder writes its mode, else RGB, or RGBA when it has transparency (CMYK
    from a print JPEG, 16-bit or float modes, YCbCr, …)."""
    if image.mode in keep and "transparency" not in image.info:
        return image
    return image.convert("RGBA" if _has_alpha(image) else "RGB")


_PNG_MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"})
_WEBP_MODES = frozenset({"RGB", "RGBA"})


@cache
def _encoders() -> ThreadPoolExecutor:
    from concurrent.futures import ThreadPoolExecutor  # only where a PNG is written, not at cold start

    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="png")


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _fast_png(image: PillowImage) -> bytes:
    """An 8-bit grey, RGB or RGBA PNG written on every CPU. Pillow's encoder filters row by row and deflates
    on one thread; here every row takes the Sub filter (each byte less the same channel of the pixel to its
    left, computed by Pillow in C for the whole image at once), and bands of rows are deflated in parallel
    with Z_RLE (zlib releases the GIL) and joined as pigz does: each band but the last ends on a sync flush,
    so the raw deflate streams concatenate into one, with one Adler-32 over the whole."""
    from PIL import Image, ImageChops

    width, height = image.size
    left = Image.new(image.mode, image.size)  # zeros: the first column keeps its bytes
    if width > 1:
        left.paste(image.crop((0, 0, width - 1, height)), (1, 0))
    filtered = memoryview(ImageChops.subtract_modulo(image, left).tobytes())
    stride = width * len(image.getbands())
    bands = max(1, min(os.cpu_count() or 1, height // _PNG_BAND_ROWS))
    rows = -(-height // bands)

    def deflate(band: int) -> tuple[bytes, bytes]:
        first, last = band * rows, min(height, (band + 1) * rows)
        data = b"".join(itertools.chain.from_iterable(
            (b"\x01", filtered[row * stride:(row + 1) * stride]) for row in range(first, last)))
        compressor = zlib.compressobj(1, zlib.DEFLATED, -15, 9, zlib.Z_RLE)
        return data, compressor.compress(data) + compressor.flush(zlib.Z_FINISH if last == height
                                                                   else zlib.Z_SYNC_FLUSH)

    parts = list(_encoders().map(deflate, range(bands))) if bands > 1 else [deflate(0)]
    adler = 1
    for data, _ in parts:
        adler = zlib.adler32(data, adler)
    stream = b"\x78\x01" + b"".join(deflated for _, deflated in parts) + struct.pack(">I", adler)
    header = struct.pack(">IIBBBBB", width, height, 8, _FAST_PNG[image.mode], 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", stream)
            + _png_chunk(b"IEND", b""))


def encode_image(image: PillowImage, output: OutputFormat) -> bytes:
    """A decoded image in the chosen format: PNG and WebP keep transparency, JPEG flattens it onto white."""
    buffer = BytesIO()
    if output.name == "png":
        image = _colour_ready(image, _PNG_MODES)
        if image.mode in _FAST_PNG and "transparency" not in image.info:
            return _fast_png(image)
        image.save(buffer, "PNG", compress_level=PNG_COMPRESS_LEVEL)
    elif output.name == "jpeg":
        image = _flattened(image)
        image.save(buffer, "JPEG", quality=output.quality, optimize=False)
    else:
        image = _colour_ready(image, _WEBP_MODES)
        image.save(buffer, "WEBP", quality=output.quality, method=WEBP_METHOD)
    return buffer.getvalue()


def convert_image(data: bytes, output: OutputFormat) -> bytes:
    """A model's output (or the echo provider's original) re-encoded in the chosen format: the first frame,
    turned as its EXIF orientation says (the new file carries no EXIF). ProviderFailed when it does not decode:
    the model returned something broken, not the caller."""
    from PIL import Image, ImageOps

    # The bomb warning is raised as an error inside _pillow_limits.
    refusals: tuple[type[BaseException], ...] = (*_decode_errors(), Image.DecompressionBombWarning)
    try:
        with _pillow_limits(MAX_OUTPUT_PIXELS), Image.open(BytesIO(data)) as opened:
            opened.load()
            image = ImageOps.exif_transpose(opened)
    except refusals as exc:
        raise ProviderFailed("The model returned an image that cannot be read") from exc
    return encode_image(image, output)
