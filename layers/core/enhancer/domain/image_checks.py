"""What an uploaded image must be before anything is stored or charged (docs/architecture.md §6, original API §6.1).

Pure: the bytes alone decide. The type comes from the magic bytes (the client's declared type is never
trusted), the dimensions from the format's header, so a decompression bomb is refused before anything is
decoded, and the file's structure is walked (chunk lengths, CRCs of critical PNG chunks, the JPEG end
marker, the RIFF size) to refuse truncated files early. Decoding the pixels is `enhancer.adapters.imaging`.

Every parser reads through bounds-checked helpers, so malformed input only ever raises `ValidationFailed`.
"""

from __future__ import annotations

import re
import struct
import zlib
from typing import Any

from enhancer.domain.errors import ValidationFailed
from enhancer.domain.values import value_class

MAX_IMAGE_BYTES = 10 * 1024 * 1024

JPEG = "image/jpeg"
PNG = "image/png"
WEBP = "image/webp"
EXTENSIONS = {JPEG: "jpg", PNG: "png", WEBP: "webp"}

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAX_LENGTH = 2**31 - 1  # chunk lengths and dimensions are at most 2^31-1 (PNG spec §7.1, §11.2.2)
_PNG_BIT_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
# SOF0–SOF15 except DHT (C4), JPG (C8) and DAC (CC), which share the range.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM and RST0–RST7 carry no length
_JPEG_MAX_MARKERS = 4096  # segments before the frame header; real files have a few dozen
_NOT_FF = rb"[^\xff]"  # compiled on first use (re caches it), not at import
# PNG and WebP chunks walked at most: libpng writes 8 KiB IDATs (~1,300 for 10 MiB), while 10 MiB of empty
# chunks would be ~870,000 loop passes for nothing.
_MAX_CHUNKS = 65_536

_CORRUPT = "The image file is truncated or corrupt"


@value_class
class ImageHeader:
    content_type: str
    width: int
    height: int
    extension: str

    @property
    def pixels(self) -> int:
        return self.width * self.height


def _refuse(message: str, reason: str, **extra: Any) -> ValidationFailed:
    return ValidationFailed(message, details={"field": "image", "reason": reason, **extra})


def corrupt_image() -> ValidationFailed:
    """The one refusal of a file that is cut short or damaged, whoever finds it (these checks, or a decoder)."""
    return _refuse(_CORRUPT, "corrupt")


def _unpack(fmt: str, data: bytes, offset: int) -> tuple[Any, ...]:
    """`struct.unpack_from` that refuses the image instead of raising when the buffer is too short."""
    if offset < 0 or offset + struct.calcsize(fmt) > len(data):
        raise corrupt_image()
    return struct.unpack_from(fmt, data, offset)


def sniff_type(data: bytes) -> str | None:
    """The content type the magic bytes announce (JPEG, PNG or WebP), or None."""
    if data[:3] == _JPEG_MAGIC:
        return JPEG
    if data[:8] == _PNG_SIGNATURE:
        return PNG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    return None


def inspect_image(data: bytes, *, max_pixels: int) -> ImageHeader:
    """Type, extension and dimensions of an upload, or `ValidationFailed` (400) saying why it is refused.

    In order: empty, over `MAX_IMAGE_BYTES`, not JPEG/PNG/WebP by magic bytes, unreadable header, a zero
    dimension, more than `max_pixels` pixels (decided from the header, before any decoding), and finally
    the structural checks that find truncated or corrupt files without decoding them.
    """
    if not data:
        raise _refuse("The image is empty", "empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise _refuse("The image is larger than 10 MB", "file_too_large", max_bytes=MAX_IMAGE_BYTES)
    content_type = sniff_type(data)
    if content_type is None:
        raise _refuse("The file is not a JPEG, PNG or WebP image", "unsupported_type")

    if content_type == PNG:
        width, height = _png_dimensions(data)
    elif content_type == JPEG:
        width, height = _jpeg_dimensions(data)
    else:
        width, height = _webp_dimensions(data)

    if width <= 0 or height <= 0:
        raise _refuse("The image has no width or height", "empty_dimensions", width=width, height=height)
    if width * height > max_pixels:
        raise _refuse(f"The image is too large: {width}×{height} pixels (at most {max_pixels:,})",
                      "too_many_pixels", width=width, height=height, max_pixels=max_pixels)

    if content_type == PNG:
        _check_png_structure(data)
    elif content_type == JPEG:
        _check_jpeg_structure(data)
    else:
        _check_webp_structure(data)
    return ImageHeader(content_type=content_type, width=width, height=height, extension=EXTENSIONS[content_type])


def _only_padding(data: bytes, start: int) -> bool:
    """True when everything from `start` on is zero bytes (some writers pad files)."""
    return data.count(b"\x00", start) == len(data) - start


# --- PNG -------------------------------------------------------------------------------------------------


def _png_dimensions(data: bytes) -> tuple[int, int]:
    """IHDR must be the first chunk, 13 bytes long, with a valid CRC and a legal depth/colour combination."""
    length, chunk_type = _unpack(">I4s", data, 8)
    if chunk_type != b"IHDR" or length != 13:
        raise corrupt_image()
    width, height, depth, colour, compression, filter_method, interlace = _unpack(">IIBBBBB", data, 16)
    (crc,) = _unpack(">I", data, 29)
    if zlib.crc32(data[12:29]) != crc:
        raise corrupt_image()
    if width > _PNG_MAX_LENGTH or height > _PNG_MAX_LENGTH:
        raise corrupt_image()
    if depth not in _PNG_BIT_DEPTHS.get(colour, ()) or compression or filter_method or interlace > 1:
        raise corrupt_image()
    return width, height


def _check_png_structure(data: bytes) -> None:
    """Walk every chunk by its length: none may run past the end, critical chunks' CRCs must match, there
    must be image data, and the file must end with IEND (zero padding after it is tolerated)."""
    view = memoryview(data)
    pos, seen_idat = 8, False
    for _ in range(_MAX_CHUNKS):
        length, chunk_type = _unpack(">I4s", data, pos)
        if length > _PNG_MAX_LENGTH or not chunk_type.isalpha():
            raise corrupt_image()
        data_end = pos + 8 + length
        (crc,) = _unpack(">I", data, data_end)
        critical = not chunk_type[0] & 0x20
        if critical and zlib.crc32(view[pos + 4:data_end]) != crc:
            raise corrupt_image()
        if chunk_type == b"IDAT":
            seen_idat = True
        elif chunk_type == b"IEND":
            if not seen_idat or length or not _only_padding(data, data_end + 4):
                raise corrupt_image()
            return
        pos = data_end + 4
    raise corrupt_image()


# --- JPEG ------------------------------------------------------------------------------------------------


def _jpeg_dimensions(data: bytes) -> tuple[int, int]:
    """Walk the marker segments after SOI to the first frame header (SOF0–SOF15 but C4/C8/CC)."""
    pos, end = 2, len(data)
    for _ in range(_JPEG_MAX_MARKERS):
        if pos >= end or data[pos] != 0xFF:
            raise corrupt_image()
        found = re.compile(_NOT_FF).search(data, pos)  # any number of 0xFF fill bytes may precede a marker
        if found is None:
            raise corrupt_image()
        pos = found.start()
        marker = data[pos]
        pos += 1
        if marker in _JPEG_STANDALONE:
            continue
        if marker in (0x00, 0xD8, 0xD9, 0xDA):  # stuffing, a second SOI, EOI or a scan before any frame
            raise corrupt_image()
        (length,) = _unpack(">H", data, pos)
        if length < 2 or pos + length > end:
            raise corrupt_image()
        if marker in _JPEG_SOF:
            _precision, height, width, components = _unpack(">BHHB", data, pos + 2)
            if components == 0 or length != 8 + 3 * components:
                raise corrupt_image()
            return width, height
        pos += length
    raise corrupt_image()


def _check_jpeg_structure(data: bytes) -> None:
    """The image data (from the first scan on) must be closed by an EOI (FF D9). Data may follow it: phones
    append a video to "motion photos", and such photos are fine to enhance."""
    scan = data.find(b"\xff\xda")
    if scan < 0 or data.find(b"\xff\xd9", scan) < 0:
        raise corrupt_image()


# --- WebP ------------------------------------------------------------------------------------------------


def _webp_dimensions(data: bytes) -> tuple[int, int]:
    """Dimensions from the first chunk: `VP8 ` (lossy), `VP8L` (lossless) or `VP8X` (extended canvas)."""
    fourcc, size = _unpack("<4sI", data, 12)
    payload = 20
    if fourcc == b"VP8 ":
        if size < 10:
            raise corrupt_image()
        tag0, tag1, tag2, start_code, width, height = _unpack("<BBB3sHH", data, payload)
        frame_tag = tag0 | tag1 << 8 | tag2 << 16
        # bit 0: 0 for a key frame; bits 1-3: version (0-3); bit 4: shown frame
        if frame_tag & 1 or (frame_tag >> 1) & 7 > 3 or not frame_tag >> 4 & 1 or start_code != b"\x9d\x01\x2a":
            raise corrupt_image()
        return width & 0x3FFF, height & 0x3FFF
    if fourcc == b"VP8L":
        if size < 5:
            raise corrupt_image()
        signature, bits = _unpack("<BI", data, payload)
        if signature != 0x2F or bits >> 29:  # version bits must be 0
            raise corrupt_image()
        return (bits & 0x3FFF) + 1, (bits >> 14 & 0x3FFF) + 1
    if fourcc == b"VP8X":
        if size < 10:
            raise corrupt_image()
        _flags, _reserved, w0, w1, w2, h0, h1, h2 = _unpack("<B3sBBBBBB", data, payload)
        return (w0 | w1 << 8 | w2 << 16) + 1, (h0 | h1 << 8 | h2 << 16) + 1
    raise corrupt_image()


def _check_webp_structure(data: bytes) -> None:
    """The RIFF size must match the data (±1 pad byte), no chunk may run past it, and an extended file
    must carry image data."""
    (riff_size,) = _unpack("<I", data, 4)
    if abs(len(data) - (riff_size + 8)) > 1:
        raise corrupt_image()
    riff_end = min(len(data), riff_size + 8)
    pos, fourccs, chunks = 12, set(), 0
    while pos < riff_end:
        chunks += 1
        if chunks > _MAX_CHUNKS or pos + 8 > riff_end:
            raise corrupt_image()
        fourcc, size = _unpack("<4sI", data, pos)
        if pos + 8 + size > riff_end:  # the final pad byte alone may be missing
            raise corrupt_image()
        fourccs.add(fourcc)
        pos += 8 + size + (size & 1)
    if not fourccs & {b"VP8 ", b"VP8L", b"ANMF"}:
        raise corrupt_image()
