"""In-memory fakes for every port in `enhancer.services.ports`, so a use case runs in microseconds with no AWS,
no database and no model. Each records what was asked of it, in one shared `Journal` when given one, so tests
can assert the order of effects across ports."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from io import BytesIO

from enhancer.domain.api_keys import ApiKey
from enhancer.domain.callbacks import MAX_ATTEMPTS_KEPT, CallbackAttempt, CallbackSendFailed, CallbackTarget
from enhancer.domain.enhancement import EnhanceOptions
from enhancer.domain.errors import AppError
from enhancer.domain.guest_limits import SpendCap
from enhancer.domain.image_checks import ImageHeader, inspect_image
from enhancer.domain.jobs import ACTIVE, MOVES_FROM, Job, JobError, JobStatus, PageAfter
from enhancer.domain.output_format import OutputFormat
from enhancer.domain.plans import Entitlements
from enhancer.domain.quota import ChargeQuote, ChargeSplit, Reservation
from enhancer.domain.usage import UsageSnapshot
from enhancer.services.ports import (
    AccountRecord,
    EnhancedImage,
    KeyAccount,
    ObjectInfo,
    Prediction,
    Resolution,
    SourceImage,
    StoredObject,
)


@dataclass
class Journal:
    """What happened, in order: ("ledger.reserve", charge id), ("store.put", key), ("provider.run", slug), …"""

    entries: list[tuple[str, str]] = field(default_factory=list)

    def add(self, what: str, detail: str = "") -> None:
        self.entries.append((what, detail))

    @property
    def names(self) -> list[str]:
        return [what for what, _ in self.entries]


class FakeAccounts:
    """Sessions that exist map to an account; everything else is unknown."""

    def __init__(self, sessions: dict[str, AccountRecord] | None = None) -> None:
        self.sessions = dict(sessions or {})
        self.calls: list[tuple[str, float]] = []

    def session_account(self, session_id: str, now: float) -> AccountRecord | None:
        self.calls.append((session_id, now))
        return self.sessions.get(session_id)


class FakeRateWindows:
    def __init__(self) -> None:
        self.windows: dict[str, int] = {}

    def hit_rate_window(self, limiter: str, client: str, window_start: int, expires_at: int) -> int:
        key = f"{limiter}:{client}:{window_start}"
        self.windows[key] = self.windows.get(key, 0) + 1
        return self.windows[key]


class FakeUsageReader:
    """Answers every owner with the same snapshot and keeps what was asked."""

    def __init__(self, usage: UsageSnapshot | None = None) -> None:
        self.usage = usage or UsageSnapshot()
        self.calls: list[tuple[str, str, str, str | None]] = []

    def read_usage(self, owner_type: str, owner_key: str, month: str, user_id: str | None) -> UsageSnapshot:
        self.calls.append((owner_type, owner_key, month, user_id))
        return self.usage


class FakeImageStore:
    """Objects in a dict. `fail_puts` makes the n-th put (1-based) raise, `fail_deletes` every delete."""

    def __init__(self, journal: Journal | None = None, *, fail_puts: Sequence[int] = (),
                 fail_deletes: bool = False) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.journal = journal or Journal()
        self._fail_puts = set(fail_puts)
        self._fail_deletes = fail_deletes
        self._puts = 0

    def head(self, key: str) -> ObjectInfo | None:
        found = self.objects.get(key)
        return ObjectInfo(size=len(found[0]), etag=f'"{hash(found[0]) & 0xffffffff:08x}"',
                          content_type=found[1]) if found else None

    def get(self, key: str) -> StoredObject | None:
        info = self.head(key)
        return StoredObject(info=info, body=BytesIO(self.objects[key][0])) if info else None

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._puts += 1
        self.journal.add("store.put", key)
        if self._puts in self._fail_puts:
            raise OSError("the fake store refused this put")
        self.objects[key] = (data, content_type)

    def delete(self, key: str) -> None:
        self.journal.add("store.delete", key)
        if self._fail_deletes:
            raise OSError("the fake store refused this delete")
        self.objects.pop(key, None)

    def delete_prefix(self, prefix: str) -> int:
        keys = [key for key in self.objects if key.startswith(prefix)]
        for key in keys:
            self.delete(key)
        return len(keys)

    def presigned_get_url(self, key: str, expires_in: int) -> str:
        return f"https://bucket.s3.example/{key}?X-Amz-Expires={expires_in}"

    def presigned_post(self, key: str, content_type: str, max_bytes: int, expires_in: int) -> dict:
        return {"url": "https://bucket.s3.example/", "fields": {"key": key, "Content-Type": content_type}}


class FakeLedger:
    """Reservations as plain values; `refuse` makes reserve raise that error (nothing is taken then)."""

    def __init__(self, journal: Journal | None = None, *, refuse: AppError | None = None) -> None:
        self.journal = journal or Journal()
        self.refuse = refuse
        self.reserved: list[Reservation] = []
        self.settled: list[Reservation] = []
        self.given_back: list[Reservation] = []
        self.quoted: list[tuple[str, int, tuple[SpendCap, ...]]] = []

    def reserve(self, *, charge_id: str, owner_type: str, owner_key: str, user_id: str | None,
                cost_tenths: int, entitlements: Entitlements, caps: Sequence[SpendCap] = (),
                now: float | None = None) -> Reservation:
        self.journal.add("ledger.reserve", charge_id)
        if self.refuse is not None:
            raise self.refuse
        reservation = Reservation(charge_id=charge_id, owner_type=owner_type, owner_key=owner_key, user_id=user_id,
                                  split=ChargeSplit(plan_tenths=cost_tenths, credits_tenths=0),
                                  daily_used=len(self.reserved) + 1, daily_reset_at=2_000_000_000, month="209901",
                                  caps=tuple(caps))
        self.reserved.append(reservation)
        return reservation

    def quote(self, *, owner_type: str, owner_key: str, user_id: str | None, cost_tenths: int,
              entitlements: Entitlements, caps: Sequence[SpendCap] = (), now: float | None = None) -> ChargeQuote:
        """What reserve would answer, as data: the same plan-only split, or `refuse` as the refusal; takes
        nothing. `quoted` keeps each call's (owner_key, cost_tenths, caps)."""
        self.journal.add("ledger.quote", owner_key)
        self.quoted.append((owner_key, cost_tenths, tuple(caps)))
        return ChargeQuote(split=ChargeSplit(plan_tenths=cost_tenths, credits_tenths=0), refusal=self.refuse)

    def settle(self, reservation: Reservation) -> None:
        self.journal.add("ledger.settle", reservation.charge_id)
        self.settled.append(reservation)

    def give_back(self, reservation: Reservation, now: float | None = None) -> None:
        """Idempotent per charge, as DynamoLedger's marker makes it: `given_back` holds each charge once."""
        self.journal.add("ledger.give_back", reservation.charge_id)
        if reservation.charge_id not in {r.charge_id for r in self.given_back}:
            self.given_back.append(reservation)


class FakeProvider:
    """Returns `output` (or raises `error`) and keeps every source and options it was given."""

    def __init__(self, journal: Journal | None = None, *, output: bytes = b"", error: BaseException | None = None,
                 name: str = "fake", needs_source_url: bool = False) -> None:
        self.journal = journal or Journal()
        self.output, self.error = output, error
        self.name, self.needs_source_url = name, needs_source_url
        self.sources: list[SourceImage] = []
        self.options: list[EnhanceOptions] = []

    def check_model(self, model) -> None:  # type: ignore[no-untyped-def]
        """Runs any model."""

    def run(self, model, options, source: SourceImage, deadline: float, *,  # type: ignore[no-untyped-def]
            keep_running: bool = False) -> EnhancedImage:
        self.journal.add("provider.run", model.slug)
        self.sources.append(source)
        self.options.append(options)
        if self.error is not None:
            raise self.error
        return EnhancedImage(data=self.output, content_type="image/png")


class FakeRemoteProvider:
    """A RemoteProvider: predictions `p-1`, `p-2`, … that stay `processing` until a test sets `statuses[id]`, and
    whose output is `image`; `during_start` runs inside `start`, as what happens while the create is in flight."""

    needs_source_url = True

    def __init__(self, journal: Journal | None = None, *, image: bytes = b"", name: str = "replicate") -> None:
        self.journal = journal or Journal()
        self.image, self.name = image, name
        self.statuses: dict[str, str] = {}
        self.canceled: list[str] = []
        self.during_start: Callable[[], object] | None = None

    def check_model(self, model) -> None:  # type: ignore[no-untyped-def]
        """Runs any model, as Replicate does."""

    def start(self, model, options, image_url: str, *, webhook: str | None,  # type: ignore[no-untyped-def]
              deadline: float | None) -> Prediction:
        prediction_id = f"p-{len(self.statuses) + 1}"
        self.journal.add("provider.start", prediction_id)
        self.statuses[prediction_id] = "processing"
        if self.during_start is not None:
            self.during_start()
        return Prediction(prediction_id, "processing")

    def poll(self, prediction_id: str, *, deadline: float | None) -> Prediction:
        return Prediction(prediction_id, self.statuses[prediction_id])

    def cancel(self, prediction_id: str, *, deadline: float | None) -> None:
        self.journal.add("provider.cancel", prediction_id)
        self.canceled.append(prediction_id)
        self.statuses[prediction_id] = "canceled"

    def output(self, model, prediction: Prediction, *,  # type: ignore[no-untyped-def]
               deadline: float | None) -> EnhancedImage:
        return EnhancedImage(data=self.image, content_type="image/png")


def header_checker(data: bytes, *, max_pixels: int) -> ImageHeader:
    """The ImageChecker port with the pure header-level checks only (no Pillow decode)."""
    return inspect_image(data, max_pixels=max_pixels)


class FakeConverter:
    """The ImageConverter port without Pillow: keeps each call and answers `converted-to-<format>:` + the
    bytes (the store takes the result as the chosen type, which is what the tests look at)."""

    def __init__(self, journal: Journal | None = None) -> None:
        self.journal = journal or Journal()
        self.calls: list[tuple[bytes, OutputFormat]] = []

    def __call__(self, data: bytes, output: OutputFormat) -> bytes:
        self.journal.add("image.convert", output.name)
        self.calls.append((data, output))
        return f"converted-to-{output.name}:".encode() + data


class FakeWorkflow:
    """Executions as records: started (with their input), stopped; task tokens resumed or failed once."""

    def __init__(self, journal: Journal | None = None, *, refuse_start: BaseException | None = None) -> None:
        self.journal = journal or Journal()
        self.refuse_start = refuse_start
        self.started: dict[str, dict] = {}
        self.stopped: list[str] = []
        self.sent: dict[str, tuple[str, dict]] = {}
        self.waiting: set[str] = set()

    def start(self, job_id: str, run_input: dict) -> str:
        self.journal.add("workflow.start", job_id)
        if self.refuse_start is not None:
            raise self.refuse_start
        self.started[job_id] = run_input
        return f"arn:aws:states:us-east-1:123456789012:execution:enhance-job:{job_id}"

    def stop(self, execution_arn: str, *, cause: str) -> None:
        self.journal.add("workflow.stop", execution_arn)
        self.stopped.append(execution_arn)

    def _send(self, token: str, outcome: str, payload: dict) -> bool:
        if token not in self.waiting or token in self.sent:
            return False
        self.sent[token] = (outcome, payload)
        return True

    def resume(self, token: str, output: dict) -> bool:
        return self._send(token, "success", output)

    def fail(self, token: str, *, error: str, cause: str) -> bool:
        return self._send(token, "failure", {"error": error, "cause": cause})


class FakeTaskTokens:
    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}

    def put(self, job_id: str, token: str, expires_at: int) -> None:
        self.tokens[job_id] = token

    def get(self, job_id: str) -> str | None:
        return self.tokens.get(job_id)

    def remove(self, job_id: str) -> None:
        self.tokens.pop(job_id, None)


class FakeJobs:
    """The `Jobs` port in a dict, with SqlJobs' semantics: moves only from `MOVES_FROM`, under a lock, so of
    racing moves exactly one wins; pages newest first by (created_at, id); `extra` is not kept."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def insert(self, job: Job) -> None:
        with self._lock:
            if job.id in self.jobs:
                raise ValueError(f"job {job.id} exists")  # the primary key, as the table refuses it
            self.jobs[job.id] = job.with_changes(updated_at=job.updated_at or job.created_at, extra={})

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def page(self, owner_type: str, owner_key: str, *, status: JobStatus | None, limit: int,
             after: PageAfter | None) -> list[Job]:
        found = [job for job in self.jobs.values() if job.owned_by(owner_type, owner_key)
                 and (status is None or job.status is status)
                 and (after is None or (job.created_at, job.id) < (after.created_at, after.job_id))]
        return sorted(found, key=lambda job: (job.created_at, job.id), reverse=True)[:limit]

    def move(self, job_id: str, to: JobStatus, *, at: str, output_key: str | None = None,
             error: JobError | None = None) -> bool:
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None or job.status not in MOVES_FROM[to]:
                return False
            changes: dict[str, object] = {"status": to, "updated_at": at}
            if to is JobStatus.PROCESSING:
                changes["started_at"] = at
            if to.is_terminal:
                changes["completed_at"] = at
            if to is JobStatus.CANCELED:
                changes["canceled_at"] = at
            if output_key is not None:
                changes["output_key"] = output_key
            if error is not None:
                changes["error"] = error
            self.jobs[job_id] = job.with_changes(**changes)
            return True

    def record(self, job_id: str, *, prediction_id: str | None = None, execution_arn: str | None = None,
               at: str) -> None:
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None:
                return
            changes: dict[str, object] = {"updated_at": at}
            if prediction_id is not None:
                changes["prediction_id"] = prediction_id
            if execution_arn is not None:
                changes["execution_arn"] = execution_arn
            self.jobs[job_id] = job.with_changes(**changes)

    def record_callback(self, job_id: str, attempts: Sequence[CallbackAttempt], *, at: str) -> None:
        with self._lock:
            job = self.jobs.get(job_id)
            if job is not None:
                kept = tuple(attempts)[-MAX_ATTEMPTS_KEPT:]
                self.jobs[job_id] = job.with_changes(callback_attempts=kept, updated_at=at)

    def delete(self, job_id: str) -> bool:
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None or not job.status.is_terminal:
                return False
            del self.jobs[job_id]
            return True

    def overdue(self, now_iso: str, limit: int) -> list[Job]:
        found = [job for job in self.jobs.values() if job.status in ACTIVE and job.deadline_at < now_iso]
        return sorted(found, key=lambda job: (job.deadline_at, job.id))[:limit]


class FakeResolver:
    """The `HostResolver` port over a dict: host → addresses; a host not in it resolves to nothing. `test_mapped`
    names the hosts that stand for CALLBACK_TEST_HOSTS entries. Records every lookup, in order."""

    def __init__(self, hosts: dict[str, Sequence[str]] | None = None, *, test_mapped: Sequence[str] = ()) -> None:
        self.hosts = {name: tuple(addresses) for name, addresses in (hosts or {}).items()}
        self.test_mapped = set(test_mapped)
        self.lookups: list[str] = []

    def resolve(self, host: str) -> Resolution:
        self.lookups.append(host)
        return Resolution(addresses=self.hosts.get(host, ()), test_mapped=host in self.test_mapped)


@dataclass
class SentCallback:
    target: CallbackTarget
    address: str
    headers: dict[str, str]
    body: bytes


class FakeCallbackSender:
    """The `CallbackSender` port: answers each post with the next of `answers` (a status code, or an exception's
    reason for no response), the last one repeating; keeps what was sent."""

    def __init__(self, answers: Sequence[int | str] = (200,)) -> None:
        self.answers = list(answers)
        self.sent: list[SentCallback] = []

    def post(self, target: CallbackTarget, address: str, headers: Mapping[str, str], body: bytes, *,
             timeout: float) -> int:
        self.sent.append(SentCallback(target, address, dict(headers), body))
        answer = self.answers[min(len(self.sent), len(self.answers)) - 1]
        if isinstance(answer, str):
            raise CallbackSendFailed(answer)
        return answer


class FakeApiKeys:
    """The `ApiKeys` port in memory: records by id with their hashes, accounts by user id. `fail_touch` makes
    recording a use raise, as a dropped connection would."""

    def __init__(self, accounts: dict[str, AccountRecord] | None = None) -> None:
        self.keys: dict[str, ApiKey] = {}
        self.hashes: dict[str, str] = {}  # key hash → key id
        self.accounts = dict(accounts or {})
        self.touches: list[tuple[str, str, str]] = []
        self.fail_touch = False

    def insert(self, key: ApiKey, key_hash: str, *, max_active: int) -> bool:
        if sum(1 for k in self.keys.values() if k.user_id == key.user_id and k.revoked_at is None) >= max_active:
            return False
        self.keys[key.id], self.hashes[key_hash] = key, key.id
        return True

    def list_for(self, user_id: str) -> list[ApiKey]:
        return sorted((k for k in self.keys.values() if k.user_id == user_id), key=lambda k: k.created_at,
                      reverse=True)

    def revoke(self, user_id: str, key_id: str, at: str) -> ApiKey | None:
        key = self.keys.get(key_id)
        if key is None or key.user_id != user_id:
            return None
        if key.revoked_at is None:
            key = self.keys[key_id] = replace(key, revoked_at=at)
        return key

    def authenticate(self, key_hash: str) -> KeyAccount | None:
        key = self.keys.get(self.hashes.get(key_hash, ""))
        if key is None or key.revoked_at is not None:
            return None
        return KeyAccount(key_id=key.id, scopes=" ".join(key.scopes), last_used_at=key.last_used_at,
                          account=self.accounts[key.user_id])

    def touch(self, key_id: str, at: str, *, stale_before: str) -> bool:
        self.touches.append((key_id, at, stale_before))
        if self.fail_touch:
            raise ConnectionError("the database went away")
        key = self.keys[key_id]
        if key.last_used_at is not None and key.last_used_at >= stale_before:
            return False
        self.keys[key_id] = replace(key, last_used_at=at)
        return True
