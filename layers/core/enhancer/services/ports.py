"""The small interfaces services need from the outside world, and the values they exchange.

Adapters implement these and import them from here; nothing here imports an adapter. Domain types are imported
for annotations only, so an adapter that needs a record type loads no more than this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from enhancer.domain.values import value_class

if TYPE_CHECKING:
    from enhancer.domain.api_keys import ApiKey
    from enhancer.domain.billing import Recorded, SubscriptionState, Withdrawal
    from enhancer.domain.callbacks import CallbackAttempt, CallbackTarget
    from enhancer.domain.enhancement import EnhanceOptions
    from enhancer.domain.guest_limits import SpendCap
    from enhancer.domain.image_checks import ImageHeader
    from enhancer.domain.jobs import Job, JobError, JobStatus, PageAfter
    from enhancer.domain.models import ModelSpec
    from enhancer.domain.output_format import OutputFormat
    from enhancer.domain.plans import Entitlements
    from enhancer.domain.quota import ChargeQuote, Reservation
    from enhancer.domain.usage import UsageSnapshot


@value_class
class AccountRecord:
    """A signed-in user as the account store holds it: `users.plan` and the newest active subscription."""

    user_id: str
    email: str
    user_plan: str | None
    subscription_plan: str | None = None
    subscription_status: str | None = None


@value_class
class ObjectInfo:
    size: int
    etag: str
    content_type: str | None


@value_class
class StoredObject:
    info: ObjectInfo
    body: Any  # a stream with read() and close(); read() it or discard() it

    def read(self) -> bytes:
        try:
            data: bytes = self.body.read()
            return data
        finally:
            self.body.close()

    def discard(self) -> None:
        self.body.close()


class Accounts(Protocol):
    def session_account(self, session_id: str, now: float) -> AccountRecord | None: ...

    def sign_in(self, subject: str, email: str) -> AccountRecord:
        """The user a verified Cognito subject is (created, linked or its email kept current)."""
        ...

    def create_session(self, user_id: str, expires_at: int) -> str: ...

    def delete_session(self, session_id: str) -> bool: ...


@value_class
class KeyAccount:
    """A live API key and the account it acts for (the same fields a session yields)."""

    key_id: str
    scopes: str  # as stored: space-separated
    last_used_at: str | None
    account: AccountRecord


class ApiKeys(Protocol):
    """Personal API keys (docs/architecture.md §3, API keys); only a key's hash ever reaches the store."""

    def insert(self, key: ApiKey, key_hash: str, *, max_active: int) -> bool:
        """Store a new key unless its user already has `max_active` unrevoked ones (then False)."""
        ...

    def list_for(self, user_id: str) -> list[ApiKey]:
        """The user's keys, revoked ones included, newest first."""
        ...

    def revoke(self, user_id: str, key_id: str, at: str) -> ApiKey | None:
        """Revoke the user's key (idempotent: a revoked one keeps its time); None when the user has no such key."""
        ...

    def authenticate(self, key_hash: str) -> KeyAccount | None:
        """The unrevoked key with this hash and its account, in one round trip; None otherwise."""
        ...

    def touch(self, key_id: str, at: str, *, stale_before: str) -> bool:
        """Record a use: `last_used_at = at` only where it is unset or older than `stale_before`."""
        ...


class SignInProvider(Protocol):
    """The identity service's OAuth 2.0 login (Cognito's managed login): where to send the browser, and what
    a returned code proves. Failures raise SignInRefused with a reason."""

    def authorize_url(self, *, state: str, nonce: str, challenge: str) -> str: ...

    def logout_url(self, signed_out_url: str) -> str: ...

    def exchange(self, code: str, verifier: str) -> str:
        """The ID token the code buys."""
        ...

    def verify(self, id_token: str) -> dict[str, Any]:
        """The claims of a genuine, current ID token for this client."""
        ...


class RateWindows(Protocol):
    """Fixed rate-limit windows: count one request and learn the window's count."""

    def hit_rate_window(self, limiter: str, client: str, window_start: int, expires_at: int) -> int: ...


class UsageReader(Protocol):
    """An owner's stored counters (day, month, credit packs) as they stand, for reporting usage."""

    def read_usage(self, owner_type: str, owner_key: str, month: str, user_id: str | None) -> UsageSnapshot: ...


class ImageStore(Protocol):
    def head(self, key: str) -> ObjectInfo | None: ...

    def get(self, key: str) -> StoredObject | None: ...

    def presigned_get_url(self, key: str, expires_in: int) -> str: ...

    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def delete(self, key: str) -> None: ...

    def delete_prefix(self, prefix: str) -> int: ...

    def presigned_post(self, key: str, content_type: str, max_bytes: int, expires_in: int) -> dict[str, Any]: ...


@value_class
class SourceImage:
    """The checked original: its bytes, its real type and size, and (for remote models) a short-lived URL."""

    data: bytes
    content_type: str
    width: int
    height: int
    url: str | None = None


@value_class
class EnhancedImage:
    data: bytes
    content_type: str


@value_class
class Prediction:
    """A remote model run as the provider describes it: `status` is the provider's word (starting, processing,
    succeeded, failed, canceled); `output` what it returned, untouched (the image URL(s) once succeeded)."""

    id: str
    status: str
    output: Any = None

    @property
    def done(self) -> bool:
        return self.status in ("succeeded", "failed", "canceled", "aborted")


class RemoteProvider(Protocol):
    """A provider whose model runs elsewhere and can be left running (Replicate): what the job workflow uses.
    Errors are AppErrors as for `Provider.run`."""

    name: str

    def start(self, model: ModelSpec, options: EnhanceOptions, image_url: str, *, webhook: str | None,
              deadline: float | None) -> Prediction: ...

    def poll(self, prediction_id: str, *, deadline: float | None) -> Prediction: ...

    def cancel(self, prediction_id: str, *, deadline: float | None) -> None: ...

    def output(self, model: ModelSpec, prediction: Prediction, *, deadline: float | None) -> EnhancedImage:
        """The image of a succeeded prediction; ProviderFailed for a failed or canceled one, or no image."""
        ...


def as_remote(provider: object) -> RemoteProvider | None:
    """The provider as a `RemoteProvider` when its model runs elsewhere (it has the four calls), else None."""
    if all(callable(getattr(provider, name, None)) for name in ("start", "poll", "cancel", "output")):
        return provider  # type: ignore[return-value]  # checked structurally above
    return None


class Provider(Protocol):
    """Runs a model. `deadline` is a `time.monotonic()` value the call must return by (raising
    ProviderTimedOut when it cannot); errors are AppErrors with no upstream text in their messages."""

    name: str
    needs_source_url: bool  # the model fetches the original from `SourceImage.url` instead of the bytes

    def check_model(self, model: ModelSpec) -> None:
        """ServiceUnavailable when this provider cannot run the model at all (the local engine runs only some):
        asked while preparing, so such a request is refused before any charge, and a dry run refuses it too."""
        ...

    def run(self, model: ModelSpec, options: EnhanceOptions, source: SourceImage, deadline: float, *,
            keep_running: bool = False) -> EnhancedImage:
        """With `keep_running`, a remote model still running at the deadline is left running and the
        ProviderTimedOut raised carries its `prediction_id`, so a job can carry on with it."""
        ...


class Ledger(Protocol):
    def reserve(self, *, charge_id: str, owner_type: str, owner_key: str, user_id: str | None,
                cost_tenths: int, entitlements: Entitlements, caps: Sequence[SpendCap] = (),
                now: float | None = None) -> Reservation: ...

    def quote(self, *, owner_type: str, owner_key: str, user_id: str | None, cost_tenths: int,
              entitlements: Entitlements, caps: Sequence[SpendCap] = (), now: float | None = None) -> ChargeQuote:
        """What `reserve` would take now and the refusal it would meet, read in one consistent read and
        written nowhere (a dry run)."""
        ...

    def settle(self, reservation: Reservation) -> None: ...

    def give_back(self, reservation: Reservation, now: float | None = None) -> None: ...


class ImageChecker(Protocol):
    """Type, dimensions and integrity of an image, or ValidationFailed."""

    def __call__(self, data: bytes, *, max_pixels: int) -> ImageHeader: ...


class ImageConverter(Protocol):
    """A model's output re-encoded in the format the request chose (Pillow), or ProviderFailed when it does
    not decode."""

    def __call__(self, data: bytes, output: OutputFormat) -> bytes: ...


class Jobs(Protocol):
    """The jobs repository (table `ai_jobs`). Every status change is one conditional update: it moves the job
    only from the statuses `domain.jobs.MOVES_FROM` allows, so nothing leaves a terminal state and of two
    racing moves exactly one wins."""

    def insert(self, job: Job) -> None: ...

    def get(self, job_id: str) -> Job | None: ...

    def page(self, owner_type: str, owner_key: str, *, status: JobStatus | None, limit: int,
             after: PageAfter | None) -> list[Job]:
        """The owner's jobs, newest first (created_at, then id, both descending), after `after`."""
        ...

    def move(self, job_id: str, to: JobStatus, *, at: str, output_key: str | None = None,
             error: JobError | None = None) -> bool:
        """Move the job to `to` if its status allows it (stamping started/completed/canceled_at with `at`);
        False when it did not move (unknown job, or a status `to` cannot be reached from)."""
        ...

    def record(self, job_id: str, *, prediction_id: str | None = None, execution_arn: str | None = None,
               at: str) -> None:
        """Note the provider's prediction id or the workflow's execution ARN (whatever the status)."""
        ...

    def record_callback(self, job_id: str, attempts: Sequence[CallbackAttempt], *, at: str) -> None:
        """Keep the job's completion-callback attempts (all of them, replacing what was kept)."""
        ...

    def delete(self, job_id: str) -> bool:
        """Remove a job in a terminal state; False when it is unknown or still queued or processing."""
        ...

    def overdue(self, now_iso: str, limit: int) -> list[Job]:
        """Queued or processing jobs whose deadline passed before `now_iso`, oldest deadline first."""
        ...


class Workflow(Protocol):
    """The job workflow (Step Functions): start one execution per job, stop it, resume a waiting one."""

    def start(self, job_id: str, run_input: dict[str, Any]) -> str:
        """Start the execution named after the job; its ARN. Starting it again with the same input while it
        runs returns the same ARN (Step Functions' own idempotency)."""
        ...

    def stop(self, execution_arn: str, *, cause: str) -> None: ...

    def resume(self, token: str, output: dict[str, Any]) -> bool:
        """SendTaskSuccess; False when the token is no longer waited on (already resumed, timed out, stopped)."""
        ...

    def fail(self, token: str, *, error: str, cause: str) -> bool:
        """SendTaskFailure; False as for `resume`."""
        ...


class TaskTokens(Protocol):
    """The task token a waiting execution can be resumed with, per job (DynamoDB `ai:job-token:<jobId>`)."""

    def put(self, job_id: str, token: str, expires_at: int) -> None: ...

    def get(self, job_id: str) -> str | None: ...

    def remove(self, job_id: str) -> None: ...


class BillingAccounts(Protocol):
    """Stripe customers and subscriptions (SQL); each `record_…` is one transaction that also sets users.plan."""

    def user_exists(self, user_id: str) -> bool: ...

    def user_for_customer(self, customer_id: str) -> str | None: ...

    def customer_of(self, user_id: str) -> str | None: ...

    def subscription(self, subscription_id: str) -> SubscriptionState | None: ...

    def record_checkout(self, state: SubscriptionState) -> Recorded: ...

    def record_subscription(self, state: SubscriptionState, price_id: str | None) -> Recorded: ...

    def record_payment_failed(self, subscription_id: str, event_at: int) -> Recorded: ...


class CreditPurchases(Protocol):
    """Credit packs in (the ledger's one credit entry point) and refunded packs out, each once."""

    def add_credit_pack(self, user_id: str, pack_id: str, units_tenths: int, created_at: int, expires_at: int, *,
                        payment_ref: str | None = None) -> bool: ...

    def withdraw_refund(self, payment_ref: str, amount: int, amount_refunded: int) -> Withdrawal | None: ...


@value_class
class CheckoutRequest:
    """A Stripe Checkout session to create: one price, for one signed-in user."""

    mode: str  # "subscription" or "payment"
    price_id: str
    user_id: str
    email: str
    success_url: str
    cancel_url: str
    metadata: dict[str, str]


class Payments(Protocol):
    """Stripe's API (or, in development without a key, the local checkout page): where to send the browser."""

    def checkout_url(self, request: CheckoutRequest, *, idempotency_key: str) -> str: ...

    def portal_url(self, customer_id: str, return_url: str) -> str: ...

    def cancel_at_period_end(self, subscription_id: str) -> None: ...


@value_class
class Resolution:
    """The addresses a host name resolves to. `test_mapped`: they came from CALLBACK_TEST_HOSTS (development
    and tests only), which may point a name at a loopback receiver."""

    addresses: tuple[str, ...]
    test_mapped: bool = False


class HostResolver(Protocol):
    """Name resolution for completion callbacks (socket.getaddrinfo in AWS)."""

    def resolve(self, host: str) -> Resolution:
        """Every address `host` resolves to; empty when it resolves to none (or does not exist)."""
        ...


class CallbackSender(Protocol):
    """Sends one completion callback: an HTTPS POST to `address` (already checked), naming `target.host` in the
    Host header and TLS SNI so the certificate is verified for the name. No redirects followed."""

    def post(self, target: CallbackTarget, address: str, headers: Mapping[str, str], body: bytes, *,
             timeout: float) -> int:
        """The response's status code; `CallbackSendFailed` (domain/callbacks.py) when none came."""
        ...
