"""Replicate webhook verification (the SDK's helper, with an explicit tolerance) against webhooks signed by an
independent implementation of Replicate's scheme: HMAC-SHA256 over `id.timestamp.body`, keyed with the base64
part of the `whsec_` secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest

from enhancer.adapters.providers.replicate.webhooks import verify_webhook
from enhancer.domain.errors import ServiceUnavailable, ValidationFailed

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
OTHER = "whsec_" + base64.b64encode(b"another secret of thirty-two bytes").decode()
BODY = json.dumps({"id": "p1", "status": "succeeded", "output": ["https://replicate.delivery/x.png"]}).encode()


def signed(body: bytes = BODY, *, secret: str = SECRET, timestamp: float | None = None,
           msg_id: str = "msg_1") -> dict[str, str]:
    ts = str(int(time.time() if timestamp is None else timestamp))
    key = base64.b64decode(secret.split("_", 1)[1])
    mac = hmac.new(key, f"{msg_id}.{ts}.{body.decode()}".encode(), hashlib.sha256).digest()
    return {"webhook-id": msg_id, "webhook-timestamp": ts, "webhook-signature": "v1," + base64.b64encode(mac).decode()}


def test_a_genuine_fresh_webhook_gives_its_prediction():
    assert verify_webhook(signed(), BODY, SECRET)["status"] == "succeeded"


def test_any_one_matching_signature_is_enough():
    headers = signed()
    headers["webhook-signature"] = "v1,AAAA " + headers["webhook-signature"]
    assert verify_webhook(headers, BODY, SECRET)["id"] == "p1"


# The headers are signed when the test runs (a lambda), not at collection: a long session would make them stale.
@pytest.mark.parametrize(("headers", "body", "message"), [
    (lambda: signed(secret=OTHER), BODY, "signature is not valid"),
    (signed, BODY.replace(b"succeeded", b"failed"), "signature is not valid"),
    (lambda: {k: v for k, v in signed().items() if k != "webhook-signature"}, BODY, "missing its signature headers"),
    (dict, BODY, "missing its signature headers"),
], ids=["other-secret", "altered-body", "no-signature", "no-headers"])
def test_forged_altered_or_unsigned_webhooks_are_refused(headers, body, message):
    with pytest.raises(ValidationFailed, match=message) as caught:
        verify_webhook(headers(), body, SECRET)
    assert "v1," not in caught.value.message


@pytest.mark.parametrize("offset", [-302, 302, -3600])  # whole seconds: 1 s of rounding slack
def test_a_webhook_signed_more_than_five_minutes_away_from_now_is_refused(offset):
    with pytest.raises(ValidationFailed, match="too old or from the future"):
        verify_webhook(signed(timestamp=time.time() + offset), BODY, SECRET)


def test_a_webhook_signed_just_inside_the_tolerance_passes():
    assert verify_webhook(signed(timestamp=time.time() - 290), BODY, SECRET)["id"] == "p1"


def test_a_secret_replicate_never_issues_is_a_misconfiguration():
    with pytest.raises(ServiceUnavailable):
        verify_webhook(signed(), BODY, "whsec_a_b")


def test_a_body_that_is_not_a_prediction_is_refused_even_when_signed():
    body = b"[1, 2]"
    with pytest.raises(ValidationFailed, match="not a prediction"):
        verify_webhook(signed(body), body, SECRET)
