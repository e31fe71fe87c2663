"""POST /api/ai-image/generate — enhance one image now and answer with both URLs and the charge; work that
cannot finish by the deadline carries on as a job (202 with the job, charged once). `dryRun=true` answers the
charge it would take instead, storing and charging nothing (`http/quote_view.py`)."""

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from starlette.responses import Response

from enhancer.config import get_enhancement_settings, get_job_settings
from enhancer.domain import rate_limits
from enhancer.domain.clock import iso_utc
from enhancer.domain.enhancement import parse_flag
from enhancer.domain.identity import Identity
from enhancer.domain.plans import free_limits
from enhancer.domain.quota import Reservation
from enhancer.http.deadline import request_deadline
from enhancer.http.dependencies import ImageStoreDep, LedgerDep, ProviderFactoryDep, SettingsDep
from enhancer.http.enhancement_request import enhancement_request, generate_deps
from enhancer.http.envelope import success
from enhancer.http.identity import CurrentIdentity
from enhancer.http.quote_view import DRY_RUN_FIELD, quote_view
from enhancer.http.rate_limit import rate_limit
from enhancer.http.urls import image_url
from enhancer.services.generate import HandedOver, HandOver, PreparedEnhancement, dry_run, generate

if TYPE_CHECKING:
    from enhancer.domain.jobs import Job

router = APIRouter()


@router.post("/api/ai-image/generate", dependencies=[rate_limit(rate_limits.AI_GENERATE)])
async def post_generate(request: Request, identity: CurrentIdentity, ledger: LedgerDep, store: ImageStoreDep,
                        provider: ProviderFactoryDep, settings: SettingsDep) -> Response:
    enhancement = await enhancement_request(request)
    deps = generate_deps(settings, ledger, store, provider)
    if parse_flag(enhancement.fields, DRY_RUN_FIELD):
        return success(quote_view(dry_run(enhancement, identity, deps)))
    result = generate(enhancement, identity, deps,
                      deadline=request_deadline(request, get_enhancement_settings().generate_deadline_seconds),
                      hand_over=_hand_over(identity))
    if isinstance(result, HandedOver):
        from enhancer.http.job_view import job_view

        return success(job_view(request, result.job), status=202,
                       headers={"Location": f"/api/ai-image/jobs/{result.job.id}"})
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


def _hand_over(identity: Identity) -> HandOver | None:
    """A job for work the deadline cuts short, where this deployment runs jobs (STATE_MACHINE_ARN)."""
    if not get_job_settings().state_machine_arn:
        return None

    def hand_over(prepared: PreparedEnhancement, reservation: Reservation, original_key: str,
                  prediction_id: str | None) -> "Job":
        from enhancer import bootstrap
        from enhancer.services.jobs import enqueue

        return enqueue(prepared, identity, reservation, original_key, bootstrap.job_deps(),
                       prediction_id=prediction_id)

    return hand_over
