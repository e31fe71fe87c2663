"""Header-level image checks (docs/architecture.md §6): type by magic bytes, size, dimensions, bombs, truncation.

The files are real: encoded by Pillow in the test, then cut or patched byte by byte. Only the test builds
them with Pillow; the module under test never decodes anything.
"""

from __future__ import annotations

import random
import struct
import subprocess
import sys
import zlib

import pytest
from PIL import Image

from enhancer.domain.errors import ValidationFailed
from enhancer.domain.image_checks import MAX_IMAGE_BYTES, ImageHeader, inspect_image, sniff_type
from enhancer.http.envelope import http_status
from local.samples import encoded, noise_image

MAX_PIXELS = 12_000_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --- building real files ---------------------------------------------------------------------------------


def _exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Camera"
    return exif


def _png(width: int = 40, height: int = 30, mode: str = "RGB") -> bytes:
    return encoded(noise_image(width, height, mode), "PNG")


def _jpeg(width: int = 40, height: int = 30, **params: object) -> bytes:
    return encoded(noise_image(width, height), "JPEG", **params)


def _webp(width: int = 40, height: int = 30, mode: str = "RGB", **params: object) -> bytes:
    return encoded(noise_image(width, height, mode), "WEBP", **params)


def _chunk(chunk_type: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + chunk_type + body + struct.pack(">I", zlib.crc32(chunk_type + body))


def _ihdr(width: int, height: int, depth: int = 8, colour: int = 2) -> bytes:
    return _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, body) of every chunk of a well-formed PNG."""
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        chunks.append((data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]))
        pos += 12 + length
    return chunks


def _png_from(chunks: list[tuple[bytes, bytes]]) -> bytes:
    return PNG_SIGNATURE + b"".join(_chunk(chunk_type, body) for chunk_type, body in chunks)


def _offset_of(data: bytes, chunk_type: bytes) -> int:
    """Offset of a PNG chunk's length field."""
    return data.index(chunk_type) - 4


def _jpeg_segments(data: bytes) -> tuple[list[bytes], bytes]:
    """The marker segments between SOI and SOS (each with its FF xx and length), and the rest from SOS on."""
    segments, pos = [], 2
    while data[pos + 1] != 0xDA:
        (length,) = struct.unpack_from(">H", data, pos + 2)
        segments.append(data[pos:pos + 2 + length])
        pos += 2 + length
    return segments, data[pos:]


def _refusal(data: bytes, max_pixels: int = MAX_PIXELS) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        inspect_image(data, max_pixels=max_pixels)
    error = caught.value
    assert http_status(error) == 400
    assert error.details is not None and error.details["field"] == "image"
    return error


def _assert_corrupt(data: bytes) -> None:
    error = _refusal(data)
    assert error.message == "The image file is truncated or corrupt"
    assert error.details is not None and error.details["reason"] == "corrupt"


# --- valid images ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("data, content_type, extension, size", [
    (_png(40, 30), "image/png", "png", (40, 30)),
    (_png(1, 1, "L"), "image/png", "png", (1, 1)),
    (_png(33, 17, "RGBA"), "image/png", "png", (33, 17)),
    (encoded(noise_image(9, 7).convert("P"), "PNG"), "image/png", "png", (9, 7)),
    (encoded(noise_image(70, 50), "PNG", optimize=True), "image/png", "png", (70, 50)),
    (_jpeg(40, 30), "image/jpeg", "jpg", (40, 30)),
    (_jpeg(41, 29, progressive=True), "image/jpeg", "jpg", (41, 29)),
    (encoded(noise_image(23, 19).convert("L"), "JPEG"), "image/jpeg", "jpg", (23, 19)),
    (encoded(noise_image(23, 19).convert("CMYK"), "JPEG"), "image/jpeg", "jpg", (23, 19)),
    (_jpeg(40, 30, exif=_exif(), icc_profile=b"\0" * 70_000),
     "image/jpeg", "jpg", (40, 30)),
    (_webp(40, 30), "image/webp", "webp", (40, 30)),
    (_webp(37, 21, lossless=True), "image/webp", "webp", (37, 21)),
    (_webp(37, 21, "RGBA"), "image/webp", "webp", (37, 21)),
    (_webp(16383, 1, lossless=True), "image/webp", "webp", (16383, 1)),
])
def test_valid_images_give_type_extension_and_dimensions(data: bytes, content_type: str, extension: str,
                                                         size: tuple[int, int]) -> None:
    header = inspect_image(data, max_pixels=MAX_PIXELS)

    assert header == ImageHeader(content_type=content_type, width=size[0], height=size[1], extension=extension)
    assert header.pixels == size[0] * size[1]
    assert sniff_type(data) == content_type


def test_the_webp_variants_really_use_the_three_layouts() -> None:
    assert _webp()[12:16] == b"VP8 "
    assert _webp(lossless=True)[12:16] == b"VP8L"
    assert _webp(mode="RGBA")[12:16] == b"VP8X"
    assert b"ALPH" in _webp(mode="RGBA")


def test_jpeg_fill_bytes_standalone_markers_and_tables_before_the_frame_are_skipped() -> None:
    segments, rest = _jpeg_segments(_jpeg(40, 30))
    frame = next(s for s in segments if s[1] == 0xC0)
    tables = [s for s in segments if s[1] == 0xC4]
    others = [s for s in segments if s[1] not in (0xC0, 0xC4)]
    assert tables, "libjpeg writes Huffman tables (C4), which share the SOF range and must be skipped"
    # Huffman tables first, a TEM and an RST marker, and fill bytes in front of the frame header.
    data = (b"\xff\xd8" + b"".join(others) + b"".join(tables) + b"\xff\x01\xff\xd3"
            + b"\xff\xff\xff" + frame + rest)

    assert inspect_image(data, max_pixels=MAX_PIXELS).width == 40
    assert inspect_image(data, max_pixels=MAX_PIXELS).height == 30


def test_trailing_zero_padding_is_tolerated_but_not_other_trailing_bytes() -> None:
    png, jpeg = _png(), _jpeg()

    assert inspect_image(png + b"\0" * 100, max_pixels=MAX_PIXELS).content_type == "image/png"
    assert inspect_image(jpeg + b"\0" * 100, max_pixels=MAX_PIXELS).content_type == "image/jpeg"
    _assert_corrupt(png + b"trailing data")


def test_a_jpeg_may_carry_data_after_its_end_like_a_motion_photo() -> None:
    jpeg = _jpeg()
    motion_photo = jpeg + b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4

    assert inspect_image(motion_photo, max_pixels=MAX_PIXELS).content_type == "image/jpeg"
    _assert_corrupt(jpeg[: jpeg.rindex(b"\xff\xd9")] + b"trailing data")  # no end marker at all


def _webp_with_pad_byte() -> bytes:
    """A lossless WebP whose only chunk has an odd size, so the file ends with a RIFF pad byte."""
    for width in range(10, 60):
        data = _webp(width, 9, lossless=True)
        if struct.unpack_from("<I", data, 16)[0] % 2:
            return data
    raise AssertionError("no odd-sized VP8L chunk found")


def test_the_riff_size_must_match_the_data_up_to_one_pad_byte() -> None:
    data = _webp_with_pad_byte()
    (riff_size,) = struct.unpack_from("<I", data, 4)
    assert riff_size + 8 == len(data) and data[-1] == 0
    without_pad = data[:-1]

    assert inspect_image(data, max_pixels=MAX_PIXELS).content_type == "image/webp"
    assert inspect_image(data + b"\0", max_pixels=MAX_PIXELS).content_type == "image/webp"
    assert inspect_image(without_pad, max_pixels=MAX_PIXELS).content_type == "image/webp"
    assert inspect_image(without_pad[:4] + struct.pack("<I", riff_size - 1) + without_pad[8:],
                         max_pixels=MAX_PIXELS).content_type == "image/webp"
    _assert_corrupt(data + b"\0\0")
    _assert_corrupt(data[:-2])
    _assert_corrupt(data[:4] + struct.pack("<I", riff_size + 2) + data[8:])
    _assert_corrupt(data[:4] + struct.pack("<I", riff_size - 2) + data[8:])  # the chunk runs past the RIFF


# --- type ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [
    b"hello world",
    b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,",
    b"BM" + b"\0" * 60,
    b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
    b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00",
    b"RIFF\x24\x00\x00\x00WAVEfmt ",
    b"RIFF\x04\x00\x00\x00WEB",  # 11 bytes: too short to hold the WEBP tag
    b"\xff\xd8",  # two of the three JPEG magic bytes
    b"\x89PNG\r\n\x1a",  # seven of the eight PNG signature bytes
    b"\x89PNG\r\n\x1a\x0b" + b"\0" * 40,
])
def test_anything_but_jpeg_png_webp_is_not_an_image(data: bytes) -> None:
    error = _refusal(data)

    assert error.message == "The file is not a JPEG, PNG or WebP image"
    assert error.details is not None and error.details["reason"] == "unsupported_type"
    assert sniff_type(data) is None


def test_the_type_comes_from_the_bytes_whatever_the_name_says() -> None:
    # A GIF, even one Pillow writes, is refused; a PNG is a PNG whatever it was called when uploaded.
    assert sniff_type(encoded(noise_image(4, 4).convert("P"), "GIF")) is None
    assert sniff_type(_png()) == "image/png"
    assert sniff_type(_jpeg()) == "image/jpeg"
    assert sniff_type(_webp()) == "image/webp"


def test_empty_input() -> None:
    error = _refusal(b"")

    assert error.message == "The image is empty"
    assert sniff_type(b"") is None


# --- size ------------------------------------------------------------------------------------------------


def _png_of_exact_size(total: int) -> bytes:
    """A valid PNG padded to exactly `total` bytes with an ancillary tEXt chunk before IEND."""
    base = _png(16, 16)
    iend = _offset_of(base, b"IEND")
    filler = total - len(base) - 12  # the new chunk's length, type and CRC
    text = _chunk(b"tEXt", b"Comment\0" + b"x" * (filler - len(b"Comment\0")))
    return base[:iend] + text + base[iend:]


def test_exactly_ten_mebibytes_passes_and_one_byte_more_is_refused() -> None:
    exact = _png_of_exact_size(MAX_IMAGE_BYTES)
    over = _png_of_exact_size(MAX_IMAGE_BYTES + 1)
    assert MAX_IMAGE_BYTES == 10 * 1024 * 1024
    assert (len(exact), len(over)) == (MAX_IMAGE_BYTES, MAX_IMAGE_BYTES + 1)

    assert inspect_image(exact, max_pixels=MAX_PIXELS) == ImageHeader("image/png", 16, 16, "png")
    error = _refusal(over)
    assert error.message == "The image is larger than 10 MB"
    assert error.details is not None and error.details["reason"] == "file_too_large"


def test_size_is_checked_before_the_type() -> None:
    error = _refusal(b"x" * (MAX_IMAGE_BYTES + 1))

    assert error.details is not None and error.details["reason"] == "file_too_large"


# --- dimensions and decompression bombs ------------------------------------------------------------------


def test_png_bomb_is_refused_by_pixel_count_from_the_header_alone() -> None:
    # A 100000×100000 RGB image would be 30 GB of pixels; this file is 70 bytes and its "pixel data" is not
    # even valid zlib, so only a decision made from the header can explain the answer.
    bomb = PNG_SIGNATURE + _ihdr(100_000, 100_000) + _chunk(b"IDAT", b"not zlib") + _chunk(b"IEND", b"")
    assert len(bomb) < 100

    error = _refusal(bomb)

    assert error.message == "The image is too large: 100000×100000 pixels (at most 12,000,000)"
    assert error.details == {"field": "image", "reason": "too_many_pixels", "width": 100_000,
                             "height": 100_000, "max_pixels": MAX_PIXELS}


def test_a_bare_bomb_header_is_refused_for_its_size_before_its_missing_structure() -> None:
    error = _refusal(PNG_SIGNATURE + _ihdr(100_000, 100_000))

    assert error.details is not None and error.details["reason"] == "too_many_pixels"


def test_jpeg_and_webp_bombs_are_refused_from_the_header() -> None:
    segments, _rest = _jpeg_segments(_jpeg())
    frame = next(s for s in segments if s[1] == 0xC0)
    huge_frame = frame[:5] + struct.pack(">HH", 65_000, 65_000) + frame[9:]
    jpeg_bomb = b"\xff\xd8" + huge_frame + b"\xff\xd9"

    webp = _webp(mode="RGBA")
    webp_bomb = webp[:24] + (16_383).to_bytes(3, "little") + (16_383).to_bytes(3, "little") + webp[30:]

    lossless = _webp(lossless=True)
    bits = 16_383 | 16_383 << 14
    lossless_bomb = lossless[:21] + struct.pack("<I", bits) + lossless[25:]

    for bomb, size in ((jpeg_bomb, (65_000, 65_000)), (webp_bomb, (16_384, 16_384)),
                       (lossless_bomb, (16_384, 16_384))):
        error = _refusal(bomb)
        assert error.details is not None
        assert (error.details["reason"], error.details["width"], error.details["height"]) == (
            "too_many_pixels", *size)


def test_the_pixel_ceiling_is_inclusive() -> None:
    data = _png(37, 21)

    assert inspect_image(data, max_pixels=37 * 21).pixels == 777
    assert _refusal(data, max_pixels=37 * 21 - 1).details["reason"] == "too_many_pixels"  # type: ignore[index]


@pytest.mark.parametrize("width, height", [(0, 10), (10, 0), (0, 0)])
def test_a_zero_dimension_is_refused(width: int, height: int) -> None:
    png = _png(10, 10)
    zero_png = png[:8] + _ihdr(width, height) + png[33:]

    segments, rest = _jpeg_segments(_jpeg(10, 10))
    zero_jpeg = b"\xff\xd8" + b"".join(
        s[:5] + struct.pack(">HH", height, width) + s[9:] if s[1] == 0xC0 else s for s in segments) + rest

    for data in (zero_png, zero_jpeg):
        error = _refusal(data)
        assert error.message == "The image has no width or height"


# --- truncated and corrupt -------------------------------------------------------------------------------


def test_png_cut_in_the_middle_of_the_image_data_is_refused() -> None:
    data = _png(64, 64)
    idat = _offset_of(data, b"IDAT")
    (length,) = struct.unpack_from(">I", data, idat)
    assert length > 1000

    _assert_corrupt(data[:idat + 8 + length // 2])


def test_png_cut_just_before_iend_is_refused() -> None:
    data = _png(64, 64)
    assert data[-12:] == _chunk(b"IEND", b"")

    _assert_corrupt(data[:-12])
    _assert_corrupt(data[:-1])  # IEND without the last byte of its CRC


def test_png_structure_rules() -> None:
    data = _png(20, 20)
    chunks = _png_chunks(data)
    assert [t for t, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    ihdr, idat, iend = chunks

    assert inspect_image(_png_from([ihdr, idat, (b"tEXt", b"k\0v"), iend]), max_pixels=MAX_PIXELS).width == 20
    _assert_corrupt(_png_from([ihdr, iend]))  # no image data
    _assert_corrupt(_png_from([(b"tEXt", b"k\0v"), ihdr, idat, iend]))  # IHDR not first
    _assert_corrupt(_png_from([ihdr, idat, iend, idat, iend]))  # chunks after IEND
    _assert_corrupt(_png_from([ihdr, idat, (b"IEND", b"x")]))  # IEND with a body
    _assert_corrupt(_png_from([ihdr, idat, (b"t3Xt", b""), iend]))  # chunk type not letters


def test_png_crcs_of_critical_chunks_are_checked_but_not_ancillary_ones() -> None:
    data = _png(20, 20)
    idat = _offset_of(data, b"IDAT")
    (length,) = struct.unpack_from(">I", data, idat)
    flipped = bytearray(data)
    flipped[idat + 8 + length // 2] ^= 0x01  # one bit of the compressed pixels
    _assert_corrupt(bytes(flipped))

    ihdr_broken = bytearray(data)
    ihdr_broken[32] ^= 0xFF
    _assert_corrupt(bytes(ihdr_broken))

    iend = _offset_of(data, b"IEND")
    text = bytearray(_chunk(b"tEXt", b"k\0v"))
    text[-1] ^= 0xFF
    assert inspect_image(data[:iend] + bytes(text) + data[iend:], max_pixels=MAX_PIXELS).height == 20


def test_the_ihdr_crc_is_checked_before_its_dimensions_are_trusted() -> None:
    bomb_ihdr = bytearray(_ihdr(100_000, 100_000))
    bomb_ihdr[-1] ^= 0x01

    _assert_corrupt(PNG_SIGNATURE + bytes(bomb_ihdr) + _chunk(b"IDAT", b"x") + _chunk(b"IEND", b""))


def test_png_and_webp_chunk_walks_are_bounded() -> None:
    chunks = _png_chunks(_png(8, 8))
    many_idat = [chunks[0], *[(b"IDAT", b"")] * 60_000, chunks[1], chunks[2]]
    too_many = [chunks[0], *[(b"IDAT", b"")] * 70_000, chunks[1], chunks[2]]
    assert inspect_image(_png_from(many_idat), max_pixels=MAX_PIXELS).width == 8
    _assert_corrupt(_png_from(too_many))

    lossy = _webp(8, 8)
    body = lossy[12:] + b"XTRA\0\0\0\0" * 70_000
    _assert_corrupt(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body)
    body = lossy[12:] + b"XTRA\0\0\0\0" * 60_000
    assert inspect_image(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body,
                         max_pixels=MAX_PIXELS).width == 8


@pytest.mark.parametrize("depth, colour", [(16, 3), (4, 2), (8, 5), (3, 0), (0, 0)])
def test_png_illegal_depth_and_colour_combinations_are_refused(depth: int, colour: int) -> None:
    data = _png(8, 8)

    _assert_corrupt(data[:8] + _ihdr(8, 8, depth, colour) + data[33:])


def test_png_malformed_lengths() -> None:
    data = _png(20, 20)
    idat = _offset_of(data, b"IDAT")

    _assert_corrupt(data[:8] + struct.pack(">I", 0xFFFFFFFF) + data[12:])  # IHDR length
    _assert_corrupt(data[:8] + struct.pack(">I", 12) + data[12:])
    for huge in (0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, len(data)):
        _assert_corrupt(data[:idat] + struct.pack(">I", huge) + data[idat + 4:])
    _assert_corrupt(data[:8] + _ihdr(2**31, 1) + data[33:])  # dimensions above 2^31-1


def test_jpeg_without_eoi_is_refused() -> None:
    data = _jpeg(64, 64)
    assert data.endswith(b"\xff\xd9")

    _assert_corrupt(data[:-2])
    _assert_corrupt(data[:-1])
    _assert_corrupt(data[:len(data) // 2])
    _assert_corrupt(data[:-2] + b"\0\0")


def test_jpeg_malformed_segments() -> None:
    segments, rest = _jpeg_segments(_jpeg())
    app0 = segments[0]
    assert app0[:2] == b"\xff\xe0"

    def with_first(segment: bytes) -> bytes:
        return b"\xff\xd8" + segment + b"".join(segments[1:]) + rest

    for length in (0, 1, 0xFFFF):
        _assert_corrupt(with_first(app0[:2] + struct.pack(">H", length) + app0[4:]))
    _assert_corrupt(with_first(app0 + b"garbage"))  # no marker where one must be
    _assert_corrupt(with_first(b"\xff\x00" + app0))  # a stuffed zero is not a marker
    _assert_corrupt(b"\xff\xd8\xff\xda\x00\x08" + b"\0" * 6 + b"\xff\xd9")  # scan before any frame header
    _assert_corrupt(b"\xff\xd8\xff\xd9")  # SOI then EOI
    _assert_corrupt(b"\xff\xd8" + b"\xff" * 100)  # fill bytes and nothing else
    frame = next(s for s in segments if s[1] == 0xC0)
    _assert_corrupt(b"\xff\xd8" + frame[:9] + b"\0" + frame[10:] + rest)  # zero components
    _assert_corrupt(b"\xff\xd8" + frame[:3] + bytes([frame[3] + 1]) + frame[4:] + b"\0" + rest)  # bad length


def test_jpeg_with_endless_standalone_markers_is_refused_quickly() -> None:
    # Thousands of RST markers and no frame header: the marker walk is bounded.
    _assert_corrupt(b"\xff\xd8" + b"\xff\xd0" * 100_000 + _jpeg()[2:])


def test_webp_truncation_and_malformed_chunks() -> None:
    data = _webp(64, 64)
    _assert_corrupt(data[:-10])
    _assert_corrupt(data[:len(data) // 2])

    extended = _webp(40, 30, "RGBA")
    for huge in (0xFFFFFFFF, 0x7FFFFFFF, len(extended)):
        _assert_corrupt(extended[:16] + struct.pack("<I", huge) + extended[20:])  # VP8X chunk size
        alph = extended.index(b"ALPH")
        _assert_corrupt(extended[:alph + 4] + struct.pack("<I", huge) + extended[alph + 8:])

    # An extended file whose only chunk is the VP8X header carries no image.
    vp8x = extended[12:30]
    _assert_corrupt(b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x)


def test_vp8_dimensions_ignore_the_two_scaling_bits() -> None:
    lossy = _webp(40, 30)
    width, height = struct.unpack_from("<HH", lossy, 26)
    scaled = lossy[:26] + struct.pack("<HH", width | 0x4000, height | 0xC000) + lossy[30:]

    header = inspect_image(scaled, max_pixels=MAX_PIXELS)

    assert (header.width, header.height) == (40, 30)


def test_webp_bitstream_headers_are_validated() -> None:
    lossy, lossless = _webp(), _webp(lossless=True)

    _assert_corrupt(lossy[:23] + b"\x9d\x01\x2b" + lossy[26:])  # start code
    _assert_corrupt(lossy[:20] + bytes([lossy[20] | 1]) + lossy[21:])  # interframe, not a key frame
    _assert_corrupt(lossless[:20] + b"\x2e" + lossless[21:])  # VP8L signature
    _assert_corrupt(lossless[:24] + bytes([lossless[24] | 0x20]) + lossless[25:])  # VP8L version
    _assert_corrupt(lossy[:12] + b"ALPH" + lossy[16:])  # unknown first chunk
    _assert_corrupt(lossy[:16] + struct.pack("<I", 4) + lossy[20:])  # VP8 chunk too small for a header


# --- robustness ------------------------------------------------------------------------------------------

SAMPLES = {"png": _png(12, 9), "jpeg": _jpeg(12, 9), "webp": _webp(12, 9), "webp-lossless": _webp(12, 9, lossless=True),
           "webp-alpha": _webp(12, 9, "RGBA")}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_prefix_is_refused_cleanly_and_only_the_whole_file_passes(name: str) -> None:
    data = SAMPLES[name]
    full = inspect_image(data, max_pixels=MAX_PIXELS)
    assert (full.width, full.height) == (12, 9)

    for cut in range(len(data)):
        outcome = _outcome(data[:cut])
        if isinstance(outcome, ImageHeader):  # only a WebP's final RIFF pad byte may be missing
            assert (name.startswith("webp"), cut, data[-1], outcome) == (True, len(data) - 1, 0, full)
        else:
            assert outcome.details is not None and outcome.details["field"] == "image"


MAGICS = [PNG_SIGNATURE, PNG_SIGNATURE + b"\0\0\0\x0dIHDR", b"\xff\xd8\xff", b"\xff\xd8\xff\xe0",
          b"RIFF\0\0\0\0WEBP", b"RIFF\0\0\0\0WEBPVP8 ", b"RIFF\0\0\0\0WEBPVP8L", b"RIFF\0\0\0\0WEBPVP8X"]


def _outcome(data: bytes) -> ImageHeader | ValidationFailed:
    try:
        return inspect_image(data, max_pixels=MAX_PIXELS)
    except ValidationFailed as error:
        return error


def test_random_bytes_after_a_valid_magic_only_ever_raise_validation_failed() -> None:
    rng = random.Random(20240611)
    outcomes = []
    for case in range(600):
        magic = MAGICS[case % len(MAGICS)]
        tail = rng.randbytes(rng.randrange(0, 300))
        outcomes.append(_outcome(magic + tail))

    assert all(isinstance(o, ImageHeader | ValidationFailed) for o in outcomes)
    assert all(o.details is not None and o.details["field"] == "image" for o in outcomes
               if isinstance(o, ValidationFailed))


def test_random_mutations_of_valid_files_only_ever_raise_validation_failed() -> None:
    rng = random.Random(7)
    accepted = 0
    for case in range(900):
        data = bytearray(list(SAMPLES.values())[case % len(SAMPLES)])
        for _ in range(rng.randrange(1, 4)):
            position = rng.randrange(len(data))
            if rng.random() < 0.5:
                data[position] = rng.randrange(256)
            else:  # lengths and sizes are the interesting targets: write a random 32-bit value
                data[position:position + 4] = rng.randbytes(4)
        outcome = _outcome(bytes(data))
        if isinstance(outcome, ImageHeader):
            accepted += 1
            assert 0 < outcome.pixels <= MAX_PIXELS
    # Mutations inside pixel data go unnoticed here (that is the decode step's job), so some pass.
    assert 0 < accepted < 900


def test_the_module_is_pure() -> None:
    code = ("import sys, enhancer.domain.image_checks; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PIL', 'boto3', 'fastapi')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "[]"
