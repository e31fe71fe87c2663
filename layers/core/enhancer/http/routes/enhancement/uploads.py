"""POST /api/ai-image/uploads — a presigned S3 POST for one image under the caller's own prefix."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from enhancer.domain import rate_limits
from enhancer.domain.clock import iso_utc
from enhancer.http.dependencies import ImageStoreDep, SettingsDep
from enhancer.http.envelope import success
from enhancer.http.identity import CurrentIdentity
from enhancer.http.rate_limit import guest_rate_limit_by_ip, rate_limit
from enhancer.http.requests import json_object
from enhancer.services.uploads import create_upload

router = APIRouter()


@router.post("/api/ai-image/uploads", dependencies=[rate_limit(rate_limits.AI_JOBS),
                                                   guest_rate_limit_by_ip(rate_limits.GUEST_UPLOADS_PER_IP)])
async def post_upload(request: Request, identity: CurrentIdentity, store: ImageStoreDep,
                      settings: SettingsDep) -> Response:
    body = await json_object(request)
    ticket = create_upload(identity, body.get("contentType"), body.get("size"), store, settings.upload_url_seconds)
    return success({
        "uploadKey": ticket.upload_key,
        "url": ticket.url,
        "fields": ticket.fields,
        "contentType": ticket.content_type,
        "maxBytes": ticket.max_bytes,
        "expiresAt": iso_utc(ticket.expires_at),
    }, status=201)
