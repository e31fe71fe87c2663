"""`dryRun=true` on POST /api/ai-image/generate and POST /api/ai-image/jobs through the real handlers (moto,
SQLite): the charge it would take and whether it is affordable, 200 either way, and nothing stored, reserved
or charged — the usage route answers the same before and after, S3 and DynamoDB hold what they held (but for
the rate-limit windows, which count a dry run as any request), no job row and no execution."""

from __future__ import annotations

import time

import pytest

from enhancer import bootstrap
from enhancer.adapters.dynamo_keys import monthly_usage_key
from enhancer.domain.clock import month_key
from tests.integration.conftest import BUCKET, TABLE, guest_key, load_event, multipart, png_bytes
from tests.integration.test_generate_handler import GUEST, TOKEN, _grant, _signed_in, _upload, generate_event

PNG = png_bytes(64, 64)


@pytest.fixture(autouse=True)
def _echo_by_default(provider):
    """Every test starts on the echo provider, which runs every model (`provider` chooses another)."""


def _objects(aws) -> list[str]:
    return sorted(o["Key"] for o in aws.s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def _items(aws) -> dict[str, dict]:
    """Every item but the rate-limit windows (`rl:…`), by key."""
    items: dict[str, dict] = {}
    kwargs: dict = {"TableName": TABLE, "ConsistentRead": True}
    while True:
        page = aws.dynamodb.scan(**kwargs)
        items.update({item["pk"]["S"]: item for item in page["Items"] if not item["pk"]["S"].startswith("rl:")})
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _usage(invoke, cookies: dict[str, str]) -> dict:
    reply = invoke("UsageFunction", load_event("usage-get", cookies=cookies))
    assert reply.status == 200, reply.body[:300]
    return reply.json()["data"]


def _dry(invoke, fields: dict[str, str], cookies: dict[str, str] | None = None, **kwargs):
    return invoke("GenerateFunction", generate_event({"dryRun": "true", **fields}, cookies=cookies, **kwargs))


def test_a_guests_dry_run_answers_the_charge_and_changes_nothing(invoke, aws):
    invoke("GenerateFunction", generate_event({"model": "real-esrgan"}))  # some usage to keep
    cookies = {"guest_id": GUEST}
    before = (_usage(invoke, cookies), _objects(aws), _items(aws))

    reply = _dry(invoke, {"model": "real-esrgan", "scale": "2"})

    assert reply.status == 200, reply.body[:300]
    data = reply.json()["data"]
    assert data == {"dryRun": True, "model": "real-esrgan",
                    "charge": {"total": 1.0, "planPortion": 1.0, "creditsPortion": 0.0},
                    "affordable": True, "refusal": None,
                    "entitlements": {"monthlyImages": 90, "dailyBurstCap": 3, "maxUpscale": 2, "faceEnhance": False}}
    assert "imageUrl" not in data and "usage" not in data
    assert (_usage(invoke, cookies), _objects(aws), _items(aws)) == before
    assert len([k for k in before[1] if f"/guest/{guest_key(GUEST)}/" in k]) == 2  # the real one's two images


def test_a_users_dry_run_past_the_allowance_is_paid_with_credits_and_takes_none(invoke, aws, accounts):
    user_id, cookies = _signed_in(accounts, "free", "dry-credits@example.com")
    aws.dynamodb.put_item(TableName=TABLE, Item={
        "pk": {"S": monthly_usage_key("user", user_id, month_key(time.time()))}, "usedTenths": {"N": "295"}})
    _grant(user_id, 15)
    before = (_usage(invoke, cookies), _objects(aws), _items(aws))

    reply = _dry(invoke, {"model": "gfpgan"}, cookies=cookies)

    assert reply.status == 200, reply.body[:300]
    data = reply.json()["data"]
    assert data["charge"] == {"total": 1.0, "planPortion": 0.5, "creditsPortion": 0.5}
    assert data["affordable"] is True and data["refusal"] is None
    assert (_usage(invoke, cookies), _objects(aws), _items(aws)) == before
    # The real call then takes exactly what was quoted.
    real = invoke("GenerateFunction", generate_event({"model": "gfpgan"}, cookies=cookies))
    assert real.status == 200 and real.json()["data"]["charge"] == data["charge"]


def test_an_unaffordable_dry_run_is_200_with_the_refusal_the_real_call_answers(invoke, aws, accounts):
    user_id, cookies = _signed_in(accounts, "free", "dry-broke@example.com")
    aws.dynamodb.put_item(TableName=TABLE, Item={
        "pk": {"S": monthly_usage_key("user", user_id, month_key(time.time()))}, "usedTenths": {"N": "300"}})
    before = (_objects(aws), _items(aws))

    dry = _dry(invoke, {"model": "gfpgan"}, cookies=cookies)
    assert (_objects(aws), _items(aws)) == before
    real = invoke("GenerateFunction", generate_event({"model": "gfpgan"}, cookies=cookies))

    assert dry.status == 200, dry.body[:300]
    data = dry.json()["data"]
    assert data["affordable"] is False
    assert data["charge"] == {"total": 1.0, "planPortion": 0.0, "creditsPortion": 1.0}
    assert real.status == 403
    assert data["refusal"] == real.json()["error"]
    assert data["refusal"]["type"] == "forbidden" and data["refusal"]["details"]["scope"] == "monthly"


def test_a_guest_past_the_day_is_told_which_limit_refuses(invoke, aws):
    for _ in range(3):
        assert invoke("GenerateFunction", generate_event({"model": "real-esrgan"})).status == 200

    data = _dry(invoke, {"model": "real-esrgan"}).json()["data"]

    assert data["affordable"] is False
    assert data["refusal"]["type"] == "forbidden"
    assert data["refusal"]["details"]["scope"] == "daily" and data["refusal"]["details"]["used"] == 3


def test_a_guest_ip_cap_refusal_is_data_not_a_429(invoke, aws, monkeypatch):
    monkeypatch.setenv("GUEST_IMAGES_PER_IP_PER_HOUR", "1")
    bootstrap.reset()
    assert invoke("GenerateFunction", generate_event({"model": "real-esrgan"})).status == 200

    reply = _dry(invoke, {"model": "real-esrgan"})

    assert reply.status == 200 and reply.header("Retry-After") is None
    refusal = reply.json()["data"]["refusal"]
    assert refusal["type"] == "rate_limit" and refusal["details"]["scope"] == "guestIp"


@pytest.mark.parametrize(("fields", "field"), [
    ({"model": "real-esrgan", "dryRun": "maybe"}, "dryRun"),
    ({"model": "real-esrgan", "dryRun": "2"}, "dryRun"),
    ({"model": "no-such-model", "dryRun": "true"}, "model"),
    ({"model": "real-esrgan", "scale": "3", "dryRun": "true"}, "scale"),
])
def test_a_dry_run_fails_where_the_real_call_would(invoke, aws, fields, field):
    reply = invoke("GenerateFunction", generate_event(fields))

    assert reply.status == 400, reply.body[:300]
    assert reply.json()["error"]["details"]["field"] == field
    assert _objects(aws) == []


def test_a_model_the_local_engine_cannot_run_is_503_before_any_charge_dry_or_not(invoke, aws, provider):
    provider("local")
    before = _items(aws)

    dry = _dry(invoke, {"model": "gfpgan"})
    real = invoke("GenerateFunction", generate_event({"model": "gfpgan"}))

    assert dry.status == real.status == 503
    assert dry.json()["error"] == real.json()["error"] and "Replicate" in dry.json()["error"]["message"]
    assert _items(aws) == before and _objects(aws) == []  # not even a charge given back: none was taken


def test_a_dry_run_beyond_the_plan_is_the_real_calls_403(invoke, aws):
    reply = _dry(invoke, {"model": "real-esrgan", "scale": "4"})

    assert reply.status == 403 and reply.json()["error"]["details"]["field"] == "scale"


def test_dry_run_false_is_the_real_call(invoke, aws):
    reply = invoke("GenerateFunction", generate_event({"model": "real-esrgan", "dryRun": "false"}))

    assert reply.status == 200 and "imageUrl" in reply.json()["data"]
    assert len(_objects(aws)) == 2


def test_a_json_dry_run_rechecks_the_upload_key_and_stores_nothing_new(invoke, aws):
    ticket = _upload(invoke)
    aws.s3.put_object(Bucket=BUCKET, Key=ticket["uploadKey"], Body=PNG, ContentType="image/png")
    other = _upload(invoke)  # a form never used: nothing was uploaded at its key
    before = (_objects(aws), _items(aws))

    ok = _dry(invoke, {}, json_body={"model": "real-esrgan", "uploadKey": ticket["uploadKey"], "dryRun": True})
    missing = _dry(invoke, {}, json_body={"model": "real-esrgan", "uploadKey": other["uploadKey"], "dryRun": True})
    not_bool = _dry(invoke, {}, json_body={"model": "real-esrgan", "uploadKey": ticket["uploadKey"], "dryRun": 1})

    assert ok.status == 200 and ok.json()["data"]["affordable"] is True, ok.body[:300]
    assert missing.status == 400 and missing.json()["error"]["details"]["field"] == "uploadKey"
    assert not_bool.status == 400 and not_bool.json()["error"]["details"]["field"] == "dryRun"
    assert (_objects(aws), _items(aws)) == before


# --- jobs -------------------------------------------------------------------------------------------------------

def jobs_event(fields: dict[str, str], *, cookies: dict[str, str] | None = None,
               headers: dict[str, str] | None = None) -> dict:
    body, content_type = multipart(fields, PNG)
    return load_event("jobs-create-post", cookies={"csrf_token": TOKEN, "guest_id": GUEST, **(cookies or {})},
                      headers={"content-type": content_type, "x-csrf-token": TOKEN, **(headers or {})}, body=body)


def test_a_job_dry_run_creates_no_job_and_starts_no_execution(invoke, aws, db, state_machine):
    before = (_usage(invoke, {"guest_id": GUEST}), _objects(aws), _items(aws))

    reply = invoke("JobsCreateFunction", jobs_event({"model": "real-esrgan", "dryRun": "true"}))

    assert reply.status == 200, reply.body[:300]
    data = reply.json()["data"]
    assert data["dryRun"] is True and data["affordable"] is True
    assert data["charge"] == {"total": 1.0, "planPortion": 1.0, "creditsPortion": 0.0}
    assert db.rows("SELECT id FROM ai_jobs") == [] and state_machine() == []
    assert (_usage(invoke, {"guest_id": GUEST}), _objects(aws), _items(aws)) == before


def test_a_job_dry_run_with_an_idempotency_key_records_nothing_so_the_key_then_creates(invoke, aws, db,
                                                                                       state_machine):
    key = {"idempotency-key": "dry-then-real-1"}
    before = _items(aws)

    dry = invoke("JobsCreateFunction", jobs_event({"model": "real-esrgan", "dryRun": "true"}, headers=key))
    assert dry.status == 200 and _items(aws) == before  # no idempotency record either
    real = invoke("JobsCreateFunction", jobs_event({"model": "real-esrgan"}, headers=key))
    bad_key = invoke("JobsCreateFunction", jobs_event({"model": "real-esrgan", "dryRun": "true"},
                                                      headers={"idempotency-key": " "}))

    assert real.status == 202, real.body[:300]
    assert len(db.rows("SELECT id FROM ai_jobs")) == 1 and len(state_machine()) == 1
    assert bad_key.status == 400 and bad_key.json()["error"]["details"]["field"] == "Idempotency-Key"


def test_an_unaffordable_job_dry_run_is_200_with_the_refusal(invoke, aws, db, state_machine):
    for _ in range(3):
        assert invoke("JobsCreateFunction", jobs_event({"model": "real-esrgan"})).status == 202

    reply = invoke("JobsCreateFunction", jobs_event({"model": "real-esrgan", "dryRun": "yes"}))

    assert reply.status == 200
    data = reply.json()["data"]
    assert data["affordable"] is False and data["refusal"]["details"]["scope"] == "daily"
    assert len(db.rows("SELECT id FROM ai_jobs")) == 3


def test_a_job_dry_run_where_jobs_are_not_configured_is_503(invoke, aws, db, monkeypatch):
    monkeypatch.delenv("STATE_MACHINE_ARN", raising=False)
    bootstrap.reset()

    reply = invoke("JobsCreateFunction", jobs_event({"model": "real-esrgan", "dryRun": "true"}))

    assert reply.status == 503 and reply.json()["error"]["type"] == "service_unavailable"
    assert db.rows("SELECT id FROM ai_jobs") == [] and _objects(aws) == []
