"""The jobs repository (table `ai_jobs`) behind the `Jobs` port (`services/ports.py`).

Every status change is one `UPDATE … WHERE id = ? AND status IN (…)` with the statuses `domain.jobs.MOVES_FROM`
allows, so the database decides which of two racing moves wins. Portable SQL (SQLite and PostgreSQL run the
same statements), qmark parameters; the application writes every timestamp (`domain.jobs.now_iso`).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

from enhancer.adapters.sql.connections import PerThreadConnection
from enhancer.domain.callbacks import CallbackAttempt, attempts_from_json, attempts_to_json
from enhancer.domain.jobs import (
    ACTIVE,
    MOVES_FROM,
    TERMINAL,
    Job,
    JobError,
    JobStatus,
    PageAfter,
    RunMode,
    reservation_from_json,
    reservation_to_json,
)
from enhancer.domain.quota import ChargeSplit, Reservation

# In the order `_values` writes them and `_job` reads them. schema.REQUIRED_COLUMNS lists them too.
COLUMNS = ("id", "owner_type", "owner_ref", "user_id", "provider", "mode", "model", "params_json",
           "reservation_json", "cost_tenths", "input_r2_key", "input_content_type", "input_size", "output_r2_key",
           "provider_job_id", "execution_arn", "status", "error_type", "error_message", "created_at", "updated_at",
           "started_at", "completed_at", "canceled_at", "deadline_at", "callback_url", "callback_attempts")
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM ai_jobs"  # noqa: S608 - column names only
_INSERT = f"INSERT INTO ai_jobs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"  # noqa: S608

# The moments a move stamps with its `at` (updated_at is always stamped).
_STAMPS: dict[JobStatus, tuple[str, ...]] = {
    JobStatus.PROCESSING: ("started_at",), JobStatus.SUCCEEDED: ("completed_at",),
    JobStatus.FAILED: ("completed_at",), JobStatus.CANCELED: ("canceled_at", "completed_at")}
# A job of the old system (before migration 0013) names no error type; what the API calls an unknown failure.
_LEGACY_ERROR_TYPE = "server_error"


def _marks(values: Collection[object]) -> str:
    return ", ".join("?" for _ in values)


def _statuses(statuses: Collection[JobStatus]) -> list[str]:
    return sorted(s.value for s in statuses)


def _values(job: Job) -> tuple[Any, ...]:
    error = job.error
    return (job.id, job.owner_type, job.owner_key, job.user_id, job.provider, job.mode.value, job.model,
            json.dumps(job.options, separators=(",", ":")), reservation_to_json(job.reservation),
            job.reservation.split.total_tenths, job.input_key, job.input_content_type, job.input_size,
            job.output_key, job.prediction_id, job.execution_arn, job.status.value,
            error.type if error else None, error.message if error else None, job.created_at,
            job.updated_at or job.created_at, job.started_at, job.completed_at, job.canceled_at, job.deadline_at,
            job.callback_url, attempts_to_json(job.callback_attempts) if job.callback_attempts else None)


def _nothing_reserved(job_id: str, owner_type: str, owner_key: str, user_id: str | None) -> Reservation:
    """The reservation of a job the old system made: it kept none, so there is nothing to settle or give back
    (no tenths, no caps, a daily window long gone)."""
    return Reservation(charge_id=f"legacy:{job_id}", owner_type=owner_type, owner_key=owner_key, user_id=user_id,
                       split=ChargeSplit(plan_tenths=0, credits_tenths=0), daily_used=0, daily_reset_at=0, month="")


def _job(row: tuple[Any, ...]) -> Job:
    (job_id, owner_type, owner_ref, user_id, provider, mode, model, params_json, reservation_json, _cost_tenths,
     input_key, input_type, input_size, output_key, prediction_id, execution_arn, status, error_type,
     error_message, created_at, updated_at, started_at, completed_at, canceled_at, deadline_at, callback_url,
     callback_attempts) = row
    # The fallbacks are for rows of the old system, which lack what migration 0013 added.
    reservation = (reservation_from_json(reservation_json) if reservation_json is not None
                   else _nothing_reserved(job_id, owner_type, owner_ref, user_id))
    error = (JobError(error_type or _LEGACY_ERROR_TYPE, error_message or "")
             if error_type is not None or error_message is not None else None)
    return Job(id=job_id, owner_type=owner_type, owner_key=owner_ref, user_id=user_id, provider=provider,
               mode=RunMode(mode or RunMode.INLINE), model=model or "", options=json.loads(params_json or "{}"),
               reservation=reservation, input_key=input_key or "", input_content_type=input_type or "",
               input_size=input_size or 0, created_at=created_at, deadline_at=deadline_at or created_at,
               status=JobStatus(status), output_key=output_key, prediction_id=prediction_id,
               execution_arn=execution_arn, error=error, started_at=started_at, completed_at=completed_at,
               canceled_at=canceled_at, updated_at=updated_at, callback_url=callback_url,
               callback_attempts=attempts_from_json(callback_attempts))


class SqlJobs(PerThreadConnection):
    """Jobs in the SQL store. One connection per thread: the local gateway serves requests on threads."""

    def insert(self, job: Job) -> None:
        self._conn.execute(_INSERT, _values(job))

    def get(self, job_id: str) -> Job | None:
        row = self._conn.execute(f"{_SELECT} WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row else None

    def page(self, owner_type: str, owner_key: str, *, status: JobStatus | None, limit: int,
             after: PageAfter | None) -> list[Job]:
        sql = f"{_SELECT} WHERE owner_type = ? AND owner_ref = ?"
        params: list[Any] = [owner_type, owner_key]
        if status is not None:
            sql += " AND status = ?"
            params.append(status.value)
        if after is not None:
            # `created_at <= ?` on its own gives idx_ai_jobs_owner_created_at a range to start from; the OR
            # then drops the jobs at or above the position among those created at the same moment.
            sql += " AND created_at <= ? AND (created_at < ? OR id < ?)"
            params += [after.created_at, after.created_at, after.job_id]
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        params.append(limit)
        return [_job(row) for row in self._conn.execute(sql, params).fetchall()]

    def move(self, job_id: str, to: JobStatus, *, at: str, output_key: str | None = None,
             error: JobError | None = None) -> bool:
        sources = _statuses(MOVES_FROM[to])
        if not sources:  # queued is where a job starts; nothing moves back to it
            return False
        columns = ["status", "updated_at", *_STAMPS.get(to, ())]
        params: list[Any] = [to.value, *(at for _ in columns[1:])]
        if output_key is not None:
            columns.append("output_r2_key")
            params.append(output_key)
        if error is not None:
            columns += ["error_type", "error_message"]
            params += [error.type, error.message]
        assignments = ", ".join(f"{column} = ?" for column in columns)
        cursor = self._conn.execute(
            f"UPDATE ai_jobs SET {assignments} WHERE id = ? AND status IN ({_marks(sources)})",  # noqa: S608
            (*params, job_id, *sources))
        return bool(cursor.rowcount == 1)

    def record(self, job_id: str, *, prediction_id: str | None = None, execution_arn: str | None = None,
               at: str) -> None:
        columns, params = ["updated_at"], [at]
        if prediction_id is not None:
            columns.append("provider_job_id")
            params.append(prediction_id)
        if execution_arn is not None:
            columns.append("execution_arn")
            params.append(execution_arn)
        assignments = ", ".join(f"{column} = ?" for column in columns)
        self._conn.execute(f"UPDATE ai_jobs SET {assignments} WHERE id = ?", (*params, job_id))  # noqa: S608

    def record_callback(self, job_id: str, attempts: Sequence[CallbackAttempt], *, at: str) -> None:
        self._conn.execute("UPDATE ai_jobs SET callback_attempts = ?, updated_at = ? WHERE id = ?",
                           (attempts_to_json(list(attempts)), at, job_id))

    def delete(self, job_id: str) -> bool:
        ended = _statuses(TERMINAL)
        cursor = self._conn.execute(
            f"DELETE FROM ai_jobs WHERE id = ? AND status IN ({_marks(ended)})", (job_id, *ended))  # noqa: S608
        return bool(cursor.rowcount == 1)

    def overdue(self, now_iso: str, limit: int) -> list[Job]:
        active = _statuses(ACTIVE)
        rows = self._conn.execute(
            f"{_SELECT} WHERE status IN ({_marks(active)}) AND deadline_at < ? ORDER BY deadline_at, id LIMIT ?",
            (*active, now_iso, limit)).fetchall()
        return [_job(row) for row in rows]
