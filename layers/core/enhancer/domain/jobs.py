"""Asynchronous jobs (docs/architecture.md §7), pure: the statuses and the moves between them, the job record,
how a reservation is kept with its job, and the opaque cursor of a job list.

    queued → processing → succeeded | failed
    queued | processing → canceled | failed
    nothing leaves succeeded, failed or canceled
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from enhancer.domain.callbacks import CallbackAttempt
from enhancer.domain.credits import CreditPack
from enhancer.domain.errors import ValidationFailed
from enhancer.domain.guest_limits import SpendCap
from enhancer.domain.quota import ChargeSplit, Reservation
from enhancer.domain.values import value_class

MAX_PAGE = 100
DEFAULT_PAGE = 20


class JobStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED})
ACTIVE = frozenset({JobStatus.QUEUED, JobStatus.PROCESSING})

# Where each status may be reached from: the `WHERE status IN (…)` of every conditional update.
MOVES_FROM: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset(),
    JobStatus.PROCESSING: frozenset({JobStatus.QUEUED}),
    JobStatus.SUCCEEDED: frozenset({JobStatus.PROCESSING}),
    JobStatus.FAILED: ACTIVE,
    JobStatus.CANCELED: ACTIVE,
}


class RunMode(StrEnum):
    """How the workflow waits for the model: the task runs it (local engine, echo), Replicate calls back
    through its signed webhook, or the workflow polls Replicate (no public webhook URL)."""

    INLINE = "inline"
    WEBHOOK = "webhook"
    POLL = "poll"


def now_iso(epoch_seconds: float) -> str:
    """A job timestamp: ISO-8601 UTC with microseconds and `Z`, so text order is time order."""
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def api_time(stored: str | None) -> str | None:
    """A stored job timestamp as the API shows it: to the second, with `Z`."""
    if not stored:
        return None
    return stored[:19] + "Z" if len(stored) >= 19 and stored[10] == "T" else stored


@value_class
class JobError:
    type: str
    message: str


@value_class
class Job:
    id: str
    owner_type: str
    owner_key: str
    user_id: str | None
    provider: str
    mode: RunMode
    model: str
    options: dict[str, Any]
    reservation: Reservation
    input_key: str
    input_content_type: str
    input_size: int
    created_at: str
    deadline_at: str  # after this the sweeper fails it (and gives the charge back)
    status: JobStatus = JobStatus.QUEUED
    output_key: str | None = None
    prediction_id: str | None = None
    execution_arn: str | None = None
    error: JobError | None = None
    started_at: str | None = None
    completed_at: str | None = None
    canceled_at: str | None = None
    updated_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    callback_url: str | None = None  # checked when the job was created (domain/callbacks.py)
    callback_attempts: tuple[CallbackAttempt, ...] = ()

    @property
    def callback_delivered(self) -> bool:
        return any(attempt.delivered for attempt in self.callback_attempts)

    def owned_by(self, owner_type: str, owner_key: str) -> bool:
        return self.owner_type == owner_type and self.owner_key == owner_key

    def with_changes(self, **changes: Any) -> Job:
        return replace(self, **changes)


def job_object(job: Job, image_url: Callable[[str], str]) -> dict[str, Any]:
    """The job as the API shows it to its owner (every job route, and the body of its completion callback);
    `image_url` makes a stored image's absolute URL."""
    shown: dict[str, Any] = {
        "id": job.id,
        "status": job.status.value,
        "model": job.model,
        "options": job.options,
        "charge": job.reservation.split.as_response(),
        "input": {"url": image_url(job.input_key)},
        "output": {"url": image_url(job.output_key)} if job.output_key else None,
        "error": {"type": job.error.type, "message": job.error.message} if job.error else None,
        "createdAt": api_time(job.created_at),
        "startedAt": api_time(job.started_at),
        "completedAt": api_time(job.completed_at),
        "canceledAt": api_time(job.canceled_at),
    }
    if job.callback_url:
        shown["callback"] = {"url": job.callback_url, "delivered": job.callback_delivered,
                             "attempts": [{**attempt.as_dict(), "at": api_time(attempt.at)}
                                          for attempt in job.callback_attempts]}
    return shown


# --- the reservation, kept with its job -------------------------------------------------------------------

def reservation_to_json(reservation: Reservation) -> str:
    return json.dumps({
        "chargeId": reservation.charge_id, "ownerType": reservation.owner_type, "ownerKey": reservation.owner_key,
        "userId": reservation.user_id, "planTenths": reservation.split.plan_tenths,
        "creditsTenths": reservation.split.credits_tenths, "dailyUsed": reservation.daily_used,
        "dailyResetAt": reservation.daily_reset_at, "month": reservation.month,
        "creditsTaken": [[p.id, p.units_tenths, p.created_at, p.expires_at] for p in reservation.credits_taken],
        "caps": [[c.name, c.subject, c.limit, c.window_start, c.window_end] for c in reservation.caps],
    }, separators=(",", ":"))


def reservation_from_json(text: str) -> Reservation:
    data = json.loads(text)
    return Reservation(
        charge_id=data["chargeId"], owner_type=data["ownerType"], owner_key=data["ownerKey"],
        user_id=data["userId"], split=ChargeSplit(plan_tenths=data["planTenths"],
                                                  credits_tenths=data["creditsTenths"]),
        daily_used=data["dailyUsed"], daily_reset_at=data["dailyResetAt"], month=data["month"],
        credits_taken=[CreditPack(id=i, units_tenths=u, created_at=c, expires_at=e)
                       for i, u, c, e in data["creditsTaken"]],
        caps=tuple(SpendCap(name=n, subject=s, limit=limit, window_start=ws, window_end=we)
                   for n, s, limit, ws, we in data["caps"]))


# --- list pages ---------------------------------------------------------------------------------------------

@value_class
class PageAfter:
    """Where a page of jobs (newest first) continues: after the job created at `created_at` with `job_id`."""

    created_at: str
    job_id: str


def encode_cursor(after: PageAfter) -> str:
    raw = json.dumps([after.created_at, after.job_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> PageAfter:
    """The position an opaque cursor names; ValidationFailed for anything this API did not hand out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, job_id = json.loads(raw)
        if not (isinstance(created_at, str) and isinstance(job_id, str)) or len(created_at) > 40 or len(job_id) > 64:
            raise ValueError
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise ValidationFailed("'cursor' is not a cursor this API returned", details={"field": "cursor"}) from None
    return PageAfter(created_at=created_at, job_id=job_id)


def page_limit(raw: object) -> int:
    if raw is None or raw == "":
        return DEFAULT_PAGE
    try:
        value = int(str(raw))
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_PAGE:
        raise ValidationFailed(f"'limit' must be a whole number from 1 to {MAX_PAGE}", details={"field": "limit"})
    return value


def status_filter(raw: object) -> JobStatus | None:
    if raw is None or raw == "":
        return None
    try:
        return JobStatus(str(raw))
    except ValueError:
        allowed = ", ".join(s.value for s in JobStatus)
        raise ValidationFailed(f"'status' must be one of {allowed}", details={"field": "status"}) from None
