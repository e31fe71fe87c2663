"""GET /api/ai-image/jobs — the caller's own jobs, newest first: `status` filter, `limit` ≤ 100, `cursor`."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from enhancer.domain import rate_limits
from enhancer.domain.jobs import decode_cursor, page_limit, status_filter
from enhancer.http.dependencies import JobsDep
from enhancer.http.envelope import success
from enhancer.http.identity import CurrentIdentity
from enhancer.http.job_view import job_view
from enhancer.http.rate_limit import rate_limit
from enhancer.services.jobs import list_jobs

router = APIRouter()


@router.get("/api/ai-image/jobs", dependencies=[rate_limit(rate_limits.API)])
async def get_jobs(request: Request, identity: CurrentIdentity, jobs: JobsDep) -> Response:
    query = request.query_params
    cursor = query.get("cursor")
    page = list_jobs(jobs, identity, status=status_filter(query.get("status")), limit=page_limit(query.get("limit")),
                     after=decode_cursor(cursor) if cursor else None)
    return success({"jobs": [job_view(request, job) for job in page.jobs], "nextCursor": page.next_cursor})
