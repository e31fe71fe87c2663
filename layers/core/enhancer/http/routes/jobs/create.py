"""POST /api/ai-image/jobs — the enhancement generate would run, as a job: 202 with the job, queued.

An `Idempotency-Key` header makes a retried create answer the same job instead of charging again
(Powertools idempotency, in the table); the same key with a different request → 409. `dryRun=true` answers
200 with the charge the create would take and creates, stores and records nothing, not even the key.
"""

import hashlib
import json

from fastapi import APIRouter, Request
from starlette.responses import Response

from enhancer.domain import rate_limits
from enhancer.domain.callbacks import FIELD as CALLBACK_FIELD
from enhancer.domain.enhancement import parse_flag
from enhancer.domain.errors import Conflict, NotFound, ValidationFailed
from enhancer.domain.identity import Identity
from enhancer.http.dependencies import (
    CallbackResolverDep,
    ImageStoreDep,
    JobsDep,
    LedgerDep,
    ProviderFactoryDep,
    SettingsDep,
)
from enhancer.http.enhancement_request import enhancement_request, generate_deps
from enhancer.http.envelope import success
from enhancer.http.identity import CurrentIdentity
from enhancer.http.job_view import JobDepsDep, job_view
from enhancer.http.quote_view import DRY_RUN_FIELD, quote_view
from enhancer.http.rate_limit import rate_limit
from enhancer.services.callbacks import checked_callback_url
from enhancer.services.generate import GenerateDeps, GenerateRequest
from enhancer.services.jobs import JobDeps, create_job, dry_run_job

router = APIRouter()

IDEMPOTENCY_SECONDS = 24 * 3600
MAX_KEY_CHARS = 255


@router.post("/api/ai-image/jobs", dependencies=[rate_limit(rate_limits.AI_JOBS)])
async def post_job(request: Request, identity: CurrentIdentity, ledger: LedgerDep, store: ImageStoreDep,
                   provider: ProviderFactoryDep, settings: SettingsDep, deps: JobDepsDep,
                   jobs: JobsDep, resolver: CallbackResolverDep) -> Response:
    enhancement = await enhancement_request(request)
    generate = generate_deps(settings, ledger, store, provider)
    key = request.headers.get("idempotency-key")
    # Before anything is charged; a dry run refuses what the create would.
    callback_url = checked_callback_url(enhancement.fields.get(CALLBACK_FIELD), identity, resolver)
    if parse_flag(enhancement.fields, DRY_RUN_FIELD):
        if key is not None:
            _check_key(key)  # checked as the real create checks it, but nothing is recorded under it
        return success(quote_view(dry_run_job(enhancement, identity, generate, deps)))
    if key is None:
        job = create_job(enhancement, identity, generate, deps, callback_url=callback_url)
    else:
        job_id = _create_once(request, key, enhancement, identity, generate, deps, callback_url)
        found = jobs.get(job_id)
        if found is None:  # created under this key, and deleted since
            raise NotFound("The job this Idempotency-Key created has been deleted")
        job = found
    return success(job_view(request, job), status=202)


def _create_once(request: Request, key: str, enhancement: GenerateRequest, identity: Identity,
                 generate: GenerateDeps, deps: JobDeps, callback_url: str | None) -> str:
    from enhancer.adapters.idempotency import run_once

    _check_key(key)
    try:
        result = run_once(
            # Per owner: two callers choosing the same key never meet.
            f"{identity.owner_type.value}:{identity.owner_key}:{key}", _fingerprint(enhancement),
            lambda: {"jobId": create_job(enhancement, identity, generate, deps, callback_url=callback_url).id},
            expires_after_seconds=IDEMPOTENCY_SECONDS, lambda_context=request.scope.get("aws.context"))
    except Conflict as conflict:
        if conflict.retry_after:
            raise Conflict("A request with this Idempotency-Key is still in progress", retry_after=1) from None
        raise Conflict("This Idempotency-Key was used with a different request") from None
    return str(result["jobId"])


def _check_key(key: str) -> None:
    if not key.strip() or len(key) > MAX_KEY_CHARS or not key.isprintable():
        raise ValidationFailed(f"'Idempotency-Key' must be 1 to {MAX_KEY_CHARS} printable characters",
                               details={"field": "Idempotency-Key"})


def _fingerprint(enhancement: GenerateRequest) -> str:
    """What makes two requests the same request: the fields, the image's bytes or the upload key. `dryRun` is
    not among them: only a real create reaches here, and `dryRun=false` is the same request as none."""
    digest = hashlib.sha256(json.dumps(
        {name: str(value) for name, value in sorted(enhancement.fields.items())
         if name not in ("image", DRY_RUN_FIELD)},
        sort_keys=True).encode())
    digest.update(b"\0" + (enhancement.image or b"") + b"\0" + (enhancement.upload_key or "").encode())
    return digest.hexdigest()
