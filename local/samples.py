"""Sample requests for the real handlers, shared by the tests and the benches: API Gateway events from the files
in `events/` (one per route, payload 2.0, as `sam local invoke -e` takes them) varied the way API Gateway would
present the variation, multipart bodies as a browser sends them, and photo-like PNG images. Which event file is
whose — every function's, the workflow tasks' and the others' too — is the table in events/README.md:
`event_index` reads it, `read_event` gives any file as it is.

It lives here rather than under `tests/` because the benches import it too, and importing the `tests` package
sets test-wide AWS and Powertools settings and imports moto, which would change what the benches measure. It
imports nothing heavy at module level: httpx and Pillow load on first use.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parent.parent / "events"


def load_event(name: str, *, method: str | None = None, path: str | None = None, route_key: str | None = None,
               cookies: dict[str, str] | None = None, headers: dict[str, str] | None = None,
               source_ip: str | None = None, body: bytes | None = None) -> dict[str, Any]:
    """A fresh copy of `events/<name>.json`, adjusted the way API Gateway would present the variation:
    `cookies` replaces the event's cookies, `headers` are added (names lower-cased), `body` is sent base64."""
    event = copy.deepcopy(json.loads((EVENTS / f"{name}.json").read_text()))
    http = event["requestContext"]["http"]
    if method:
        http["method"] = method
    if path:
        event["rawPath"] = http["path"] = path
    if route_key:
        event["routeKey"] = event["requestContext"]["routeKey"] = route_key
    if cookies is not None:
        event["cookies"] = [f"{k}={v}" for k, v in cookies.items()]
    if headers:
        event["headers"].update({k.lower(): v for k, v in headers.items()})
    if source_ip:
        http["sourceIp"] = source_ip
    if body is not None:
        event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    return event


def event_names() -> list[str]:
    """Every API Gateway event file in `events/`, by name (without `.json`); the others are the events of
    functions no route reaches (events/README.md)."""
    return sorted(path.stem for path in EVENTS.glob("*.json") if '"routeKey"' in path.read_text())


def read_event(name: str) -> Any:
    """A fresh copy of `events/<name>.json` exactly as the file has it (any kind of event)."""
    return json.loads((EVENTS / f"{name}.json").read_text())


_EVENT_CELL = re.compile(r"`([a-z0-9]+(?:-[a-z0-9]+)*)\.json`")
_FUNCTION_CELL = re.compile(r"([A-Z][A-Za-z0-9]*Function)\b")


def event_index() -> dict[str, list[str]]:
    """Which event files are whose: function logical id → its event names (without `.json`), in the order of the
    table in events/README.md whose first two columns are `function` and `event` — the one place that says it.
    A row whose cells are not a function's logical id and one backticked file name raises ValueError."""
    index: dict[str, list[str]] = {}
    header: list[str] | None = None
    for number, line in enumerate((EVENTS / "README.md").read_text().splitlines(), start=1):
        if not line.startswith("|"):
            header = None
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if header is None:
            header = [cell.lower() for cell in cells]
            continue
        if header[:2] != ["function", "event"] or all(set(cell) <= set("-: ") for cell in cells):
            continue
        function, event = _FUNCTION_CELL.match(cells[0]), _EVENT_CELL.fullmatch(cells[1])
        if function is None or event is None:
            raise ValueError(f"events/README.md:{number}: expected | <Function> | `<event>.json` | …, got {line!r}")
        index.setdefault(function.group(1), []).append(event.group(1))
    return index


def multipart(fields: dict[str, str], image: bytes | None = None, filename: str = "photo.png",
              content_type: str = "image/png") -> tuple[bytes, str]:
    """A multipart/form-data body as a browser sends it (the file in field `image`), and its Content-Type."""
    import httpx

    files = {"image": (filename, image, content_type)} if image is not None else None
    request = httpx.Request("POST", "https://api.example.com/", data=fields, files=files)
    return request.read(), request.headers["content-type"]


def s3_form(fields: list[tuple[str, str]], content: bytes, *, boundary: str,
            after: list[tuple[str, str]] | None = None) -> bytes:
    """A browser's S3 form upload, byte for byte and in the order given: `fields`, the file part, then the
    `after` fields (which S3 ignores). httpx would reorder nothing but cannot put fields after the file."""
    def field(name: str, value: str) -> bytes:
        return f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()

    file_part = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="photo.png"\r\n'
                 "Content-Type: image/png\r\n\r\n").encode() + content + b"\r\n"
    return (b"".join(field(*f) for f in fields) + file_part + b"".join(field(*f) for f in after or [])
            + f"--{boundary}--\r\n".encode())


def png_bytes(width: int = 256, height: int = 256) -> bytes:
    """A real photo-like PNG: gradients and shapes, so an upscaler has something to work on."""
    from io import BytesIO

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height))
    pixels = image.load()
    assert pixels is not None
    for x in range(width):
        for y in range(height):
            pixels[x, y] = (x * 255 // width, y * 255 // height, (x + y) * 127 // (width + height))
    draw = ImageDraw.Draw(image)
    draw.ellipse((width // 4, height // 4, width * 3 // 4, height * 3 // 4), outline=(255, 255, 255), width=3)
    draw.line((0, height - 1, width - 1, 0), fill=(0, 0, 0), width=2)
    buffer = BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def noise_image(width: int, height: int, mode: str = "RGB") -> Any:
    """A PIL image of seeded noise: it compresses badly, so the pixel data spans many bytes (and, for PNG,
    several chunks); in RGBA with a real alpha gradient, so WebP has to use its extended (VP8X + ALPH) layout."""
    import random

    from PIL import Image

    pixels = random.Random(width * 100_003 + height).randbytes(width * height * 3)
    image = Image.frombytes("RGB", (width, height), pixels).convert(mode)
    if mode == "RGBA":
        image.putalpha(Image.linear_gradient("L").resize((width, height)))
    return image


def encoded(image: Any, fmt: str, **params: object) -> bytes:
    """A PIL image saved in `fmt` (PNG, JPEG, WEBP…) with Pillow's save parameters."""
    from io import BytesIO

    out = BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()
