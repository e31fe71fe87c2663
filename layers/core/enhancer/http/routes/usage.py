"""GET /api/ai-image/usage — the caller's daily and monthly usage, plan and entitlements."""

import time

from fastapi import APIRouter
from starlette.responses import Response

from enhancer.domain import rate_limits
from enhancer.http.dependencies import UsageReaderDep
from enhancer.http.envelope import success
from enhancer.http.identity import CurrentIdentity
from enhancer.http.rate_limit import rate_limit
from enhancer.services.usage import usage_overview

router = APIRouter()

NO_STORE = {"Cache-Control": "no-store, no-cache, must-revalidate", "Pragma": "no-cache", "Expires": "0"}


@router.get("/api/ai-image/usage", dependencies=[rate_limit(rate_limits.API)])
async def get_usage(identity: CurrentIdentity, usage: UsageReaderDep) -> Response:
    overview = usage_overview(identity, usage, time.time())
    return success(overview.as_response(), headers={
        **NO_STORE,
        "X-Usage-OwnerType": identity.owner_type.value,
        "X-Usage-Plan": overview.plan.value if overview.plan else "",
        "X-Usage-Limit": str(overview.daily.limit),
    })
