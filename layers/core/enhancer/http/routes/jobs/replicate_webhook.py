"""POST /api/ai-image/webhooks/replicate?job=<id> — Replicate's signed `completed` webhook resumes the job's
waiting execution. Signed, so no origin or CSRF check (its function is built with `verify_origin=False`);
a bad signature or a timestamp more than 5 minutes off → 400 and nothing changes; a duplicate → 200."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from enhancer import bootstrap
from enhancer.config import get_enhancement_settings
from enhancer.domain.errors import ServiceUnavailable, ValidationFailed
from enhancer.http.envelope import success
from enhancer.observability import logger
from enhancer.services.job_workflow import WEBHOOK_PATH, resume_from_webhook

router = APIRouter()

TOLERANCE_SECONDS = 300
MAX_BODY_BYTES = 1_000_000


@router.post(WEBHOOK_PATH)
async def post_replicate_webhook(request: Request) -> Response:
    from enhancer.adapters.providers.replicate.webhooks import verify_webhook, webhook_secret

    job_id = request.query_params.get("job", "")
    if not job_id or len(job_id) > 64:
        raise ValidationFailed("The webhook URL names no job", details={"field": "job"})
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise ValidationFailed("The webhook body is too large")
    secret = webhook_secret(get_enhancement_settings())
    if secret is None:
        logger.error("replicate_webhook_not_configured",
                     extra={"reason": "REPLICATE_WEBHOOK_SECRET or REPLICATE_WEBHOOK_SECRET_PARAMETER is not set"})
        raise ServiceUnavailable("Webhooks are not configured on this deployment")
    prediction = verify_webhook(request.headers, body, secret, tolerance_seconds=TOLERANCE_SECONDS)
    outcome = resume_from_webhook(bootstrap.task_tokens(), bootstrap.workflow(), job_id, prediction)
    logger.info("replicate_webhook", extra={"job_id": job_id, "outcome": outcome,
                                            "status": str(prediction.get("status"))[:20]})
    return success({"received": True})
