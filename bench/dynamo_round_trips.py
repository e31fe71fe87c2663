"""DynamoDB round trips per generate request (docs/architecture.md §10: at most 3 on the hot path), counted, not timed.

A worker interpreter runs the real GenerateFunction handler against moto (table and bucket built from
template.yaml's definitions), with hooks on the handler's shared boto3 clients counting every API call
(`before-call`) and every HTTP attempt (`before-send`, which would show retries) by operation. Each scenario
sets its state up first, with a separate client, and counts one request only.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from bench.common import Context, SectionResult
from bench.inprocess import GUEST, REGION, generate_event, guest_cookie, png_bytes, run_worker, worker_main

NAME = "dynamo_round_trips"
TITLE = "DynamoDB round trips per generate request"
BUDGET_CALLS = 3
# A guest's charge also takes the two guest caps (README: Guests cannot spend without bound).
GUEST_CAPS = 2
REPLICATE = "https://api.replicate.com"
FAILING_GUEST_ID = "9f86d081-884c-4d63-9a2e-6c2b0bfb7a31"
FAILING_GUEST = guest_cookie(FAILING_GUEST_ID)
HOT_PATH = {"steady_user": BUDGET_CALLS, "steady_guest": BUDGET_CALLS + GUEST_CAPS}


def call_role(operation: str, params: dict[str, Any]) -> str:
    """What a DynamoDB call is for, from the key it touches (key formats of enhancer.adapters.dynamo_*)."""
    if operation == "TransactWriteItems":
        return f"{len(params.get('TransactItems', []))} writes"
    key = params.get("Key")
    if not isinstance(key, dict):  # S3: a string
        return ""
    pk = str(key.get("pk", {}).get("S", ""))
    for prefix, role in (("rl:", "rate limit"), ("ai:usage:month:", "monthly"), ("ai:usage:", "daily"),
                         ("ai:credits:user:", "credit packs"), ("ai:cap:guestImagesIp:", "guests of the IP"),
                         ("ai:cap:guestImagesDay:", "guests of the day")):
        if pk.startswith(prefix):
            return role
    return ""


class CallCounter:
    """Counts API calls and HTTP attempts on one client, by operation, in order."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.roles: list[str] = []
        self.sends: Counter[str] = Counter()
        self._role = ""

    def install(self, client: Any) -> None:
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register(f"before-parameter-build.{service}", self._parameters)
        client.meta.events.register(f"before-call.{service}", self._call)
        client.meta.events.register(f"before-send.{service}", self._send)

    def _parameters(self, event_name: str, params: dict[str, Any], **_: Any) -> None:
        """The API parameters, before serialisation (presigning emits this too, but never before-call)."""
        self._role = call_role(event_name.split(".", 2)[2], params)

    def _call(self, event_name: str, **_: Any) -> None:
        self.calls.append(event_name.split(".", 2)[2])
        self.roles.append(self._role)
        self._role = ""

    def _send(self, event_name: str, **_: Any) -> None:
        self.sends[event_name.split(".", 2)[2]] += 1

    def clear(self) -> None:
        self.calls.clear()
        self.roles.clear()
        self.sends.clear()


# --- worker ---------------------------------------------------------------------------------------------------

def measure(options: dict[str, Any]) -> dict[str, Any]:
    import os

    import boto3
    import respx
    from moto import mock_aws

    from bench.inprocess import BUCKET, TABLE, context, load_handlers, migrate_database
    from enhancer import bootstrap
    from enhancer.adapters.aws import aws_client
    from enhancer.adapters.dynamo_keys import daily_usage_key, monthly_usage_key
    from enhancer.adapters.sql import open_accounts
    from enhancer.config import get_settings
    from enhancer.domain.clock import month_key
    from enhancer.domain.identity import guest_owner_key
    from enhancer.domain.plans import OwnerType, entitlements_for, parse_plan
    from enhancer.domain.usage import DAILY_WINDOW_SECONDS, TENTHS_PER_CREDIT
    from local.aws import create_bucket, create_table, serialise_dynamodb

    migrate_database()
    image = png_bytes(64, 64)
    counters = {"dynamodb": CallCounter(), "s3": CallCounter()}

    def instrument() -> None:
        """The handler's shared clients, created now so the counting hooks are on them."""
        for service, counter in counters.items():
            counter.install(aws_client(service, REGION))

    results: list[dict[str, Any]] = []
    serialise_dynamodb()
    with mock_aws():
        setup_dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_table(setup_dynamodb, TABLE)
        create_bucket(boto3.client("s3", region_name=REGION), BUCKET)
        bootstrap.reset()
        instrument()
        handler = load_handlers("GenerateFunction")["GenerateFunction"]

        def count(scenario: str, label: str, cookies: dict[str, str], expected_status: int,
                  fields: dict[str, str] | None = None) -> None:
            for counter in counters.values():
                counter.clear()
            event = generate_event(fields or {"model": "real-esrgan", "scale": "2"}, image, cookies)
            response = handler(event, context("GenerateFunction"))
            if int(response["statusCode"]) != expected_status:
                raise RuntimeError(f"{scenario}: status {response['statusCode']}, expected {expected_status}: "
                                   f"{str(response.get('body'))[:300]}")
            dynamodb, s3 = counters["dynamodb"], counters["s3"]
            results.append({
                "scenario": scenario, "label": label, "status": expected_status,
                "dynamodb_calls": len(dynamodb.calls), "dynamodb_operations": list(dynamodb.calls),
                "dynamodb_roles": list(dynamodb.roles),
                "dynamodb_http_attempts": sum(dynamodb.sends.values()),
                "s3_calls": len(counters["s3"].calls), "s3_operations": list(s3.calls),
                "s3_http_attempts": sum(s3.sends.values()),
            })

        guest = {"guest_id": GUEST}
        count("first_of_window", "Guest, first request of a daily window (opens it)", guest, 200)
        count("steady_guest", "Guest, daily window open, within the allowance (hot path)", guest, 200)

        accounts = open_accounts(get_settings().database_url)
        now = int(time.time())
        user = accounts.upsert_user("bench-user@example.com", "free")
        user_cookies = {"session_id": accounts.create_session(user.user_id, now + 3600)}
        handler(generate_event({"model": "real-esrgan"}, image, user_cookies), context("GenerateFunction"))
        count("steady_user", "Signed-in user (free), daily window open, within the allowance (hot path)",
              user_cookies, 200)

        payer = accounts.upsert_user("bench-credits@example.com", "free")
        payer_cookies = {"session_id": accounts.create_session(payer.user_id, now + 3600)}
        allowance = entitlements_for(OwnerType.USER, parse_plan(payer.user_plan)).monthly_images * TENTHS_PER_CREDIT
        setup_dynamodb.put_item(TableName=TABLE, Item={
            "pk": {"S": monthly_usage_key("user", payer.user_id, month_key(now))}, "usedTenths": {"N": str(allowance)}})
        setup_dynamodb.put_item(TableName=TABLE, Item={  # an open daily window, as a first request would leave it
            "pk": {"S": daily_usage_key("user", payer.user_id)}, "count": {"N": "1"},
            "resetAt": {"N": str(now + DAILY_WINDOW_SECONDS)}, "expiresAt": {"N": str(now + 2 * DAILY_WINDOW_SECONDS)}})
        bootstrap.ledger().add_credit_pack(payer.user_id, "cs_bench", 50, now - 60, now + 86_400)
        count("credits", "Signed-in user past the monthly allowance, paid from a credit pack", payer_cookies, 200)

        # A provider failure: Replicate answers 500, the charge is given back and the original removed.
        failing = {"guest_id": FAILING_GUEST}
        handler(generate_event({"model": "real-esrgan"}, image, failing), context("GenerateFunction"))  # opens
        os.environ.update({"ENHANCER_PROVIDER": "replicate", "REPLICATE_API_TOKEN": "r8_bench_token",
                           "REPLICATE_BASE_URL": REPLICATE})
        bootstrap.reset()  # settings and provider re-read; the clients are dropped too, so instrument them again
        instrument()
        with respx.mock(assert_all_mocked=True, assert_all_called=True) as mock:
            mock.post(f"{REPLICATE}/v1/predictions").respond(500, json={"detail": "bench: upstream failure"})
            count("provider_failure", "Guest, daily window open, the provider answers 500 (give-back)", failing, 502)
        secret = get_settings().owner_key_secret
        assert secret is not None
        failing_key = guest_owner_key(secret.get_secret_value().encode(), FAILING_GUEST_ID)
        daily = setup_dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": daily_usage_key("guest", failing_key)}})
        given_back = int(daily["Item"]["count"]["N"]) == 1  # the failed request's image was returned
    return {"scenarios": results, "provider_failure_given_back": given_back}


# --- section ---------------------------------------------------------------------------------------------------

def _operations(names: list[str], roles: list[str] | None = None) -> str:
    labelled = [f"{name} ({role})" if role else name for name, role in zip(names, roles or [""] * len(names),
                                                                              strict=True)]
    return " → ".join(labelled) or "none"


def run(ctx: Context) -> SectionResult:
    figures = run_worker(ctx, NAME, {})
    scenarios = figures["scenarios"]
    for s in scenarios:
        s["hot_path"] = s["scenario"] in HOT_PATH
        s["budget_calls"] = HOT_PATH.get(s["scenario"])
        s["within_budget"] = s["dynamodb_calls"] <= s["budget_calls"] if s["hot_path"] else None
    rows = [[s["label"], str(s["status"]), str(s["dynamodb_calls"]),
             _operations(s["dynamodb_operations"], s["dynamodb_roles"]),
             ("ok" if s["within_budget"] else "OVER") if s["hot_path"] else "–",
             str(s["s3_calls"]), _operations(s["s3_operations"])] for s in scenarios]
    hot = [s for s in scenarios if s["hot_path"]]
    retries = [s["label"] for s in scenarios
               if s["dynamodb_http_attempts"] != s["dynamodb_calls"] or s["s3_http_attempts"] != s["s3_calls"]]
    by_name = {s["scenario"]: s for s in scenarios}
    notes = [
        f"Hot path of a signed-in user: {by_name['steady_user']['dynamodb_calls']} DynamoDB calls (rate limit, "
        f"daily window, monthly allowance), budget ≤ {BUDGET_CALLS}; of a guest: "
        f"{by_name['steady_guest']['dynamodb_calls']}, the same three and the two guest caps (the IP's hour, the "
        f"day's budget), budget ≤ {BUDGET_CALLS + GUEST_CAPS}: "
        f"{'met' if all(s['within_budget'] for s in hot) else 'MISSED'}.",
        f"Off the hot path: the first request of a window takes {by_name['first_of_window']['dynamodb_calls']} "
        f"(the conditional ADD fails on a missing or expired window, then a second write opens it); paying with "
        f"credits takes {by_name['credits']['dynamodb_calls']} (the monthly ADD fails, the credit packs are read, "
        f"one transaction takes the credits and writes the consume record); a provider failure takes "
        f"{by_name['provider_failure']['dynamodb_calls']} (the give-back is one transaction).",
        "Every API call was one HTTP attempt (no retries)." if not retries else
        f"Retries seen (HTTP attempts > API calls): {', '.join(retries)}.",
        "S3, for information: a successful generate stores the original and the result (2 PutObject); a failure "
        "deletes the original it stored. The presigned URL Replicate gets is signed locally, with no call."
        + ("" if figures["provider_failure_given_back"] else " The failed request's daily image was NOT given back."),
    ]
    return SectionResult(
        name=NAME, title=TITLE,
        method=("One worker interpreter runs the real GenerateFunction handler (echo provider, 64×64 PNG, "
                "multipart, CSRF cookie + header) against moto; the table and bucket come from template.yaml "
                "(local.aws.create_table/create_bucket). `before-call` hooks on the handler's shared DynamoDB and S3 "
                "clients count API calls by operation (with the key each touches, from `before-parameter-build`), "
                "`before-send` hooks count HTTP attempts. State is set up "
                "beforehand (a first generate to open the window, or items written with a separate client, and "
                "DynamoLedger.add_credit_pack for the credits), then exactly one request is counted. The provider "
                "failure uses ENHANCER_PROVIDER=replicate with httpx answered 500 by respx. Budget: at most "
                f"{BUDGET_CALLS} DynamoDB calls on the hot path (an open daily window within the monthly allowance), "
                f"{GUEST_CAPS} more for a guest, whose charge also takes the guest caps."),
        headers=["Request", "Status", "DynamoDB calls", "DynamoDB operations, in order", "Budget", "S3 calls",
                 "S3 operations"],
        rows=rows,
        figures={"budget_calls": BUDGET_CALLS, **figures},
        notes=notes,
        passed=all(s["within_budget"] for s in hot),
    )


if __name__ == "__main__":
    worker_main(measure)
