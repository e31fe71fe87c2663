"""DELETE /api/ai-image/jobs/{id} — a job that has ended, removed with its images."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from enhancer.domain import rate_limits
from enhancer.http.envelope import success
from enhancer.http.identity import CurrentIdentity
from enhancer.http.job_view import JobDepsDep, JobId
from enhancer.http.rate_limit import rate_limit
from enhancer.services.jobs import delete_job

router = APIRouter()


@router.delete("/api/ai-image/jobs/{job_id}", dependencies=[rate_limit(rate_limits.AI_JOBS)])
async def delete(job_id: JobId, request: Request, identity: CurrentIdentity, deps: JobDepsDep) -> Response:
    job = delete_job(job_id, identity, deps)
    return success({"id": job.id, "deleted": True,
                    "imagesRemoved": [key for key in (job.input_key, job.output_key) if key]})
