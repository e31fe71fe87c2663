"""template.yaml, the code and `events/` agree: every HttpApi route reaches a handler that serves it, and has an
event file (payload 2.0, as `sam local invoke -e` takes it) that API Gateway would route to that handler."""

from __future__ import annotations

import json
import re
import time

import boto3
import pytest

from enhancer import bootstrap
from enhancer.adapters.sql import connect
from enhancer.http.route_table import API_ROUTES
from local.gateway import Router
from local.samples import EVENTS, event_names
from local.template import http_routes, load_template, resource_properties
from local.workflow import state_machine_definition
from tests.integration.conftest import BUCKET, load_event, png_bytes

UPLOAD = "ai-enhancer/uploads/guest/x/y.png"
# Events of routes only the local stack has (local/__main__.py adds them; template.yaml never will).
NOT_THERE = {"GET /api/ai-image/jobs/{job_id}": 404, "POST /api/ai-image/jobs/{job_id}/cancel": 404,
             "DELETE /api/keys/{key_id}": 404,  # the event's user has no such key
             "DELETE /api/ai-image/jobs/{job_id}": 404, "POST /api/ai-image/webhooks/replicate": 503,
             # no Stripe key or webhook secret is set here (the local stack's development checkout has neither)
             "POST /api/billing/stripe-webhook": 503, "POST /api/billing/session": 503,
             "POST /api/billing/credits": 503,
             # no Cognito pool is configured here (COGNITO_* unset): sign-in cannot start
             "GET /api/auth/login": 503}
LOCAL_ONLY_EVENTS = {"dev-login-post": "POST /api/dev/login"}
# Routes whose own first answer to an anonymous request is not about its body: the webhook needs its signing
# secret (none is set here), checkout and the portal need a signed-in user; login needs a Cognito pool (none is
# configured here), logout takes no body and signs out whoever asks, me, account deletion and the API key routes
# need a signed-in user.
# (status, error type; None: the answer is not an error envelope)
FIRST_ANSWERS = {"POST /api/billing/stripe-webhook": (503, "service_unavailable"),
                 "POST /api/billing/session": (401, "auth_error"),
                 "POST /api/billing/credits": (401, "auth_error"),
                 "GET /api/billing/portal": (401, "auth_error"),
                 "GET /api/auth/login": (503, "service_unavailable"),
                 "POST /api/auth/logout": (200, None),
                 "GET /api/auth/me": (401, "auth_error"),
                 "DELETE /api/auth/account": (401, "auth_error"),
                 "GET /api/keys": (401, "auth_error"), "POST /api/keys": (401, "auth_error"),
                 "DELETE /api/keys/{key_id}": (401, "auth_error")}
# Routes that answer by sending the browser elsewhere, and where to: a user who never paid back to the page, told
# so; a sign-in callback, with no Cognito pool configured here, back to the page the login started from (without
# its cookie, the home page), told so.
REDIRECTS = {"GET /api/billing/portal": "https://api.example.com/dashboard?billing=no_customer",
             "GET /api/auth/callback": "https://api.example.com/?auth=unavailable"}


def test_template_routes_match_the_route_table():
    routes = http_routes()
    served = {(r.method, r.path) for r in routes if r.function_id != "FallbackFunction"}
    fallback = {(r.method, r.path) for r in routes if r.function_id == "FallbackFunction"}

    assert served == {(method, path) for path, methods in API_ROUTES.items() for method in methods}
    assert fallback == {("ANY", path) for path in API_ROUTES} | {("ANY", "$default")}


def test_every_template_route_reaches_a_handler_that_serves_it(invoke, aws):
    """A method route answers from its own code (not a routing 404/405); an ANY route answers 405."""
    aws.s3.put_object(Bucket=BUCKET, Key=UPLOAD, Body=b"\x89PNG\r\n\x1a\n", ContentType="image/png")
    concrete = {path: path.replace("{key+}", UPLOAD) for path in API_ROUTES}
    token = "t" * 32

    for route in http_routes():
        if route.path == "$default":
            reply = invoke(route.function_id, load_event("fallback-unknown-path"))
            assert reply.status == 404, route
            continue
        unserved = next(m for m in ("DELETE", "PUT", "PATCH") if m not in API_ROUTES.get(route.path, ()))
        method = unserved if route.method == "ANY" else route.method
        event = load_event("usage-get", method=method, path=concrete[route.path], cookies={"csrf_token": token},
                           headers={"origin": "https://api.example.com", "x-csrf-token": token,
                                    "content-type": "application/json"})
        event["routeKey"] = event["requestContext"]["routeKey"] = route.route_key
        if method == "POST":
            event["body"] = "{}"
        reply = invoke(route.function_id, event)
        if route.method == "ANY":
            assert reply.status == 405 and reply.header("Allow") == ", ".join(API_ROUTES[route.path]), route
        elif route.route_key in FIRST_ANSWERS:
            status, error_type = FIRST_ANSWERS[route.route_key]
            assert reply.status == status, (route, reply.status, reply.body[:200])
            if error_type is not None:
                assert reply.json()["error"]["type"] == error_type, (route, reply.body[:200])
        elif route.route_key in REDIRECTS:
            assert reply.status == 302 and reply.header("Location") == REDIRECTS[route.route_key], route
        elif "{job_id}" in route.path:  # the literal `{job_id}` is no job's id: the route's own 404
            assert reply.status == 404 and reply.json()["error"]["message"] == "No job with this id", route
        elif method == "POST":  # an empty body reaches the route's own validation
            assert reply.status == 400 and reply.json()["error"]["type"] == "validation_error", route
        else:
            assert reply.status == 200, (route, reply.status, reply.body[:200])


def _file_prefix(function_id: str) -> str:
    """An event file's name starts with its function's: ImageProxyFunction → image-proxy-…"""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", function_id.removesuffix("Function")).lower() + "-"


def _event_file(name: str) -> dict:
    return json.loads((EVENTS / f"{name}.json").read_text())


TEMPLATE_EVENTS = [name for name in event_names() if name not in LOCAL_ONLY_EVENTS]


def test_every_template_route_has_an_event_file():
    have = {_event_file(name)["routeKey"] for name in TEMPLATE_EVENTS}

    assert {route.route_key for route in http_routes()} - have == set()
    assert {_event_file(name)["routeKey"] for name in LOCAL_ONLY_EVENTS} == set(LOCAL_ONLY_EVENTS.values())
    assert set(LOCAL_ONLY_EVENTS.values()).isdisjoint(route.route_key for route in http_routes())


@pytest.mark.parametrize("name", TEMPLATE_EVENTS)
def test_an_event_files_route_is_the_one_api_gateway_picks_for_its_request(name):
    """API Gateway routes the event's method and path to the route the event names, on the function it is named
    after, with the same path parameters; the event is payload 2.0 and consistent with itself."""
    event = _event_file(name)
    http = event["requestContext"]["http"]

    assert event["version"] == "2.0"
    assert event["routeKey"] == event["requestContext"]["routeKey"]
    assert event["rawPath"] == http["path"]
    route, parameters = Router(http_routes()).match(http["method"], event["rawPath"])
    assert route.route_key == event["routeKey"]
    assert parameters == event.get("pathParameters", {})
    assert name.startswith(_file_prefix(route.function_id)), (name, route.function_id)


def _serve_what_the_events_name(aws, db_path) -> None:
    """The objects the image events read, and the signed-in owner of the result the result event asks for."""
    for name in TEMPLATE_EVENTS:
        event = _event_file(name)
        key = (event.get("pathParameters") or {}).get("key")
        if key is None or event["requestContext"]["http"]["method"] not in ("GET", "HEAD"):
            continue
        aws.s3.put_object(Bucket=BUCKET, Key=key, Body=png_bytes(16, 16), ContentType="image/png")
        if "/results/user/" in key:
            user_id = key.split("/")[3]
            session = next(c.split("=", 1)[1] for c in event["cookies"] if c.startswith("session_id="))
            with connect(f"sqlite:///{db_path}") as conn:
                conn.execute("INSERT OR IGNORE INTO users (id, name, username, email, plan) VALUES (?, ?, ?, ?, ?)",
                             (user_id, "events", "events-owner", "events-owner@example.com", "pro"))
                conn.execute("INSERT INTO sessions (id, user_id, expires_at) VALUES (?, ?, ?)",
                             (session, user_id, int(time.time()) + 3600))


@pytest.mark.parametrize("name", TEMPLATE_EVENTS)
def test_an_event_file_as_is_is_answered_by_its_functions_own_code(name, invoke, aws, settings_env, monkeypatch):
    """Each event, unchanged, on the function its route names: the route's own answer (201 for a new upload form,
    else 200), 405 with Allow from the fallback for a method the path does not serve, 404 for an unknown path."""
    monkeypatch.setenv("ENHANCER_PROVIDER", "echo")
    # The job workflow, from the template's definition (moto runs no execution here: it stays RUNNING).
    machine = boto3.client("stepfunctions", region_name="us-east-1").create_state_machine(
        name=f"enhance-job-{name}", definition=state_machine_definition(),
        roleArn="arn:aws:iam::123456789012:role/enhance-job")
    monkeypatch.setenv("STATE_MACHINE_ARN", machine["stateMachineArn"])
    bootstrap.reset()
    _serve_what_the_events_name(aws, settings_env)
    event = _event_file(name)
    route, _ = Router(http_routes()).match(event["requestContext"]["http"]["method"], event["rawPath"])

    reply = invoke(route.function_id, load_event(name))

    if route.path == "$default":
        assert reply.status == 404 and reply.json()["error"]["type"] == "not_found"
    elif route.method == "ANY":
        assert reply.status == 405 and reply.header("Allow") == ", ".join(API_ROUTES[route.path])
    elif route.route_key in NOT_THERE:  # the job the event names does not exist, or no webhook secret is set
        assert reply.status == NOT_THERE[route.route_key], (reply.status, reply.body[:300])
        assert reply.json()["success"] is False
    else:
        expected = {"POST /api/ai-image/uploads": 201, "POST /api/ai-image/jobs": 202, "POST /api/keys": 201}.get(
            route.route_key, 302 if route.route_key in REDIRECTS else 200)
        assert reply.status == expected, (reply.status, reply.body[:300])
        if expected == 302:
            assert reply.header("Location") == REDIRECTS[route.route_key]
        elif route.method != "HEAD" and route.path.startswith("/api/"):
            assert reply.json()["success"] is True


def test_functions_use_the_core_layer_and_python311():
    template = load_template()
    runtime = template["Globals"]["Function"].get("Runtime")
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        assert props.get("Runtime", runtime) == "python3.11", logical_id
        layers = props.get("Layers", template["Globals"]["Function"].get("Layers", []))
        assert {"Ref": "CoreLayer"} in layers, logical_id


def test_table_and_bucket_definitions_are_what_the_code_expects():
    table = resource_properties("DataTable")
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    bucket = resource_properties("ImagesBucket")
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    prefixes = {rule.get("Prefix") or rule.get("Filter", {}).get("Prefix")
                for rule in bucket["LifecycleConfiguration"]["Rules"]}
    assert {"ai-enhancer/uploads/", "ai-enhancer/results/"} <= prefixes


def test_moto_bucket_is_private_encrypted_and_expires_images(aws):
    encryption = aws.s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]
    block = aws.s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    rules = aws.s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]

    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]
    assert all(block.values())
    assert {r["Filter"]["Prefix"]: r["Expiration"]["Days"] for r in rules if "Expiration" in r} == {
        "ai-enhancer/uploads/": 7, "ai-enhancer/results/": 30}
