"""Completion callbacks (README "Completion callbacks"; pure rules in domain/callbacks.py): the `callbackUrl` a job
create names, checked before anything is charged, and the signed POST the workflow's CallbackJob state sends when
the job has ended, and when to try again.

Both steps resolve the host and refuse it unless every address it resolves to is a public one; the sender then
connects to the address checked here, never to whatever the name resolves to a moment later.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any

from enhancer.domain.callbacks import (
    MAX_DELIVERY_ATTEMPTS,
    CallbackAttempt,
    CallbackSendFailed,
    CallbackTarget,
    message_id,
    parse_callback_url,
    refusal,
    retry_in_seconds,
    sign,
    signing_secret,
    unresolvable_error,
    unsafe_url_error,
    wrong_port_error,
)
from enhancer.domain.errors import AuthRequired, ValidationFailed
from enhancer.domain.identity import Identity
from enhancer.domain.jobs import job_object, now_iso
from enhancer.domain.values import value_class
from enhancer.observability import logger, metrics
from enhancer.services.ports import CallbackSender, HostResolver, Jobs, Resolution

TIMEOUT_SECONDS = 10.0
USER_AGENT = "ai-image-enhancer-callbacks/1"


def checked_callback_url(raw: object, identity: Identity, resolver: HostResolver) -> str | None:
    """The `callbackUrl` of a job create, checked: None when the request names none; 401 for a guest (the
    callback is signed with a signed-in user's secret); 400 naming the field when it is not https, or when its
    host resolves to nothing or to any address that is not public (private, loopback, link-local, metadata…)."""
    if raw is None or raw == "":
        return None
    if identity.user is None:
        raise AuthRequired("Sign in to have a job call back ('callbackUrl')", details={"field": "callbackUrl"})
    target = parse_callback_url(raw)
    safe_addresses(target, resolver)
    return target.url


def safe_addresses(target: CallbackTarget, resolver: HostResolver) -> tuple[str, ...]:
    """The addresses a callback to `target` may go to, or ValidationFailed. A name is refused when any of its
    addresses is refused, so it cannot mix a public address with a private one and hope for the latter."""
    literal = target.literal
    # An address in the URL itself is never resolved, so never gets the test map's allowances.
    resolution = resolver.resolve(target.host) if literal is None else Resolution(addresses=(str(literal),))
    # The functions' security group lets them out on 443 alone: any other port could only time out. A name
    # from the development/test map may use the local receiver's port.
    if target.port != 443 and not resolution.test_mapped:
        raise wrong_port_error()
    if not resolution.addresses:
        raise unresolvable_error()
    if any(refusal(address, allow_loopback=resolution.test_mapped) for address in resolution.addresses):
        raise unsafe_url_error()
    return resolution.addresses


@value_class
class CallbackDeps:
    jobs: Jobs
    resolver: HostResolver
    sender: CallbackSender
    owner_key_secret: str  # the user's signing secret derives from it (domain.callbacks.signing_secret)
    image_url: Callable[[str], str]  # a stored image's absolute URL, as the job routes show it
    timeout_seconds: float = TIMEOUT_SECONDS
    jitter: Callable[[], float] = random.random


def callback_body(job_view: dict[str, Any]) -> bytes:
    """The job as its routes show it, without its own `callback` (the attempts so far), so every attempt of one
    message carries the same bytes."""
    shown = {name: value for name, value in job_view.items() if name != "callback"}
    return json.dumps(shown, separators=(",", ":"), sort_keys=True).encode()


def deliver(deps: CallbackDeps, job_id: str) -> dict[str, Any]:
    """CallbackJob: one signed attempt at the job's callback, recorded on the job. Answers `delivered` and
    `retryInSeconds`: when to try again after a failed attempt, None once delivered (a retried task does not
    send again), when the attempts are spent, or when there is nothing to send (no job, no callbackUrl, not
    ended). A receiver that is down or refuses is an answer, not an error: the task's errors stay for faults
    of ours, which the functions' alarms watch."""
    job = deps.jobs.get(job_id)
    if job is None or not job.callback_url or not job.status.is_terminal or job.user_id is None:
        return {"delivered": False, "retryInSeconds": None}
    if job.callback_delivered:
        return {"delivered": True, "retryInSeconds": None}
    if len(job.callback_attempts) >= MAX_DELIVERY_ATTEMPTS:
        return {"delivered": False, "retryInSeconds": None}
    started = time.time()
    clock = time.monotonic()
    status: int | None = None
    error: str | None = None
    try:
        target = parse_callback_url(job.callback_url)
        address = safe_addresses(target, deps.resolver)[0]
        timestamp = int(started)
        body = callback_body(job_object(job, deps.image_url))
        msg_id = message_id(job.id, job.status.value)
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(signing_secret(deps.owner_key_secret, job.user_id), msg_id, timestamp, body),
        }
        status = deps.sender.post(target, address, headers, body, timeout=deps.timeout_seconds)
    except ValidationFailed as refused:  # the host resolves elsewhere now: nothing is sent
        error = ("no public address" if "public" in refused.message
                 else "port not allowed" if "443" in refused.message else "does not resolve")
    except CallbackSendFailed as failed:
        error = failed.reason
    attempt = CallbackAttempt(at=now_iso(started), ms=round((time.monotonic() - clock) * 1000), status=status,
                              error=error)
    attempts = [*job.callback_attempts, attempt]
    deps.jobs.record_callback(job.id, attempts, at=now_iso(time.time()))
    if attempt.delivered:
        metrics.add_metric(name="callback_delivered", unit="Count", value=1)
        return {"delivered": True, "retryInSeconds": None}
    metrics.add_metric(name="callback_attempt_failed", unit="Count", value=1)
    retry = retry_in_seconds(len(attempts), deps.jitter())
    logger.warning("callback_not_delivered", extra={"job_id": job.id, "status": status, "error": error,
                                                    "attempt": len(attempts), "retry_in_seconds": retry})
    if retry is None:
        metrics.add_metric(name="callback_given_up", unit="Count", value=1)
    return {"delivered": False, "retryInSeconds": retry}
