"""POST /api/billing/credits {pack: 100|500|1500, returnTo?} — signed-in users only; answers `{url}`, the Stripe
Checkout page of the pack. 503 with a clear message when credit packs are off (PUBLIC_ENABLE_CREDITS_CTA) or
the pack has no price on this deployment."""

from typing import Annotated, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from enhancer.config import get_settings
from enhancer.domain import rate_limits
from enhancer.domain.billing import MAX_RETURN_TO_CHARS
from enhancer.http.billing import checkout_deps, request_id
from enhancer.http.envelope import success
from enhancer.http.identity import SignedInUser
from enhancer.http.rate_limit import rate_limit
from enhancer.http.requests import json_body
from enhancer.services.billing import credits_checkout

router = APIRouter()


class CreditsCheckout(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    pack: Literal[100, 500, 1500]
    return_to: str | None = Field(default=None, alias="returnTo", max_length=MAX_RETURN_TO_CHARS)


@router.post("/api/billing/credits", dependencies=[rate_limit(rate_limits.API)])
async def post_credits_checkout(request: Request, user: SignedInUser,
                                body: Annotated[CreditsCheckout, json_body(CreditsCheckout)]) -> Response:
    url = credits_checkout(user.id, user.email, body.pack, body.return_to, checkout_deps(request),
                           enabled=get_settings().credits_cta_enabled, request_id=request_id(request))
    return success({"url": url})
