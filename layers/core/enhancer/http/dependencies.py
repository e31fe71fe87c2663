"""What routes need, as FastAPI dependencies declared in their signatures (`store: ImageStoreDep`), so a
route's needs are visible and tests can override each (`app.dependency_overrides[image_store] = ...`).

Each is the composition root's shared instance. They are `async def` for the same reason the endpoints are
(see `enhancer.http.identity`): FastAPI runs a plain `def` dependency on a worker thread.
"""

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends

from enhancer import bootstrap
from enhancer.config import Settings, get_settings
from enhancer.services.ports import (
    ApiKeys,
    HostResolver,
    ImageStore,
    Jobs,
    Ledger,
    Provider,
    RateWindows,
    UsageReader,
)


async def settings() -> Settings:
    return get_settings()


async def rate_windows() -> RateWindows:
    return bootstrap.rate_windows()


async def usage_reader() -> UsageReader:
    return bootstrap.usage_reader()


async def ledger() -> Ledger:
    return bootstrap.ledger()


async def image_store() -> ImageStore:
    return bootstrap.image_store()


async def provider_factory() -> Callable[[], Provider]:
    """The provider is built on first use inside the service, after the request is validated: a misconfigured
    provider then answers 503 for a valid request instead of failing every request at start."""
    return bootstrap.provider


async def jobs() -> Jobs:
    return bootstrap.jobs()


async def api_keys() -> ApiKeys:
    return bootstrap.api_keys()


async def callback_resolver() -> HostResolver:
    return bootstrap.callback_resolver()


SettingsDep = Annotated[Settings, Depends(settings)]
RateWindowsDep = Annotated[RateWindows, Depends(rate_windows)]
UsageReaderDep = Annotated[UsageReader, Depends(usage_reader)]
LedgerDep = Annotated[Ledger, Depends(ledger)]
ImageStoreDep = Annotated[ImageStore, Depends(image_store)]
ProviderFactoryDep = Annotated[Callable[[], Provider], Depends(provider_factory)]
JobsDep = Annotated[Jobs, Depends(jobs)]
ApiKeysDep = Annotated[ApiKeys, Depends(api_keys)]
CallbackResolverDep = Annotated[HostResolver, Depends(callback_resolver)]
