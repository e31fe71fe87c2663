"""GET /api/billing/portal?returnTo= — 302 to the signed-in user's Stripe customer portal, or back to the page
with `billing=no_customer` when they have never paid; 401 when not signed in."""

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from enhancer import bootstrap
from enhancer.domain import rate_limits
from enhancer.http.billing import base_url
from enhancer.http.identity import SignedInUser
from enhancer.http.rate_limit import rate_limit
from enhancer.services.billing import portal_url

router = APIRouter()


@router.get("/api/billing/portal", dependencies=[rate_limit(rate_limits.API)])
async def get_portal(request: Request, user: SignedInUser) -> Response:
    origin = base_url(request)
    url = portal_url(user.id, bootstrap.billing_accounts(), lambda: bootstrap.payments(origin), origin,
                     request.query_params.get("returnTo"))
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})
