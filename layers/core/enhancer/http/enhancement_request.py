"""What generate and job creation read from a request: the enhancement asked for and what its steps need —
one reading for both routes, so a job takes exactly the inputs, checks and charge generate takes."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from enhancer.config import Settings, get_enhancement_settings
from enhancer.domain.image_checks import ImageHeader
from enhancer.domain.output_format import OutputFormat
from enhancer.http.rate_limit import client_ip
from enhancer.http.requests import form_or_json
from enhancer.services.generate import GenerateDeps, GenerateRequest, GuestBounds
from enhancer.services.ports import ImageStore, Ledger, Provider


def check_image(data: bytes, *, max_pixels: int) -> ImageHeader:
    from enhancer.adapters.imaging import check_image as pillow_check  # Pillow loads on the first image

    return pillow_check(data, max_pixels=max_pixels)


def convert_image(data: bytes, output: OutputFormat) -> bytes:
    from enhancer.adapters.imaging import convert_image as pillow_convert  # only when a format must change

    return pillow_convert(data, output)


async def enhancement_request(request: Request) -> GenerateRequest:
    """The multipart form (with the `image` file) or JSON body (with an `uploadKey`) as a GenerateRequest."""
    fields, image = await form_or_json(request)
    upload_key = fields.get("uploadKey")
    return GenerateRequest(model=fields.get("model"), fields=fields, image=image,
                           upload_key=str(upload_key) if upload_key not in (None, "") else None,
                           client_ip=client_ip(request))


def generate_deps(settings: Settings, ledger: Ledger, store: ImageStore,
                  provider: Callable[[], Provider]) -> GenerateDeps:
    return GenerateDeps(ledger=ledger, store=store, check_image=check_image, provider=provider,
                        max_pixels=get_enhancement_settings().image_max_pixels,
                        guest_bounds=GuestBounds(per_ip_per_hour=settings.guest_images_per_ip_per_hour,
                                                 per_day=settings.guest_images_per_day),
                        convert=convert_image)
