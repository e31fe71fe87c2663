"""Pillow behind the image checks: uploads are fully decoded, and the PNG helpers (docs/architecture.md §6).

Files are built here with Pillow and zlib and then damaged on purpose; no binary fixtures. Among the
damaged files are some Pillow decodes without complaint; those tests assert what Pillow really does, so a
Pillow upgrade that changes it shows up here.
"""

from __future__ import annotations

import random
import struct
import subprocess
import sys
import zlib
from io import BytesIO

import pytest
from PIL import Image, ImageFile

from enhancer.adapters.imaging import check_image, verify_decodes
from enhancer.domain.errors import ValidationFailed
from enhancer.domain.image_checks import MAX_IMAGE_BYTES, ImageHeader, inspect_image
from enhancer.http.envelope import http_status
from local.samples import encoded, noise_image

MAX_PIXELS = 12_000_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CORRUPT = "The image file is truncated or corrupt"


def _chunk(chunk_type: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + chunk_type + body + struct.pack(">I", zlib.crc32(chunk_type + body))


def _raw_png(width: int, height: int, idat: bytes) -> bytes:
    """An 8-bit RGB PNG with exactly the given (compressed) image data, every chunk length and CRC right."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _scanlines(width: int, height: int, seed: int = 0) -> bytes:
    """Unfiltered RGB scanlines: a zero filter byte, then the row's pixels."""
    rng = random.Random(seed)
    return b"".join(b"\0" + rng.randbytes(width * 3) for _ in range(height))


def _refused_by_decode(data: bytes) -> ValidationFailed:
    """The header checks pass, the full decode refuses: the error says corrupt and keeps Pillow's as cause."""
    header = inspect_image(data, max_pixels=MAX_PIXELS)
    with pytest.raises(ValidationFailed) as caught:
        check_image(data, max_pixels=MAX_PIXELS)
    error = caught.value
    assert (http_status(error), error.message, error.details) == (400, CORRUPT, {"field": "image", "reason": "corrupt"})
    with pytest.raises(ValidationFailed):
        verify_decodes(data, header)
    return error


def _jpeg_scan_start(data: bytes) -> int:
    """Offset of the first byte of entropy-coded data (just after the SOS segment)."""
    sos = data.index(b"\xff\xda")
    (length,) = struct.unpack_from(">H", data, sos + 2)
    return sos + 2 + length


# --- accepted --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("data, content_type, size", [
    (encoded(noise_image(40, 30), "PNG"), "image/png", (40, 30)),
    (encoded(noise_image(33, 17, "RGBA"), "PNG"), "image/png", (33, 17)),
    (encoded(noise_image(20, 20).convert("P"), "PNG"), "image/png", (20, 20)),
    (encoded(noise_image(20, 20).convert("I;16"), "PNG"), "image/png", (20, 20)),
    (encoded(noise_image(31, 9), "PNG", optimize=True), "image/png", (31, 9)),
    (_raw_png(64, 48, zlib.compress(_scanlines(64, 48))), "image/png", (64, 48)),
    (encoded(noise_image(40, 30), "JPEG"), "image/jpeg", (40, 30)),
    (encoded(noise_image(41, 29), "JPEG", progressive=True, quality=95), "image/jpeg", (41, 29)),
    (encoded(noise_image(23, 19).convert("CMYK"), "JPEG"), "image/jpeg", (23, 19)),
    (encoded(noise_image(23, 19).convert("L"), "JPEG"), "image/jpeg", (23, 19)),
    (encoded(noise_image(40, 30), "WEBP"), "image/webp", (40, 30)),
    (encoded(noise_image(37, 21), "WEBP", lossless=True), "image/webp", (37, 21)),
    (encoded(noise_image(37, 21, "RGBA"), "WEBP"), "image/webp", (37, 21)),
])
def test_check_image_accepts_real_images(data: bytes, content_type: str, size: tuple[int, int]) -> None:
    header = check_image(data, max_pixels=MAX_PIXELS)

    assert (header.content_type, header.width, header.height) == (content_type, *size)
    with Image.open(BytesIO(data)) as image:  # Pillow reads the same size
        assert image.size == size


def test_exactly_ten_mebibytes_decodes() -> None:
    base = encoded(noise_image(16, 16), "PNG")
    iend = len(base) - 12
    padding = _chunk(b"prVt", b"x" * (MAX_IMAGE_BYTES - len(base) - 12))  # a private ancillary chunk
    data = base[:iend] + padding + base[iend:]
    assert len(data) == MAX_IMAGE_BYTES

    assert check_image(data, max_pixels=MAX_PIXELS) == ImageHeader("image/png", 16, 16, "png")


def test_header_refusals_come_before_any_decoding() -> None:
    bomb = _raw_png(100_000, 100_000, b"not zlib at all")

    with pytest.raises(ValidationFailed) as caught:
        check_image(bomb, max_pixels=MAX_PIXELS)

    assert caught.value.details is not None and caught.value.details["reason"] == "too_many_pixels"


# --- refused by the decode step --------------------------------------------------------------------------


def test_png_with_garbage_image_data_and_valid_crcs_is_refused() -> None:
    data = _raw_png(32, 32, random.Random(1).randbytes(600))

    error = _refused_by_decode(data)

    assert isinstance(error.__cause__, OSError)


def test_png_with_damaged_deflate_stream_and_fixed_up_crc_is_refused() -> None:
    compressed = bytearray(zlib.compress(_scanlines(32, 32)))
    for i in range(20, 60):
        compressed[i] ^= 0x55
    data = _raw_png(32, 32, bytes(compressed))

    _refused_by_decode(data)


def test_png_whose_header_says_64x64_but_whose_data_is_for_32x32_is_refused() -> None:
    # Random rows: the rows of a 32-wide image are misread as 64-wide ones, and Pillow fails on them.
    _refused_by_decode(_raw_png(64, 64, zlib.compress(_scanlines(32, 32))))
    # Zero rows (valid filter bytes) in a cleanly ended deflate stream: Pillow decodes this and leaves the
    # missing rows black, so the adapter counts the inflated bytes itself.
    half = _raw_png(64, 64, zlib.compress(bytes(32 * (1 + 64 * 3))))
    with Image.open(BytesIO(half)) as image:
        image.load()
        assert image.size == (64, 64)
    _refused_by_decode(half)
    _refused_by_decode(_raw_png(64, 64, zlib.compress(bytes(32 * (1 + 32 * 3)))))


def test_png_with_more_image_data_than_its_header_describes_is_refused() -> None:
    extra_row = _raw_png(32, 32, zlib.compress(bytes(33 * (1 + 32 * 3))))
    with Image.open(BytesIO(extra_row)) as image:  # Pillow stops once the image is full
        image.load()
    _refused_by_decode(extra_row)
    _refused_by_decode(_raw_png(32, 32, zlib.compress(bytes(32 * (1 + 32 * 3) + 1))))
    assert check_image(_raw_png(32, 32, zlib.compress(bytes(32 * (1 + 32 * 3)))), max_pixels=MAX_PIXELS)


def test_image_data_split_over_many_idat_chunks_is_counted_whole() -> None:
    stream = zlib.compress(_scanlines(50, 40), 1)
    parts = [stream[i:i + 97] for i in range(0, len(stream), 97)] + [b""]
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", 50, 40, 8, 2, 0, 0, 0))
    data = PNG_SIGNATURE + ihdr + b"".join(_chunk(b"IDAT", part) for part in parts) + _chunk(b"IEND", b"")
    assert len(parts) > 10

    assert check_image(data, max_pixels=MAX_PIXELS).width == 50


@pytest.mark.parametrize("mode, params", [("1", {}), ("L", {}), ("LA", {}), ("P", {"bits": 1}), ("P", {"bits": 2}),
                                          ("P", {"bits": 4}), ("P", {}), ("I;16", {}), ("RGB", {}), ("RGBA", {})])
def test_pillow_written_pngs_of_every_depth_have_the_expected_amount_of_data(mode: str,
                                                                            params: dict[str, int]) -> None:
    for width in (1, 2, 3, 7, 9, 13, 17):
        source = noise_image(width, 5, "RGBA" if mode in ("LA", "RGBA") else "RGB")
        if mode == "P":
            source = source.quantize(2 ** params.get("bits", 8))
        elif mode not in ("LA", "RGBA"):
            source = source.convert(mode)
        data = encoded(source, "PNG", **params)

        assert check_image(data, max_pixels=MAX_PIXELS).width == width


def _adam7_pass_sizes(width: int, height: int) -> list[tuple[int, int]]:
    """Width and height of each Adam7 pass, by testing every pixel against the pass pattern."""
    starts = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
    return [(sum(1 for x in range(width) if x % dx == x0), sum(1 for y in range(height) if y % dy == y0))
            for x0, y0, dx, dy in starts]


def _interlaced_grey_png(width: int, height: int, depth: int, cut: int = 0) -> tuple[bytes, bytes]:
    """An Adam7 greyscale PNG (each pass's rows unfiltered), and the pixels it must decode to (8-bit)."""
    def value(x: int, y: int) -> int:
        return (x * 7 + y * 13) % (1 << depth)

    starts = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
    raw = bytearray()
    for (x0, y0, dx, dy), (pass_width, pass_height) in zip(starts, _adam7_pass_sizes(width, height), strict=True):
        if not pass_width or not pass_height:
            continue
        for row in range(pass_height):
            bits = "".join(format(value(x0 + i * dx, y0 + row * dy), f"0{depth}b") for i in range(pass_width))
            bits += "0" * (-len(bits) % 8)
            raw += b"\0" + int(bits, 2).to_bytes(len(bits) // 8, "big")
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, 0, 0, 0, 1))
    png = PNG_SIGNATURE + ihdr + _chunk(b"IDAT", zlib.compress(bytes(raw[:len(raw) - cut]))) + _chunk(b"IEND", b"")
    scale = 255 // ((1 << depth) - 1)
    return png, bytes(value(x, y) * scale for y in range(height) for x in range(width))


@pytest.mark.parametrize("depth", [1, 2, 4, 8])
def test_interlaced_pngs_are_decoded_and_their_data_counted_per_pass(depth: int) -> None:
    for width, height in ((1, 1), (2, 3), (5, 5), (8, 8), (9, 4), (13, 11)):
        data, expected = _interlaced_grey_png(width, height, depth)

        assert check_image(data, max_pixels=MAX_PIXELS) == ImageHeader("image/png", width, height, "png")
        with Image.open(BytesIO(data)) as image:
            assert image.convert("L").tobytes() == expected
        _refused_by_decode(_interlaced_grey_png(width, height, depth, cut=1)[0])


def test_png_with_an_invalid_filter_type_is_refused() -> None:
    rows = bytearray(_scanlines(16, 16))
    rows[0] = 9  # filter types are 0-4
    _refused_by_decode(_raw_png(16, 16, zlib.compress(bytes(rows))))


def test_jpeg_without_scan_is_refused() -> None:
    data = encoded(noise_image(40, 30), "JPEG")
    headers_only = data[:data.index(b"\xff\xda")] + b"\xff\xd9"

    with pytest.raises(ValidationFailed) as caught:  # no scan at all: the structure check already refuses
        check_image(headers_only, max_pixels=MAX_PIXELS)
    assert caught.value.details == {"field": "image", "reason": "corrupt"}


def test_pillow_tolerates_garbage_and_missing_jpeg_scan_data() -> None:
    # libjpeg treats corrupt entropy-coded data as a warning ("Corrupt JPEG data…", "Premature end of data
    # segment") and fills what it cannot decode with grey; Pillow does not surface those warnings. So a JPEG
    # whose scan is garbage, or cut short but still ending with EOI, passes every check: the structure is
    # sound and the decoder does not fail. The provider gets a damaged picture, nothing worse.
    data = encoded(noise_image(64, 48), "JPEG", quality=90)
    start = _jpeg_scan_start(data)
    garbage = random.Random(5).randbytes(len(data) - 2 - start).replace(b"\xff", b"\xff\x00")
    scrambled = data[:start] + garbage + b"\xff\xd9"
    cut_short = data[:start] + data[start:start + 10] + b"\xff\xd9"

    for damaged in (scrambled, cut_short):
        assert check_image(damaged, max_pixels=MAX_PIXELS) == ImageHeader("image/jpeg", 64, 48, "jpg")
        with Image.open(BytesIO(damaged)) as image:
            image.load()
            assert image.tobytes() != Image.open(BytesIO(data)).tobytes()


def test_corrupt_webp_bitstreams() -> None:
    image = noise_image(40, 30)
    for params in ({}, {"lossless": True}):
        data = bytearray(encoded(image, "WEBP", **params))
        for i in range(40, len(data) - 5):
            data[i] ^= 0xA5
        _refused_by_decode(bytes(data))

    # Lossless data that is all zeros is refused; libwebp decodes an all-zero lossy (VP8) bitstream
    # without error, like libjpeg with a garbage scan.
    lossless = encoded(image, "WEBP", lossless=True)
    _refused_by_decode(lossless[:30] + bytes(len(lossless) - 30))
    lossy = encoded(image, "WEBP")
    assert check_image(lossy[:30] + bytes(len(lossy) - 30), max_pixels=MAX_PIXELS).width == 40


def test_verify_decodes_insists_on_the_format_and_size_the_header_gave() -> None:
    jpeg = encoded(noise_image(40, 30), "JPEG")
    png = encoded(noise_image(64, 64), "PNG")

    with pytest.raises(ValidationFailed, match="truncated or corrupt"):
        verify_decodes(jpeg, ImageHeader("image/png", 40, 30, "png"))
    with pytest.raises(ValidationFailed, match="truncated or corrupt"):
        verify_decodes(png, ImageHeader("image/png", 64, 63, "png"))
    with pytest.raises(ValidationFailed, match="truncated or corrupt"):
        verify_decodes(png, ImageHeader("image/gif", 64, 64, "gif"))
    verify_decodes(png, ImageHeader("image/png", 64, 64, "png"))


def test_pillow_bomb_guard_uses_the_header_pixel_count() -> None:
    # A header claiming 10×10 for a 64×64 file: Pillow's own guard (limit = the header's 100 pixels,
    # warnings turned into errors) stops it at open, before it allocates anything.
    png = encoded(noise_image(64, 64), "PNG")

    with pytest.raises(ValidationFailed) as caught:
        verify_decodes(png, ImageHeader("image/png", 10, 10, "png"))

    assert isinstance(caught.value.__cause__, Image.DecompressionBombError)


def test_pillow_globals_are_restored_and_truncated_files_refused_even_when_pillow_is_lenient(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1234)
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    short = _raw_png(64, 64, zlib.compress(bytes(32 * (1 + 64 * 3))))

    _refused_by_decode(short)
    # A JPEG cut in its scan: Pillow loads it when LOAD_TRUNCATED_IMAGES is on, so it must be off here.
    jpeg = encoded(noise_image(64, 64), "JPEG")
    with pytest.raises(ValidationFailed) as caught:
        verify_decodes(jpeg[:len(jpeg) // 2], ImageHeader("image/jpeg", 64, 64, "jpg"))
    assert "truncated" in str(caught.value.__cause__)
    check_image(encoded(noise_image(64, 64), "PNG"), max_pixels=MAX_PIXELS)  # 4096 px: above the 1234 set here

    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == (1234, True)


def test_checks_on_many_threads_never_refuse_a_decode_elsewhere_and_leave_pillow_as_found() -> None:
    """The local stack runs requests on threads: one request's check must not leak its limits into another's
    decode (the local engine opens images with Pillow's global limits) or leave them changed."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    small, large = encoded(noise_image(16, 16), "PNG"), encoded(noise_image(96, 96), "PNG")
    before = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    start = threading.Barrier(6)

    def work(worker: int) -> int:
        start.wait()
        for _ in range(150):
            if worker % 2:
                check_image(small, max_pixels=MAX_PIXELS)
            else:
                with Image.open(BytesIO(large)) as image:  # as the local engine decodes its input
                    image.load()
        return worker

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert sorted(pool.map(work, range(6))) == list(range(6))  # any refusal would have raised here

    assert before == (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)


# --- helpers ---------------------------------------------------------------------------------------------


def test_importing_the_adapter_does_not_import_pillow() -> None:
    code = "import sys, enhancer.adapters.imaging; print('PIL' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "False"


# --- converting a model's output (README "Output format") ----------------------------------------------------

def _saved(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _decoded(data: bytes) -> Image.Image:
    image = Image.open(BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize(("name", "pillow_format"), [("png", "PNG"), ("jpeg", "JPEG"), ("webp", "WEBP")])
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P", "CMYK", "I;16", "1"])
def test_any_decodable_mode_converts_to_every_format(mode: str, name: str, pillow_format: str) -> None:
    from enhancer.adapters.imaging import convert_image
    from enhancer.domain.output_format import choose_output

    source = Image.new("RGB", (24, 16), (200, 40, 90)).convert(mode)
    data = _saved(source, "JPEG" if mode == "CMYK" else "PNG")

    converted = _decoded(convert_image(data, choose_output(name, None, None)))

    assert converted.format == pillow_format and converted.size == (24, 16)
    assert converted.mode in ({"RGB", "L"} if name == "jpeg" else {"RGB", "RGBA", "L", "LA", "P", "I", "I;16", "1"})


def test_a_palette_with_a_transparent_colour_keeps_it_in_webp_and_turns_white_in_jpeg() -> None:
    from enhancer.adapters.imaging import convert_image
    from enhancer.domain.output_format import OutputFormat

    palette = Image.new("P", (8, 8), 0)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    palette.paste(1, (0, 0, 4, 8))  # left half red, right half colour 0, which is transparent
    data = _saved(palette, "PNG", transparency=0)

    webp = _decoded(convert_image(data, OutputFormat("webp", 100)))
    jpeg = _decoded(convert_image(data, OutputFormat("jpeg", 95)))

    assert webp.mode == "RGBA" and webp.getpixel((6, 4))[3] == 0 and webp.getpixel((1, 4))[3] == 255
    assert all(channel > 240 for channel in jpeg.getpixel((6, 4)))
    assert jpeg.getpixel((1, 4))[0] > 200


def test_the_exif_orientation_is_applied_since_the_new_file_carries_none() -> None:
    from enhancer.adapters.imaging import convert_image
    from enhancer.domain.output_format import OutputFormat

    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90° clockwise
    data = _saved(Image.new("RGB", (40, 20), (10, 120, 200)), "JPEG", exif=exif.tobytes())

    converted = _decoded(convert_image(data, OutputFormat("png")))

    assert converted.size == (20, 40) and not converted.getexif().get(0x0112)


@pytest.mark.parametrize("data", [b"", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, b"<html>not an image</html>"])
def test_an_output_that_does_not_decode_is_the_models_failure_not_a_server_error(data: bytes) -> None:
    from enhancer.adapters.imaging import convert_image
    from enhancer.domain.errors import ProviderFailed
    from enhancer.domain.output_format import OutputFormat

    with pytest.raises(ProviderFailed) as caught:
        convert_image(data, OutputFormat("jpeg", 90))

    assert http_status(caught.value) == 502


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
@pytest.mark.parametrize("size", [(1, 1), (1, 300), (300, 1), (37, 200), (129, 513)])
def test_the_parallel_png_writer_keeps_every_pixel_and_passes_the_upload_checks(mode: str,
                                                                                size: tuple[int, int]) -> None:
    """8-bit PNGs are written by bands of rows on every CPU (adapters/imaging.py `_fast_png`): the bands must
    join into one valid stream, whatever the size, and decode to exactly the pixels given."""
    from enhancer.adapters.imaging import encode_image
    from enhancer.domain.output_format import OutputFormat

    image = noise_image(*size).convert(mode)

    data = encode_image(image, OutputFormat("png"))

    decoded = _decoded(data)
    assert decoded.mode == mode and decoded.size == size and decoded.tobytes() == image.tobytes()
    assert check_image(data, max_pixels=MAX_PIXELS).content_type == "image/png"
