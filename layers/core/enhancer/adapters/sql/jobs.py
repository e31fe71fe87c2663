"""The jobs repository (table `ai_jobs`) behind the `Jobs` port (`services/ports.py`).

Every status change is one `UPDATE … WHERE id = ? AND status IN (…)` with the statuses `domain.jobs.MOVES_FROM`
allows, so the database decides which of two racing moves wins. Portable SQL, qmark parameters.
"""

from __future__ import annotations

import json
from typing import Any

from enhancer.adapters.sql.connections import PerThreadConnection
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

_COLUMNS = ("id, owner_type, owner_ref, user_id, provider, mode, model, params_json, reservation_json, cost_tenths, "
            "input_r2_key, input_content_type, input_size, output_r2_key, provider_job_id, execution_arn, status, "
            "error_type, error_message, created_at, updated_at, started_at, completed_at, canceled_at, deadline_at")
_STAMPS = {JobStatus.PROCESSING: ("started_at",), JobStatus.SUCCEEDED: ("completed_at",),
           JobStatus.FAILED: ("completed_at",), JobStatus.CANCELED: ("canceled_at", "completed_at")}


def _placeholders(values: object) -> str:
    return ", ".join("?" for _ in values)  # type: ignore[attr-defined]


def _row_to_job(row: tuple[Any, ...]) -> Job:
    (job_id, owner_type, owner_ref, user_id, provider, mode, model, params_json, reservation_json, _cost,
     input_key, input_type, input_size, output_key, prediction_id, execution_arn, status, error_type,
     error_message, created_at, updated_at, started_at, completed_at, canceled_at, deadline_at) = row
    return Job(id=job_id, owner_type=owner_type, owner_key=owner_ref, user_id=user_id, provider=provider,
               mode=RunMode(mode or "inline"), model=model or "", options=json.loads(params_json or "{}"),
               reservation=reservation_from_json(reservation_json), input_key=input_key or "",
               input_content_type=input_type or "", input_size=input_size or 0, created_at=created_at,
               deadline_at=deadline_at or created_at, status=JobStatus(status), output_key=output_key,
               prediction_id=prediction_id, execution_arn=execution_arn,
               error=JobError(error_type or "server_error", error_message or "") if error_message else None,
               started_at=started_at, completed_at=completed_at, canceled_at=canceled_at, updated_at=updated_at)


class SqlJobs(PerThreadConnection):
    """Jobs in the SQL store. One connection per thread: the local gateway serves requests on threads."""

    def insert(self, job: Job) -> None:
        self._conn.execute(
            f"INSERT INTO ai_jobs ({_COLUMNS}) VALUES ({_placeholders(range(25))})",  # noqa: S608
            (job.id, job.owner_type, job.owner_key, job.user_id, job.provider, job.mode.value, job.model,
             json.dumps(job.options), reservation_to_json(job.reservation), job.reservation.split.total_tenths,
             job.input_key, job.input_content_type, job.input_size, job.output_key, job.prediction_id,
             job.execution_arn, job.status.value, job.error.type if job.error else None,
             job.error.message if job.error else None, job.created_at, job.updated_at or job.created_at,
             job.started_at, job.completed_at, job.canceled_at, job.deadline_at))

    def get(self, job_id: str) -> Job | None:
        row = self._conn.execute(f"SELECT {_COLUMNS} FROM ai_jobs WHERE id = ?", (job_id,)).fetchone()  # noqa: S608
        return _row_to_job(row) if row else None

    def page(self, owner_type: str, owner_key: str, *, status: JobStatus | None, limit: int,
             after: PageAfter | None) -> list[Job]:
        sql = f"SELECT {_COLUMNS} FROM ai_jobs WHERE owner_type = ? AND owner_ref = ?"  # noqa: S608
        params: list[Any] = [owner_type, owner_key]
        if status is not None:
            sql += " AND status = ?"
            params.append(status.value)
        if after is not None:
            sql += " AND (created_at < ? OR (created_at = ? AND id < ?))"
            params += [after.created_at, after.created_at, after.job_id]
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        params.append(limit)
        return [_row_to_job(row) for row in self._conn.execute(sql, params).fetchall()]

    def move(self, job_id: str, to: JobStatus, *, at: str, output_key: str | None = None,
             error: JobError | None = None) -> bool:
        sources = sorted(s.value for s in MOVES_FROM[to])
        if not sources:
            return False
        sets = ["status = ?", "updated_at = ?"] + [f"{column} = ?" for column in _STAMPS.get(to, ())]
        params: list[Any] = [to.value, at] + [at for _ in _STAMPS.get(to, ())]
        if output_key is not None:
            sets.append("output_r2_key = ?")
            params.append(output_key)
        if error is not None:
            sets += ["error_type = ?", "error_message = ?"]
            params += [error.type, error.message]
        cursor = self._conn.execute(
            f"UPDATE ai_jobs SET {', '.join(sets)} WHERE id = ? AND status IN ({_placeholders(sources)})",  # noqa: S608
            (*params, job_id, *sources))
        return bool(cursor.rowcount == 1)

    def record(self, job_id: str, *, prediction_id: str | None = None, execution_arn: str | None = None,
               at: str) -> None:
        sets, params = ["updated_at = ?"], [at]
        if prediction_id is not None:
            sets.append("provider_job_id = ?")
            params.append(prediction_id)
        if execution_arn is not None:
            sets.append("execution_arn = ?")
            params.append(execution_arn)
        self._conn.execute(f"UPDATE ai_jobs SET {', '.join(sets)} WHERE id = ?", (*params, job_id))  # noqa: S608

    def delete(self, job_id: str) -> bool:
        ended = sorted(s.value for s in TERMINAL)
        cursor = self._conn.execute(
            f"DELETE FROM ai_jobs WHERE id = ? AND status IN ({_placeholders(ended)})", (job_id, *ended))  # noqa: S608
        return bool(cursor.rowcount == 1)

    def overdue(self, now_iso: str, limit: int) -> list[Job]:
        active = sorted(s.value for s in ACTIVE)
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM ai_jobs WHERE status IN ({_placeholders(active)}) AND deadline_at < ? "  # noqa: S608
            "ORDER BY deadline_at LIMIT ?", (*active, now_iso, limit)).fetchall()
        return [_row_to_job(row) for row in rows]
