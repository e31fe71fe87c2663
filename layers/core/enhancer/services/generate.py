"""Enhancement in steps: prepare (everything that costs nothing) → reserve the charge → store the original →
run the model → store the result → settle. `generate` runs them for a synchronous request and, on any failure
after the reservation, gives the charge back and removes what the request stored; the steps stay separate so a
request that outlives its deadline can be handed to a job with its reservation intact."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from enhancer.domain.enhancement import EnhanceOptions, check_entitlements, cost_tenths, parse_options
from enhancer.domain.errors import Forbidden, ProviderFailed, ProviderTimedOut, TooSlowForDeadline, ValidationFailed
from enhancer.domain.guest_limits import SpendCap, guest_caps
from enhancer.domain.identity import Identity
from enhancer.domain.image_checks import MAX_IMAGE_BYTES, ImageHeader, sniff_type
from enhancer.domain.image_keys import ImageCategory, new_image_key, parse_image_key
from enhancer.domain.models import ModelSpec, find_model
from enhancer.domain.output_format import OutputFormat
from enhancer.domain.plans import Entitlements, OwnerType, entitlements_for
from enhancer.domain.quota import ChargeQuote, Reservation
from enhancer.domain.values import value_class
from enhancer.observability import logger, metrics
from enhancer.services.ports import (
    EnhancedImage,
    ImageChecker,
    ImageConverter,
    ImageStore,
    Ledger,
    Provider,
    SourceImage,
)

if TYPE_CHECKING:  # a synchronous generate never loads the jobs domain; only a hand-over makes a job
    from enhancer.domain.jobs import Job

SOURCE_URL_SECONDS = 900  # long enough for a remote model to fetch the original, short enough not to matter


@value_class
class GenerateRequest:
    model: str | None
    fields: Mapping[str, object]
    image: bytes | None = None
    upload_key: str | None = None
    client_ip: str = "unknown"


@value_class
class GenerateResult:
    model: ModelSpec
    entitlements: Entitlements
    original_key: str
    result_key: str
    reservation: Reservation


@value_class
class GuestBounds:
    """How far guests may spend together (README: Plans, cost and credits)."""

    per_ip_per_hour: int
    per_day: int


@value_class
class GenerateDeps:
    ledger: Ledger
    store: ImageStore
    check_image: ImageChecker
    provider: Callable[[], Provider]  # built lazily: a misconfigured provider must fail before any charge
    max_pixels: int
    guest_bounds: GuestBounds
    convert: ImageConverter  # a model's output into the format asked for, when the model returned another


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


@value_class
class PreparedEnhancement:
    """A request that passed every check that costs nothing: what to run, on which checked image, for how much.
    Nothing is stored or charged yet."""

    model: ModelSpec
    options: EnhanceOptions
    entitlements: Entitlements
    image: bytes
    header: ImageHeader
    provider: Provider
    cost_tenths: int

    @property
    def output(self) -> OutputFormat:
        return self.options.output(self.header.content_type)


def prepare(request: GenerateRequest, identity: Identity, deps: GenerateDeps) -> PreparedEnhancement:
    """Model, options, plan, image (the file or an upload of the caller's) and provider, in that order: the
    first problem is the one reported, and a misconfigured provider is found before anything is charged."""
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
    # The format is decided here, once the input's kind is known, so a job keeps it with its options.
    options = options.with_output(options.output(header.content_type))
    provider = deps.provider()
    provider.check_model(model)
    return PreparedEnhancement(model=model, options=options, entitlements=entitlements, image=data, header=header,
                               provider=provider, cost_tenths=cost_tenths(options))


def store_original(prepared: PreparedEnhancement, identity: Identity, store: ImageStore) -> str:
    """The checked bytes under a key of our own, also for an upload: the client's presigned form stays valid for
    a while and could replace the object under its key after the check. The upload itself stays until the
    lifecycle rule expires it: it may be an earlier result's original, still linked."""
    key = new_image_key(ImageCategory.UPLOADS, identity.owner_type, identity.owner_key, prepared.header.extension)
    store.put(key, prepared.image, prepared.header.content_type)
    return key


def run(prepared: PreparedEnhancement, original_key: str, store: ImageStore, deadline: float, *,
        keep_running: bool = False) -> EnhancedImage:
    """The model on the stored original (what it returns is checked by `store_result`)."""
    source_url = (store.presigned_get_url(original_key, SOURCE_URL_SECONDS)
                  if prepared.provider.needs_source_url else None)
    source = SourceImage(data=prepared.image, content_type=prepared.header.content_type,
                         width=prepared.header.width, height=prepared.header.height, url=source_url)
    return prepared.provider.run(prepared.model, prepared.options, source, deadline, keep_running=keep_running)


def store_result(enhanced: EnhancedImage, output: OutputFormat, owner_type: OwnerType, owner_key: str,
                 store: ImageStore, convert: ImageConverter) -> str:
    """The model's output in the chosen format under the owner's results; ProviderFailed for anything that is
    not an image. An output already in that format is stored as it came (re-encoding a JPEG or WebP would only
    lose detail); another is converted."""
    result_type = sniff_type(enhanced.data)
    if result_type is None:
        raise ProviderFailed("The model returned something that is not an image")
    data = enhanced.data if result_type == output.content_type else convert(enhanced.data, output)
    key = new_image_key(ImageCategory.RESULTS, owner_type, owner_key, output.extension)
    store.put(key, data, output.content_type)
    return key


# Hands work that cannot finish by the deadline to a job: (prepared, reservation, original key, the prediction
# left running or None) → the job, which carries on with the same charge and the same stored original.
HandOver = Callable[[PreparedEnhancement, Reservation, str, str | None], "Job"]


@value_class
class HandedOver:
    job: Job


def generate(request: GenerateRequest, identity: Identity, deps: GenerateDeps, deadline: float, *,
             hand_over: HandOver | None = None) -> GenerateResult | HandedOver:
    """prepare → reserve → store the original → run → store the result → settle. Any failure after the
    reservation gives the charge back (exactly once) and removes what this request stored — except work the
    deadline cuts short when `hand_over` is given: that becomes a job, charged once, the reservation kept."""
    prepared = prepare(request, identity, deps)
    reservation = reserve(request, identity, deps, prepared)
    stored_here: list[str] = []
    try:
        original_key = store_original(prepared, identity, deps.store)
        stored_here.append(original_key)
        try:
            enhanced = run(prepared, original_key, deps.store, deadline, keep_running=hand_over is not None)
        except (ProviderTimedOut, TooSlowForDeadline) as cut_short:
            if hand_over is None:
                raise
            logger.info("generate_handed_over", extra={"reason": type(cut_short).__name__})
            prediction_id = cut_short.prediction_id if isinstance(cut_short, ProviderTimedOut) else None
            return HandedOver(hand_over(prepared, reservation, original_key, prediction_id))
        result_key = store_result(enhanced, prepared.output, identity.owner_type, identity.owner_key, deps.store,
                                  deps.convert)
    except BaseException:
        deps.ledger.give_back(reservation)
        for key in stored_here:
            delete_quietly(deps.store, key)
        raise
    deps.ledger.settle(reservation)
    metrics.add_metric(name="usage_increment", unit="Count", value=1)
    return GenerateResult(model=prepared.model, entitlements=prepared.entitlements, original_key=original_key,
                          result_key=result_key, reservation=reservation)


def _caps(request: GenerateRequest, identity: Identity, deps: GenerateDeps) -> tuple[SpendCap, ...]:
    """The guest caps a charge takes: a guest's two, a signed-in user's none."""
    return () if identity.user is not None else guest_caps(
        request.client_ip, time.time(), per_ip_per_hour=deps.guest_bounds.per_ip_per_hour,
        per_day=deps.guest_bounds.per_day)


def reserve(request: GenerateRequest, identity: Identity, deps: GenerateDeps,
            prepared: PreparedEnhancement) -> Reservation:
    """The charge, taken before the provider runs; a guest's also takes the guest caps."""
    return deps.ledger.reserve(
        charge_id=str(uuid.uuid4()), owner_type=identity.owner_type.value, owner_key=identity.owner_key,
        user_id=identity.user.id if identity.user else None, cost_tenths=prepared.cost_tenths,
        entitlements=prepared.entitlements, caps=_caps(request, identity, deps))


def quote(request: GenerateRequest, identity: Identity, deps: GenerateDeps,
          prepared: PreparedEnhancement) -> ChargeQuote:
    """The step a dry run takes instead of `reserve`: the charge it would take, with the same caps and cost,
    and the refusal it would meet, read and written nowhere."""
    return deps.ledger.quote(
        owner_type=identity.owner_type.value, owner_key=identity.owner_key,
        user_id=identity.user.id if identity.user else None, cost_tenths=prepared.cost_tenths,
        entitlements=prepared.entitlements, caps=_caps(request, identity, deps))


@value_class
class Quoted:
    """A dry run's answer: the request passed every check of the real call, and this is what it would cost."""

    model: ModelSpec
    entitlements: Entitlements
    quote: ChargeQuote


def dry_run(request: GenerateRequest, identity: Identity, deps: GenerateDeps) -> Quoted:
    """prepare → quote: every check generate makes (model, options, plan, image, provider), then its price,
    and nothing stored, reserved or charged. A refusal of the charge is the answer, not an error."""
    prepared = prepare(request, identity, deps)
    return Quoted(model=prepared.model, entitlements=prepared.entitlements,
                  quote=quote(request, identity, deps, prepared))


def delete_quietly(store: ImageStore, key: str) -> None:
    try:
        store.delete(key)
    except Exception:  # the original error matters more than a leftover object (lifecycle rules expire it)
        logger.exception("cleanup_failed", extra={"key": key})
