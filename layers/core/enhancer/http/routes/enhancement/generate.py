"""POST /api/ai-image/generate — enhance one image now and answer with both URLs and the charge."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from enhancer.config import get_enhancement_settings
from enhancer.domain import rate_limits
from enhancer.domain.clock import iso_utc
from enhancer.domain.image_checks import ImageHeader
from enhancer.domain.plans import free_limits
from enhancer.http.deadline import request_deadline
from enhancer.http.dependencies import ImageStoreDep, LedgerDep, ProviderFactoryDep, SettingsDep
from enhancer.http.envelope import success
from enhancer.http.identity import CurrentIdentity
from enhancer.http.rate_limit import client_ip, rate_limit
from enhancer.http.requests import form_or_json
from enhancer.http.urls import image_url
from enhancer.services.generate import GenerateDeps, GenerateRequest, GuestBounds, generate

router = APIRouter()


def _check_image(data: bytes, *, max_pixels: int) -> ImageHeader:
    from enhancer.adapters.imaging import check_image  # Pillow loads on the first image, not at cold start

    return check_image(data, max_pixels=max_pixels)


@router.post("/api/ai-image/generate", dependencies=[rate_limit(rate_limits.AI_GENERATE)])
async def post_generate(request: Request, identity: CurrentIdentity, ledger: LedgerDep, store: ImageStoreDep,
                        provider: ProviderFactoryDep, settings: SettingsDep) -> Response:
    enhancement = get_enhancement_settings()
    fields, image = await form_or_json(request)
    upload_key = fields.get("uploadKey")
    generate_request = GenerateRequest(model=fields.get("model"), fields=fields, image=image,
                                       upload_key=str(upload_key) if upload_key not in (None, "") else None,
                                       client_ip=client_ip(request))
    generate_deps = GenerateDeps(ledger=ledger, store=store, check_image=_check_image,
                                 provider=provider, max_pixels=enhancement.image_max_pixels,
                                 guest_bounds=GuestBounds(per_ip_per_hour=settings.guest_images_per_ip_per_hour,
                                                          per_day=settings.guest_images_per_day))
    result = generate(generate_request, identity, generate_deps,
                      deadline=request_deadline(request, enhancement.generate_deadline_seconds))
    reservation = result.reservation
    cap = result.entitlements.daily_burst_cap
    return success({
        "model": result.model.slug,
        "imageUrl": image_url(request, result.result_key),
        "originalUrl": image_url(request, result.original_key),
        "usage": {"used": reservation.daily_used, "limit": cap, "remaining": max(0, cap - reservation.daily_used),
                  "resetAt": iso_utc(reservation.daily_reset_at)},
        "limits": free_limits(),
        "entitlements": result.entitlements.as_response(),
        "charge": reservation.split.as_response(),
    })
