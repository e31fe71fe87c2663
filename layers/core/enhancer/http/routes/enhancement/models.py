"""GET /api/ai-image/models — the model registry and the UI flags."""

from fastapi import APIRouter
from starlette.responses import Response

from enhancer.adapters.providers import runs_model
from enhancer.config import get_enhancement_settings, get_settings
from enhancer.domain import rate_limits
from enhancer.domain.models import MODELS
from enhancer.http.envelope import success
from enhancer.http.rate_limit import rate_limit_by_ip

router = APIRouter()


@router.get("/api/ai-image/models", dependencies=[rate_limit_by_ip(rate_limits.API)])
async def get_models() -> Response:
    settings = get_settings()
    provider = get_enhancement_settings().provider_name
    return success({
        "models": [{**model.describe(), "available": runs_model(provider, model.slug)} for model in MODELS],
        "flags": {"creditsCta": settings.credits_cta_enabled,
                  "planGating": settings.public_enhancer_plan_gating_v1,
                  # The local stack's POST /api/dev/login (never deployed) answers only in development.
                  "developmentSignIn": settings.is_development},
        "provider": provider,
        "enhancementAvailable": provider is not None,
    }, headers={"Cache-Control": "public, max-age=300"})
