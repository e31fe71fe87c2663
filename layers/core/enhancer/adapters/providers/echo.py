"""The echo provider: the original back, unchanged (tests, and the development fallback when the local engine
cannot load — `build_provider` says so loudly)."""

from __future__ import annotations

from enhancer.domain.enhancement import EnhanceOptions
from enhancer.domain.models import ModelSpec
from enhancer.services.ports import EnhancedImage, SourceImage


class EchoProvider:
    name = "echo"
    needs_source_url = False

    def check_model(self, model: ModelSpec) -> None:
        """Echoes any model."""

    def run(self, model: ModelSpec, options: EnhanceOptions, source: SourceImage, deadline: float, *,
            keep_running: bool = False) -> EnhancedImage:
        return EnhancedImage(data=source.data, content_type=source.content_type)
