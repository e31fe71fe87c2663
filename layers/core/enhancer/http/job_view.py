"""The job object every job route (and a generate handed over to a job) answers with, and what job routes
need from the composition root."""

from typing import Annotated, Any

from fastapi import Depends, Request

from enhancer import bootstrap
from enhancer.domain.jobs import Job, job_object
from enhancer.http.requests import path_parameter
from enhancer.http.urls import image_url
from enhancer.services.jobs import JobDeps


def job_view(request: Request, job: Job) -> dict[str, Any]:
    return job_object(job, lambda key: image_url(request, key))


async def job_deps() -> JobDeps:
    return bootstrap.job_deps()


JobDepsDep = Annotated[JobDeps, Depends(job_deps)]
# The job routes' `{job_id}` (http/requests.py:path_parameter says why not `job_id: str`).
JobId = Annotated[str, path_parameter("job_id")]
