"""POST /api/ai-image/jobs/{id}/cancel — queued or processing → canceled, the charge given back; idempotent."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from enhancer import bootstrap
from enhancer.domain import rate_limits
from enhancer.http.envelope import success
from enhancer.http.identity import CurrentIdentity
from enhancer.http.job_view import JobDepsDep, JobId, job_view
from enhancer.http.rate_limit import rate_limit
from enhancer.services.jobs import cancel_job

router = APIRouter()


@router.post("/api/ai-image/jobs/{job_id}/cancel", dependencies=[rate_limit(rate_limits.AI_JOBS)])
async def post_cancel(job_id: JobId, request: Request, identity: CurrentIdentity, deps: JobDepsDep) -> Response:
    return success(job_view(request, cancel_job(job_id, identity, deps, bootstrap.remote_provider)))
