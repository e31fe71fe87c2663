"""GET /api/ai-image/jobs/{id} — one job, to its owner only; a limiter of its own, generous enough for a page
polling every second."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from enhancer.domain import rate_limits
from enhancer.http.dependencies import JobsDep
from enhancer.http.envelope import success
from enhancer.http.identity import CurrentIdentity
from enhancer.http.job_view import JobId, job_view
from enhancer.http.rate_limit import rate_limit
from enhancer.services.jobs import owned_job

router = APIRouter()


@router.get("/api/ai-image/jobs/{job_id}", dependencies=[rate_limit(rate_limits.AI_JOBS_POLL)])
async def get_job(job_id: JobId, request: Request, identity: CurrentIdentity, jobs: JobsDep) -> Response:
    return success(job_view(request, owned_job(jobs, job_id, identity)))
