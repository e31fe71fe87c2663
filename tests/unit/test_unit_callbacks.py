"""Completion callbacks: which URLs and addresses are allowed, the Standard Webhooks signature (against the
specification's published test vector and an implementation written here from the specification), the signing
secret, and one delivery attempt on fakes (domain/callbacks.py, services/callbacks.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from enhancer.domain import callbacks
from enhancer.domain.callbacks import (
    MAX_DELIVERY_ATTEMPTS,
    CallbackAttempt,
    attempts_from_json,
    attempts_to_json,
    parse_callback_url,
    parse_test_hosts,
    refusal,
    retry_in_seconds,
    sign,
    signing_secret,
)
from enhancer.domain.errors import AuthRequired, ValidationFailed
from enhancer.domain.identity import Identity, User
from enhancer.domain.jobs import Job, JobStatus, RunMode
from enhancer.domain.plans import OwnerType, Plan
from enhancer.domain.quota import ChargeSplit, Reservation
from enhancer.services.callbacks import CallbackDeps, checked_callback_url, deliver
from tests.fakes import FakeCallbackSender, FakeJobs, FakeResolver

USER = Identity(owner_type=OwnerType.USER, owner_key="user-1", user=User("user-1", "a@example.com", Plan.PRO),
                guest_key=None)
GUEST = Identity(owner_type=OwnerType.GUEST, owner_key="0123456789abcdef0123456789abcdef", user=None,
                 guest_key="0123456789abcdef0123456789abcdef")
OWNER_SECRET = "an-owner-key-secret-of-at-least-32-characters"


# --- the URL ------------------------------------------------------------------------------------------------

def test_an_https_url_is_split_into_what_the_sender_needs():
    target = parse_callback_url("https://Hooks.Example.com:8443/a/b?x=1")

    assert (target.host, target.port, target.path) == ("hooks.example.com", 8443, "/a/b?x=1")
    assert parse_callback_url("https://example.com").path == "/"
    assert parse_callback_url("https://[2606:4700::1]/x").host == "2606:4700::1"


@pytest.mark.parametrize("url", [
    "http://example.com/hook", "ftp://example.com/", "https://", "https:///path", "https://user:pw@example.com/",
    "https://user@example.com/", "https://example.com/a b", "https://example.com/\x00", "https://example.com:99999/",
    "https://example.com/#frag", "example.com/hook", "//example.com/hook", "https://exa..mple.com/",
    "https://example.com/" + "a" * 2048, "", 42, None, ["https://example.com/"],
])
def test_anything_but_a_plain_https_url_is_refused_naming_the_field(url):
    with pytest.raises(ValidationFailed) as refused:
        parse_callback_url(url)

    assert refused.value.details == {"field": "callbackUrl"}


# --- the addresses ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.8.9.10", "::1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "169.254.0.1",
    "100.64.0.1", "100.127.255.254", "0.0.0.0",  # noqa: S104 - refused, not bound
    "224.0.0.1", "255.255.255.255", "240.0.0.1", "192.0.2.1",
    "198.18.0.1", "fd00:ec2::254", "fc00::1", "fe80::1", "ff02::1", "::", "::ffff:127.0.0.1",
    "::ffff:169.254.169.254", "::ffff:10.0.0.1", "::10.0.0.1", "::127.0.0.1", "64:ff9b::a9fe:a9fe",
    "2002:a9fe:a9fe::1", "2001:db8::1", "fe80::1%eth0", "not-an-address",
])
def test_every_address_that_is_not_public_is_refused(address):
    assert refusal(address) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8",
                                     "1.1.1.1"])
def test_public_addresses_are_allowed(address):
    assert refusal(address) is None


def test_the_test_allowance_is_for_loopback_alone():
    assert refusal("127.0.0.1", allow_loopback=True) is None
    assert refusal("::1", allow_loopback=True) is None
    for address in ("169.254.169.254", "10.0.0.1", "fd00:ec2::254", "0.0.0.0"):  # noqa: S104
        assert refusal(address, allow_loopback=True) is not None, address


def test_the_create_time_check_refuses_literals_private_names_and_mixed_answers():
    resolver = FakeResolver({"public.example": ["93.184.216.34"], "metadata.example": ["169.254.169.254"],
                             "mixed.example": ["93.184.216.34", "10.0.0.5"], "receiver.test": ["127.0.0.1"],
                             "rebind.test": ["169.254.169.254"]}, test_mapped=["receiver.test", "rebind.test"])

    assert checked_callback_url("https://public.example/hook", USER, resolver) == "https://public.example/hook"
    assert checked_callback_url("https://receiver.test:8443/hook", USER, resolver) == "https://receiver.test:8443/hook"
    for url in ("https://127.0.0.1/hook", "https://[::1]/hook", "https://169.254.169.254/latest/meta-data/",
                "https://metadata.example/", "https://mixed.example/", "https://rebind.test/",
                "https://[::ffff:169.254.169.254]/"):
        with pytest.raises(ValidationFailed) as refused:
            checked_callback_url(url, USER, resolver)
        assert refused.value.details == {"field": "callbackUrl"}, url
        assert "169.254" not in refused.value.message and "10.0.0.5" not in refused.value.message
    with pytest.raises(ValidationFailed, match="does not resolve"):
        checked_callback_url("https://nowhere.example/", USER, resolver)


def test_only_port_443_is_allowed_outside_the_test_map():
    resolver = FakeResolver({"public.example": ["93.184.216.34"]})

    # FunctionSecurityGroup lets the functions out on 443 alone; any other port could only time out.
    with pytest.raises(ValidationFailed, match="443"):
        checked_callback_url("https://public.example:8443/hook", USER, resolver)
    assert checked_callback_url("https://public.example:443/hook", USER, resolver)


def test_a_guest_may_not_name_a_callback_and_no_url_means_none():
    resolver = FakeResolver({"public.example": ["93.184.216.34"]})

    with pytest.raises(AuthRequired):
        checked_callback_url("https://public.example/hook", GUEST, resolver)
    assert checked_callback_url(None, GUEST, resolver) is None
    assert checked_callback_url("", USER, resolver) is None
    assert resolver.lookups == []


def test_the_test_host_map_takes_name_equals_address_only():
    assert parse_test_hosts("receiver.test=127.0.0.1, Other.Test.=::1") == {"receiver.test": "127.0.0.1",
                                                                           "other.test": "::1"}
    assert parse_test_hosts(None) == {} and parse_test_hosts("") == {}
    for bad in ("receiver.test", "receiver.test=localhost", "=127.0.0.1"):
        with pytest.raises(ValueError):
            parse_test_hosts(bad)


# --- the signature ------------------------------------------------------------------------------------------

def test_the_signature_matches_the_standard_webhooks_test_vector():
    # Published with the specification (standard-webhooks/standard-webhooks, and every library's tests).
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}') == \
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def _independent_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """The specification's recipe, written out here: key = base64 of what follows `whsec_`, content =
    id.timestamp.body, HMAC-SHA256, base64, prefixed `v1,`."""
    key = base64.b64decode(secret.split("_", 1)[1])
    mac = hmac.new(key, msg_id.encode() + b"." + timestamp.encode() + b"." + body, "sha256").digest()
    return "v1," + base64.b64encode(mac).decode()


def test_the_signature_agrees_with_the_specifications_recipe_and_changes_with_every_input():
    secret = signing_secret(OWNER_SECRET, "user-1")
    body = b'{"id":"j1","status":"succeeded"}'
    signature = sign(secret, "j1.succeeded", 1_800_000_000, body)

    assert signature == _independent_signature(secret, "j1.succeeded", "1800000000", body)
    assert signature != sign(secret, "j1.succeeded", 1_800_000_001, body)
    assert signature != sign(secret, "j1.failed", 1_800_000_000, body)
    assert signature != sign(secret, "j1.succeeded", 1_800_000_000, body + b" ")


def test_the_signing_secret_is_per_user_derived_and_in_the_standard_form():
    secret = signing_secret(OWNER_SECRET, "user-1")

    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    assert secret == signing_secret(OWNER_SECRET, "user-1")
    assert secret != signing_secret(OWNER_SECRET, "user-2")
    assert secret != signing_secret(OWNER_SECRET + "x", "user-1")
    expected = hmac.new(OWNER_SECRET.encode(), b"callback-signing:user-1", hashlib.sha256).digest()
    assert base64.b64decode(secret[6:]) == expected


# --- attempts and backoff -----------------------------------------------------------------------------------

def test_the_backoff_is_bounded_and_doubles():
    waits = [retry_in_seconds(n, jitter=0.0) for n in range(1, MAX_DELIVERY_ATTEMPTS)]

    assert waits == [10, 20, 40, 80, 160]
    assert retry_in_seconds(MAX_DELIVERY_ATTEMPTS, jitter=0.0) is None and retry_in_seconds(0, jitter=0.0) is None
    assert [retry_in_seconds(n, jitter=1.0) for n in range(1, MAX_DELIVERY_ATTEMPTS)] == [5, 10, 20, 40, 80]


def test_attempts_survive_the_trip_through_their_column_and_show_status_or_error():
    attempts = (CallbackAttempt(at="2026-12-07T10:00:00.000000Z", ms=12, status=500),
                CallbackAttempt(at="2026-12-07T10:00:10.000000Z", ms=10_000, error="timed out"))

    assert attempts_from_json(attempts_to_json(attempts)) == attempts
    assert [a.as_dict() for a in attempts] == [{"at": "2026-12-07T10:00:00.000000Z", "status": 500, "ms": 12},
                                               {"at": "2026-12-07T10:00:10.000000Z", "error": "timed out",
                                                "ms": 10_000}]
    assert len(json.loads(attempts_to_json(attempts * 30))) == callbacks.MAX_ATTEMPTS_KEPT


# --- one delivery, on fakes ---------------------------------------------------------------------------------

def _job(status: JobStatus = JobStatus.SUCCEEDED, url: str | None = "https://hooks.example/done") -> Job:
    reservation = Reservation(charge_id="c1", owner_type="user", owner_key="user-1", user_id="user-1",
                              split=ChargeSplit(10, 0), daily_used=1, daily_reset_at=0, month="202612")
    return Job(id="job-1", owner_type="user", owner_key="user-1", user_id="user-1", provider="echo",
               mode=RunMode.INLINE, model="real-esrgan", options={"scale": 2}, reservation=reservation,
               input_key="ai-enhancer/uploads/user/user-1/a.png", input_content_type="image/png", input_size=10,
               created_at="2026-12-07T10:00:00.000000Z", deadline_at="2026-12-07T10:15:00.000000Z", status=status,
               output_key="ai-enhancer/results/user/user-1/b.png" if status is JobStatus.SUCCEEDED else None,
               callback_url=url)


def _deps(jobs: FakeJobs, sender: FakeCallbackSender, resolver: FakeResolver | None = None) -> CallbackDeps:
    return CallbackDeps(jobs=jobs, resolver=resolver or FakeResolver({"hooks.example": ["93.184.216.34"]}),
                        sender=sender, owner_key_secret=OWNER_SECRET,
                        image_url=lambda key: f"https://app.example/r2-ai/{key}", jitter=lambda: 0.0)


def test_a_delivered_callback_is_signed_sent_to_the_checked_address_and_recorded():
    jobs, sender = FakeJobs(), FakeCallbackSender([204])
    jobs.insert(_job())

    assert deliver(_deps(jobs, sender), "job-1") == {"delivered": True, "retryInSeconds": None}

    [sent] = sender.sent
    assert sent.address == "93.184.216.34" and sent.target.host == "hooks.example"
    headers = sent.headers
    assert headers["webhook-id"] == "job-1.succeeded" and headers["content-type"] == "application/json"
    assert headers["webhook-signature"] == _independent_signature(
        signing_secret(OWNER_SECRET, "user-1"), headers["webhook-id"], headers["webhook-timestamp"], sent.body)
    body = json.loads(sent.body)
    assert body["id"] == "job-1" and body["status"] == "succeeded" and "callback" not in body
    assert body["output"] == {"url": "https://app.example/r2-ai/ai-enhancer/results/user/user-1/b.png"}
    [attempt] = jobs.get("job-1").callback_attempts
    assert attempt.status == 204 and attempt.delivered
    # A retried task does not send again.
    assert deliver(_deps(jobs, sender), "job-1") == {"delivered": True, "retryInSeconds": None}
    assert len(sender.sent) == 1


def test_failed_attempts_are_recorded_and_answered_with_the_wait_until_the_attempts_are_spent():
    jobs, sender = FakeJobs(), FakeCallbackSender([500, "timed out"])
    jobs.insert(_job(JobStatus.FAILED))

    answers = [deliver(_deps(jobs, sender), "job-1") for _ in range(MAX_DELIVERY_ATTEMPTS + 1)]

    assert [a["retryInSeconds"] for a in answers] == [10, 20, 40, 80, 160, None, None]
    assert len(sender.sent) == MAX_DELIVERY_ATTEMPTS  # the seventh call sends nothing
    attempts = jobs.get("job-1").callback_attempts
    assert [a.status for a in attempts] == [500] + [None] * 5
    assert [a.error for a in attempts][1:] == ["timed out"] * 5
    assert {s.headers["webhook-id"] for s in sender.sent} == {"job-1.failed"}  # one message, many attempts


def test_a_host_that_now_resolves_to_the_metadata_service_gets_nothing():
    jobs, sender = FakeJobs(), FakeCallbackSender([200])
    jobs.insert(_job())
    rebound = FakeResolver({"hooks.example": ["169.254.169.254"]})

    assert deliver(_deps(jobs, sender, rebound), "job-1") == {"delivered": False, "retryInSeconds": 10}

    assert sender.sent == []
    [attempt] = jobs.get("job-1").callback_attempts
    assert attempt.error == "no public address" and attempt.status is None


def test_nothing_is_sent_for_a_job_without_a_callback_one_still_running_or_one_gone():
    jobs, sender = FakeJobs(), FakeCallbackSender([200])
    jobs.insert(_job(url=None))
    jobs.insert(_job(JobStatus.PROCESSING).with_changes(id="job-2"))

    for job_id in ("job-1", "job-2", "job-3"):
        assert deliver(_deps(jobs, sender), job_id) == {"delivered": False, "retryInSeconds": None}
    assert sender.sent == []


def test_the_job_view_shows_the_callback_to_its_owner():
    from enhancer.domain.jobs import job_object

    job = _job().with_changes(callback_attempts=(CallbackAttempt(at="2026-12-07T10:00:01.000000Z", ms=5,
                                                                 status=200),))

    shown = job_object(job, lambda key: key)

    assert shown["callback"] == {"url": "https://hooks.example/done", "delivered": True,
                                 "attempts": [{"at": "2026-12-07T10:00:01Z", "status": 200, "ms": 5}]}
    assert "callback" not in job_object(_job(url=None), lambda key: key)


# --- the state machine's callback path ------------------------------------------------------------------------

def _states() -> dict:
    from local.template import ROOT

    return json.loads((ROOT / "statemachine" / "enhance-job.asl.json").read_text())["States"]


@pytest.mark.parametrize(("copy", "original"), [("RunModelThenCallback", "RunModel"),
                                                ("AwaitPredictionThenCallback", "AwaitPrediction"),
                                                ("StoreResultThenCallback", "StoreResult")])
def test_each_then_callback_state_is_its_original_with_only_its_next_state_changed(copy, original):
    states = _states()

    def same(state: dict) -> dict:
        return {k: v for k, v in state.items() if k not in ("Comment", "Next", "End")}

    assert same(states[copy]) == same(states[original])
    assert states[copy]["Next"] in ("CallbackJob", "StoreResultThenCallback")


def test_only_jobs_with_a_callback_reach_a_callback_state_and_the_loop_is_bounded_by_the_task():
    states = _states()
    route = states["Route"]["Choices"]
    to_copies = [c for c in route if c["Next"].endswith("ThenCallback")]
    assert all({"Variable": "$.callback", "IsPresent": True} in c["And"] for c in to_copies)
    assert route.index(to_copies[-1]) < min(i for i, c in enumerate(route) if not c["Next"].endswith("ThenCallback"))
    assert states["FailJob"]["Next"] == "CallbackWantedAfterFailure"
    assert states["CallbackWantedAfterFailure"]["Default"] == "Failed"

    job = states["CallbackJob"]
    # A receiver that is down is an answer (retryInSeconds), never a task error: the task's own Retry is short.
    assert max(r.get("MaxAttempts", 3) * r.get("MaxDelaySeconds", 0) for r in job["Retry"]) <= 24
    assert job["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "CallbackEnd"}]
    again = states["CallbackAgain"]["Choices"]
    assert again[0] == {"Variable": "$.callbackResult.retryInSeconds", "IsNumeric": True, "Next": "CallbackWait"}
    assert states["CallbackWait"] == {"Type": "Wait", "SecondsPath": "$.callbackResult.retryInSeconds",
                                      "Next": "CallbackJob"}
    # The whole wait is bounded: 10 + 20 + 40 + 80 + 160 s at most, over six attempts.
    assert sum(retry_in_seconds(n, jitter=0.0) or 0 for n in range(1, 10)) == 310
