"""Synchronous enhancement: validate, check the image, reserve the charge, run the model, store both
images, settle — and on any failure give the charge back and remove what this request stored."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from enhancer.domain.enhancement import check_entitlements, cost_tenths, parse_options
from enhancer.domain.errors import Forbidden, ProviderFailed, ValidationFailed
from enhancer.domain.guest_limits import GuestBudgetReached, SpendCap, guest_caps
from enhancer.domain.identity import Identity
from enhancer.domain.image_checks import MAX_IMAGE_BYTES, sniff_type
from enhancer.domain.image_keys import ImageCategory, new_image_key, parse_image_key
from enhancer.domain.models import ModelSpec, find_model
from enhancer.domain.plans import Entitlements, entitlements_for
from enhancer.domain.quota import Reservation
from enhancer.observability import logger, metrics
from enhancer.services.ports import ImageChecker, ImageStore, Ledger, Provider, SourceImage

SOURCE_URL_SECONDS = 900  # long enough for a remote model to fetch the original, short enough not to matter
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


@dataclass(frozen=True, slots=True)
class GenerateRequest:
    model: str | None
    fields: Mapping[str, object]
    image: bytes | None = None
    upload_key: str | None = None
    client_ip: str = "unknown"


@dataclass(frozen=True, slots=True)
class GenerateResult:
    model: ModelSpec
    entitlements: Entitlements
    original_key: str
    result_key: str
    reservation: Reservation


@dataclass(frozen=True, slots=True)
class GuestBounds:
    """How far guests may spend together (README: Plans, cost and credits)."""

    per_ip_per_hour: int
    per_day: int


@dataclass(frozen=True, slots=True)
class GenerateDeps:
    ledger: Ledger
    store: ImageStore
    check_image: ImageChecker
    provider: Callable[[], Provider]  # built lazily: a misconfigured provider must fail before any charge
    max_pixels: int
    guest_bounds: GuestBounds


def _model(name: str | None) -> ModelSpec:
    if not name or not str(name).strip():
        raise ValidationFailed("Field 'model' is required", details={"field": "model"})
    model = find_model(str(name))
    if model is None:
        shown = str(name)[:80].encode("utf-8", "replace").decode("utf-8")
        raise ValidationFailed(f"Unsupported model '{shown}'", details={"field": "model"})
    return model


def _uploaded_image(key: str, identity: Identity, store: ImageStore) -> bytes:
    image = parse_image_key(key)
    if image is None or image.category is not ImageCategory.UPLOADS:
        raise ValidationFailed("'uploadKey' is not an upload key", details={"field": "uploadKey"})
    if not identity.owns(image.owner_type, image.owner_key):
        raise Forbidden("'uploadKey' belongs to someone else", details={"field": "uploadKey"})
    stored = store.get(key)
    if stored is None:
        raise ValidationFailed("Nothing was uploaded at 'uploadKey'", details={"field": "uploadKey"})
    if stored.info.size > MAX_IMAGE_BYTES:
        stored.discard()
        raise ValidationFailed("The image is larger than 10 MB", details={"field": "uploadKey"})
    return stored.read()


def generate(request: GenerateRequest, identity: Identity, deps: GenerateDeps, deadline: float) -> GenerateResult:
    model = _model(request.model)
    options = parse_options(model, request.fields)
    entitlements = entitlements_for(identity.owner_type, identity.plan)
    check_entitlements(options, entitlements)
    if (request.image is None) == (request.upload_key is None):
        raise ValidationFailed("Send the image as the file field 'image' or as an 'uploadKey' from "
                               "POST /api/ai-image/uploads (exactly one of them)", details={"field": "image"})
    data = request.image if request.image is not None else _uploaded_image(str(request.upload_key), identity,
                                                                            deps.store)
    header = deps.check_image(data, max_pixels=deps.max_pixels)
    provider = deps.provider()

    reservation = _reserve(request, identity, deps, cost_tenths(options), entitlements)
    stored_here: list[str] = []
    try:
        # The checked bytes go to a key of our own, also for an upload: the client's presigned form stays
        # valid for a while and could replace the object under its key after this check. The upload itself
        # stays until the lifecycle rule expires it: it may be an earlier result's original, still linked.
        original_key = new_image_key(ImageCategory.UPLOADS, identity.owner_type, identity.owner_key,
                                     header.extension)
        deps.store.put(original_key, data, header.content_type)
        stored_here.append(original_key)
        source_url = (deps.store.presigned_get_url(original_key, SOURCE_URL_SECONDS)
                      if provider.name == "replicate" else None)
        source = SourceImage(data=data, content_type=header.content_type, width=header.width,
                             height=header.height, url=source_url)
        enhanced = provider.run(model, options, source, deadline)
        result_type = sniff_type(enhanced.data)
        if result_type is None:
            raise ProviderFailed("The model returned something that is not an image")
        result_key = new_image_key(ImageCategory.RESULTS, identity.owner_type, identity.owner_key,
                                   EXTENSIONS[result_type])
        deps.store.put(result_key, enhanced.data, result_type)
    except BaseException:
        deps.ledger.give_back(reservation)
        for key in stored_here:
            _delete_quietly(deps.store, key)
        raise
    deps.ledger.settle(reservation)
    metrics.add_metric(name="usage_increment", unit="Count", value=1)
    return GenerateResult(model=model, entitlements=entitlements, original_key=original_key,
                          result_key=result_key, reservation=reservation)


def _reserve(request: GenerateRequest, identity: Identity, deps: GenerateDeps, cost: int,
             entitlements: Entitlements) -> Reservation:
    caps: tuple[SpendCap, ...] = () if identity.user is not None else guest_caps(
        request.client_ip, time.time(), per_ip_per_hour=deps.guest_bounds.per_ip_per_hour,
        per_day=deps.guest_bounds.per_day)
    try:
        return deps.ledger.reserve(
            charge_id=str(uuid.uuid4()), owner_type=identity.owner_type.value, owner_key=identity.owner_key,
            user_id=identity.user.id if identity.user else None, cost_tenths=cost, entitlements=entitlements,
            caps=caps)
    except GuestBudgetReached:
        logger.warning("guest_budget_exhausted", extra={"limit": deps.guest_bounds.per_day})
        metrics.add_metric(name="guest_budget_exhausted", unit="Count", value=1)
        raise


def _delete_quietly(store: ImageStore, key: str) -> None:
    try:
        store.delete(key)
    except Exception:  # the original error matters more than a leftover object (lifecycle rules expire it)
        logger.exception("cleanup_failed", extra={"key": key})
