"""The job object every job route (and a generate handed over to a job) answers with, and what job routes
need from the composition root."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from enhancer import bootstrap
from enhancer.domain.jobs import Job, api_time
from enhancer.http.urls import image_url
from enhancer.services.jobs import JobDeps


def job_view(request: Request, job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "status": job.status.value,
        "model": job.model,
        "options": job.options,
        "charge": job.reservation.split.as_response(),
        "input": {"url": image_url(request, job.input_key)},
        "output": {"url": image_url(request, job.output_key)} if job.output_key else None,
        "error": {"type": job.error.type, "message": job.error.message} if job.error else None,
        "createdAt": api_time(job.created_at),
        "startedAt": api_time(job.started_at),
        "completedAt": api_time(job.completed_at),
        "canceledAt": api_time(job.canceled_at),
    }


async def job_deps() -> JobDeps:
    return bootstrap.job_deps()


JobDepsDep = Annotated[JobDeps, Depends(job_deps)]
