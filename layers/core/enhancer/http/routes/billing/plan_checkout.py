"""POST /api/billing/session {plan, interval: monthly|annual, returnTo?} — signed-in users only; answers `{url}`,
the Stripe Checkout page of the plan (in development without a Stripe key, the local checkout page).
`returnTo` is used only when it is a path on this site."""

from typing import Annotated, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from enhancer.domain import rate_limits
from enhancer.domain.billing import MAX_RETURN_TO_CHARS, Interval
from enhancer.domain.plans import Plan
from enhancer.http.billing import checkout_deps, request_id
from enhancer.http.envelope import success
from enhancer.http.identity import SignedInUser
from enhancer.http.rate_limit import rate_limit
from enhancer.http.requests import json_body
from enhancer.services.billing import plan_checkout

router = APIRouter()


class PlanCheckout(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    plan: Literal[Plan.PRO, Plan.PREMIUM, Plan.ENTERPRISE]
    interval: Interval = "monthly"
    return_to: str | None = Field(default=None, alias="returnTo", max_length=MAX_RETURN_TO_CHARS)


@router.post("/api/billing/session", dependencies=[rate_limit(rate_limits.SENSITIVE_ACTION)])
async def post_plan_checkout(request: Request, user: SignedInUser,
                             body: Annotated[PlanCheckout, json_body(PlanCheckout)]) -> Response:
    url = plan_checkout(user.id, user.email, Plan(body.plan), body.interval, body.return_to,
                        checkout_deps(request), request_id=request_id(request))
    return success({"url": url})
