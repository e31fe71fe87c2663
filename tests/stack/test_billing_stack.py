"""Billing on the local stack without a Stripe key, as a developer meets it on `make dev`: sign in, choose a plan
or a credit pack, pay on the development checkout page (which signs the events Stripe would send and delivers
them to the real webhook route), and see the plan in the usage; cancel it on the development portal page."""

from __future__ import annotations

import json
import re

from local.stripe_events import DEVELOPMENT_WEBHOOK_SECRET, charge_refunded, deliver, event
from tests.stack.accounts import local_path, pay, sign_in, usage
from tests.stack.jobs import unsafe


def test_a_developer_upgrades_to_pro_on_the_local_checkout_page_and_cancels_on_the_portal(client):
    sign_in(client, "upgrade@example.com")
    assert usage(client)["plan"] == "free"

    checkout = client.post("/api/billing/session", headers=unsafe(client),
                           json={"plan": "pro", "interval": "monthly", "returnTo": "/?from=pricing"})
    assert checkout.status_code == 200, checkout.text
    paid = pay(client, checkout.json()["data"]["url"])

    assert paid.status_code == 303 and paid.headers["location"].endswith("/?from=pricing&billing=success")
    after = usage(client)
    assert after["plan"] == "pro" and after["usage"]["limit"] == 30

    portal = client.get("/api/billing/portal", params={"returnTo": "/"})
    assert portal.status_code == 302
    page = client.get(local_path(portal.headers["location"], client))
    assert "pro plan, active" in page.text
    customer = re.search(r'name="customer" value="([^"]+)"', page.text).group(1)
    canceled = client.post("/dev/portal", data={"customer": customer, "back": f"{client.base_url}/"},
                           headers={"Origin": str(client.base_url).rstrip("/")})
    assert canceled.status_code == 303
    assert usage(client)["plan"] == "free"


def test_a_credit_pack_bought_locally_is_added_once_and_its_refund_withdraws_once(stack, client):
    user_id = sign_in(client, "credits@example.com")
    checkout = client.post("/api/billing/credits", headers=unsafe(client), json={"pack": 500})
    assert checkout.status_code == 200, checkout.text

    assert pay(client, checkout.json()["data"]["url"]).status_code == 303
    assert usage(client)["creditsBalanceTenths"] == 5000

    payment_intent = _payment_intent_of(stack, user_id)
    refund = event("charge.refunded", charge_refunded(payment_intent=payment_intent, amount=1000, amount_refunded=500))
    for _ in range(2):
        assert deliver(stack["url"], refund, DEVELOPMENT_WEBHOOK_SECRET).status == 200
    assert usage(client)["creditsBalanceTenths"] == 2500


def test_the_pay_form_is_refused_from_another_origin_and_a_forged_checkout_is_refused(client):
    sign_in(client, "forger@example.com")
    checkout = client.post("/api/billing/session", headers=unsafe(client), json={"plan": "premium"})
    token = re.search(r"session=([^&]+)", checkout.json()["data"]["url"]).group(1)

    elsewhere = client.post("/dev/checkout", data={"session": token}, headers={"Origin": "https://evil.example"})
    payload, _, signature = token.partition(".")
    forged = client.post("/dev/checkout", data={"session": f"{payload}.{'0' * len(signature)}"},
                         headers={"Origin": str(client.base_url).rstrip("/")})

    assert elsewhere.status_code == 403 and forged.status_code == 400
    assert usage(client)["plan"] == "free"


def _payment_intent_of(stack: dict, user_id: str) -> str:
    """The payment of the user's pack, as the ledger's purchase record names it (the development checkout made
    it up, as Stripe would)."""
    import boto3

    from enhancer.adapters.dynamo_keys import purchase_key

    prefix = purchase_key("")
    table = boto3.resource("dynamodb", endpoint_url=stack["awsEndpoint"], region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing").Table(stack["table"])
    [ref] = [item["pk"][len(prefix):] for item in table.scan()["Items"]
             if item["pk"].startswith(prefix) and item.get("userId") == user_id]
    return str(ref)


def test_make_stripe_event_signs_a_file_and_delivers_it(stack, tmp_path, capsys):
    from local.stripe_events import main

    path = tmp_path / "event.json"
    path.write_text(json.dumps(event("customer.tax_id.created", {"id": "txi_1", "object": "tax_id"})))

    assert main(["send", str(path), "--url", stack["url"]]) == 0
    assert capsys.readouterr().out.startswith("200 ")
    assert main(["send", str(path), "--url", stack["url"], "--secret", "whsec_not_this_stacks"]) == 1
    assert capsys.readouterr().out.startswith("400 ")
