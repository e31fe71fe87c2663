"""docs/openapi.json (ops/openapi.py): current, valid OpenAPI 3.1, exactly the routes template.yaml deploys, each
with its success answers and every error it can give in the envelope; and no function serves a schema itself."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from enhancer.http.envelope import STATUS_BY_TYPE
from enhancer.http.security import SECURITY_HEADERS
from local.events import LambdaContext, response_parts
from local.gateway import load_handler
from local.samples import load_event
from local.template import http_routes, load_template
from ops import openapi
from tests.expectations import security_header_problems

DOCUMENT_PATH = Path(openapi.__file__).resolve().parent.parent / "docs" / "openapi.json"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# 411 is the gateway's own refusal of a chunked body (local/gateway.py), typed as any other bad request.
TYPE_BY_STATUS = {**{status: error_type for error_type, status in STATUS_BY_TYPE.items()}, 411: "validation_error"}

# Written from the README's route table, not from the generator: the routes that check Origin + CSRF, the routes
# for signed-in users only, and the routes no rate limiter counts.
ORIGIN_CHECKED = {
    "POST /api/ai-image/generate", "POST /api/ai-image/uploads", "POST /api/ai-image/jobs",
    "POST /api/ai-image/jobs/{job_id}/cancel", "DELETE /api/ai-image/jobs/{job_id}", "POST /api/billing/session",
    "POST /api/billing/credits", "POST /api/auth/logout", "DELETE /api/auth/account",
    "POST /api/keys", "DELETE /api/keys/{key_id}",
}
SIGNED_IN_ONLY = {"POST /api/billing/session", "POST /api/billing/credits", "GET /api/billing/portal",
                  "GET /api/auth/me", "DELETE /api/auth/account", "POST /api/keys", "GET /api/keys",
                  "DELETE /api/keys/{key_id}"}
# Routes an `Authorization: Bearer` API key may call (http/key_routes.py), with no CSRF for the key.
TAKES_KEY = {"POST /api/ai-image/generate", "POST /api/ai-image/uploads", "POST /api/ai-image/jobs",
             "POST /api/ai-image/jobs/{job_id}/cancel", "DELETE /api/ai-image/jobs/{job_id}",
             "GET /api/ai-image/jobs", "GET /api/ai-image/jobs/{job_id}", "GET /api/ai-image/usage",
             "GET /api/ai-image/models", "GET /r2-ai/{key+}", "HEAD /r2-ai/{key+}"}
NOT_RATE_LIMITED = {"POST /api/ai-image/webhooks/replicate", "POST /api/billing/stripe-webhook",
                    "POST /api/auth/logout", "GET /r2-ai/{key+}", "HEAD /r2-ai/{key+}"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads(DOCUMENT_PATH.read_text())


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method.upper(), path): operation for path, item in document["paths"].items()
            for method, operation in item.items() if method in METHODS}


def by_route_key(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {operation["x-route-key"]: operation for operation in operations(document).values()}


def resolve(document: dict[str, Any], node: dict[str, Any]) -> Any:
    """A `$ref` (`#/a/b`) followed inside the document, or the node itself."""
    target = node.get("$ref")
    if target is None:
        return node
    assert target.startswith("#/"), target
    value: Any = document
    for part in target[2:].split("/"):
        value = value[part.replace("~1", "/").replace("~0", "~")]
    return value


def refs(node: Any):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


# --- the file ------------------------------------------------------------------------------------------------

def test_the_file_is_what_the_code_generates():
    assert DOCUMENT_PATH.read_text() == openapi.render(openapi.build_document()), \
        "docs/openapi.json is stale: run `python -m ops.openapi`"


def test_the_output_is_deterministic_sorted_and_ends_with_a_newline():
    first, second = openapi.render(openapi.build_document()), openapi.render(openapi.build_document())

    assert first == second and first.endswith("}\n")
    assert first == json.dumps(json.loads(first), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_check_exits_1_when_the_file_is_stale_or_missing(tmp_path, capsys):
    target = tmp_path / "openapi.json"
    assert openapi.main(["--check", "--output", str(target)]) == 1
    target.write_text(DOCUMENT_PATH.read_text().replace('"3.1.0"', '"3.0.0"', 1))
    assert openapi.main(["--check", "--output", str(target)]) == 1
    assert "stale" in capsys.readouterr().err

    assert openapi.main(["--output", str(target)]) == 0
    assert openapi.main(["--check", "--output", str(target)]) == 0
    assert target.read_text() == DOCUMENT_PATH.read_text()


def test_a_deployed_route_nobody_described_stops_the_generator():
    template = copy.deepcopy(load_template())
    template["Resources"]["UsageFunction"]["Properties"]["Events"]["Extra"] = {
        "Type": "HttpApi", "Properties": {"ApiId": {"Ref": "HttpApi"}, "Path": "/api/ai-image/extra",
                                          "Method": "GET"}}

    with pytest.raises(RuntimeError, match="GET /api/ai-image/extra"):
        openapi.build_document(template)


def test_a_route_without_its_description_stops_the_generator(monkeypatch):
    described = dict(openapi.OPERATIONS)
    del described["GET /api/auth/me"]
    monkeypatch.setattr(openapi, "OPERATIONS", described)

    with pytest.raises(RuntimeError, match=r"undescribed \['GET /api/auth/me'\]"):
        openapi.build_document()


# --- a valid OpenAPI 3.1 document ----------------------------------------------------------------------------

def test_it_is_valid_openapi_3_1(document):
    from openapi_spec_validator import OpenAPIV31SpecValidator, validate

    assert document["openapi"] == "3.1.0"
    validate(document, cls=OpenAPIV31SpecValidator)


def test_every_reference_resolves(document):
    for target in set(refs(document)):
        assert resolve(document, {"$ref": target}) is not None, target


def test_info_servers_and_tags(document):
    import tomllib

    version = tomllib.loads((DOCUMENT_PATH.parent.parent / "pyproject.toml").read_text())["project"]["version"]
    assert document["info"]["version"] == version
    assert document["servers"] == [{"url": "/", "description": document["servers"][0]["description"]}]
    tags = [tag["name"] for tag in document["tags"]]
    assert tags == ["enhancement", "uploads", "jobs", "usage", "billing", "auth", "keys", "images", "webhooks"]
    for operation in operations(document).values():
        assert len(operation["tags"]) == 1 and operation["tags"][0] in tags


def test_operation_ids_are_unique(document):
    ids = [operation["operationId"] for operation in operations(document).values()]

    assert len(ids) == len(set(ids)) == 24


# --- exactly the deployed routes -----------------------------------------------------------------------------

def deployed() -> set[str]:
    return {route.route_key for route in http_routes()
            if route.method != "ANY" and route.path != "$default"
            and not route.path.startswith(("/api/dev/", "/dev/"))}


def test_it_covers_every_route_the_template_deploys_and_nothing_else(document):
    expected = {(key.split(" ")[0], key.split(" ")[1].replace("{key+}", "{key}")) for key in deployed()}

    assert set(operations(document)) == expected
    assert set(by_route_key(document)) == deployed()
    assert not any(path.startswith(("/api/dev/", "/dev/")) for path in document["paths"])


def test_the_greedy_image_key_is_documented_as_one_parameter(document):
    for method in ("get", "head"):
        operation = document["paths"]["/r2-ai/{key}"][method]
        key = next(p for p in operation["parameters"] if p.get("name") == "key")
        assert key["in"] == "path" and key["required"] is True and "{key+}" in key["description"]


# --- what each operation answers ----------------------------------------------------------------------------

def test_every_operation_answers_a_success_and_declares_500_and_503(document):
    for key, operation in by_route_key(document).items():
        statuses = {int(status) for status in operation["responses"]}
        assert any(200 <= status < 400 for status in statuses), key
        assert {500, 503} <= statuses, key
        assert statuses - {200, 201, 202, 302, 304} <= set(TYPE_BY_STATUS) - {405}, key


def test_every_error_answers_the_envelope_of_its_type(document):
    for key, operation in by_route_key(document).items():
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            error_type = TYPE_BY_STATUS[int(status)]
            assert response["description"].startswith(f"`{error_type}`"), (key, status)
            if key.startswith("HEAD "):
                assert "content" not in response, (key, status)  # a HEAD answer has no body
                continue
            schema = resolve(document, response["content"]["application/json"]["schema"])
            assert schema["allOf"] == [{"$ref": "#/components/schemas/ErrorEnvelope"}], (key, status)
            assert schema["properties"]["error"]["properties"]["type"] == {"const": error_type}, (key, status)


def test_the_envelopes_are_the_contract(document):
    schemas = document["components"]["schemas"]
    assert schemas["ErrorEnvelope"]["required"] == ["error", "success"]
    assert schemas["ErrorEnvelope"]["properties"]["success"] == {"const": False}
    assert schemas["Error"]["required"] == ["message", "type"]
    assert set(schemas["Error"]["properties"]) == {"type", "message", "details"}
    assert schemas["Error"]["properties"]["type"]["enum"] == list(STATUS_BY_TYPE)
    assert schemas["RateLimitEnvelope"]["required"] == ["retryAfter"]
    not_allowed = document["components"]["responses"]["MethodNotAllowed"]
    assert "Allow" in not_allowed["headers"]
    assert resolve(document, not_allowed["content"]["application/json"]["schema"])["properties"]["error"] == {
        "properties": {"type": {"const": "method_not_allowed"}}}


def test_successes_are_enveloped_except_stripes_acknowledgement(document):
    for key, operation in by_route_key(document).items():
        for status, response in operation["responses"].items():
            if int(status) >= 300 or "content" not in response:
                continue
            if key == "POST /api/billing/stripe-webhook":
                assert response["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/StripeReceived"}
                continue
            for media, content in response["content"].items():
                if media != "application/json":
                    assert key == "GET /r2-ai/{key+}" and media.startswith(("image/", "application/octet-stream"))
                    continue
                schema = content["schema"]
                assert schema["properties"]["success"] == {"const": True}, key
                assert schema["required"] == ["data", "success"], key
                assert "$ref" in schema["properties"]["data"], key


def test_every_response_declares_the_security_headers(document):
    responses = [response for operation in operations(document).values()
                 for response in operation["responses"].values()]
    responses += list(document["components"]["responses"].values())
    for response in responses:
        for name, value in SECURITY_HEADERS:
            declared = resolve(document, response["headers"][name])
            assert declared["required"] is True and declared["schema"]["const"] == value


def test_a_rate_limit_answer_declares_retry_after(document):
    for key, operation in by_route_key(document).items():
        if "429" in operation["responses"]:
            header = resolve(document, operation["responses"]["429"]["headers"]["Retry-After"])
            assert header["required"] is True, key


def test_what_the_pipeline_and_the_dependencies_add_is_declared(document):
    for key, operation in by_route_key(document).items():
        statuses = set(operation["responses"])
        schemes = [set(requirement) for requirement in operation.get("security", [])]
        parameters = [p.get("$ref") for p in operation.get("parameters", [])]
        # A key is its own alternative, with no CSRF; any route answers 401 to a key (bad, or not taken there).
        assert ({"apiKey"} in schemes) == (key in TAKES_KEY), key
        schemes = [scheme for scheme in schemes if scheme != {"apiKey"}]
        assert "401" in statuses, key
        if key in TAKES_KEY:
            assert "403" in statuses, key
        if key in ORIGIN_CHECKED:
            assert "403" in statuses, key
            assert schemes and all({"csrfCookie", "csrfHeader"} <= scheme for scheme in schemes), key
            assert "#/components/parameters/Origin" in parameters, key
        else:
            assert not any("csrfCookie" in scheme for scheme in schemes), key
            assert "#/components/parameters/Origin" not in parameters, key
        if key in SIGNED_IN_ONLY:
            assert all(scheme & {"hostSession", "session"} for scheme in schemes), key
        assert ("429" in statuses) == (key not in NOT_RATE_LIMITED), key


def test_the_security_schemes_name_the_cookies_and_the_csrf_header(document):
    schemes = document["components"]["securitySchemes"]

    assert {name: (s["in"], s["name"]) for name, s in schemes.items() if name != "apiKey"} == {
        "hostSession": ("cookie", "__Host-session"), "session": ("cookie", "session_id"),
        "guest": ("cookie", "guest_id"), "csrfCookie": ("cookie", "csrf_token"),
        "csrfHeader": ("header", "X-CSRF-Token")}
    assert {key: schemes["apiKey"][key] for key in ("type", "scheme")} == {"type": "http", "scheme": "bearer"}


def test_the_headers_routes_read_themselves_are_declared(document):
    def header_names(key: str) -> set[str]:
        return {p["name"] for p in by_route_key(document)[key].get("parameters", []) if p.get("in") == "header"}

    assert "Idempotency-Key" in header_names("POST /api/ai-image/jobs")
    assert "Stripe-Signature" in header_names("POST /api/billing/stripe-webhook")
    assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= header_names(
        "POST /api/ai-image/webhooks/replicate")


@pytest.mark.parametrize("key", ["POST /api/ai-image/generate", "POST /api/ai-image/jobs"])
def test_an_enhancement_takes_a_multipart_image_or_an_upload_key(document, key):
    content = by_route_key(document)[key]["requestBody"]["content"]
    multipart = resolve(document, content["multipart/form-data"]["schema"])
    as_json = resolve(document, content["application/json"]["schema"])

    assert set(content) == {"multipart/form-data", "application/x-www-form-urlencoded", "application/json"}
    assert multipart["required"] == ["image", "model"]
    assert as_json["required"] == ["model", "uploadKey"]
    assert as_json["properties"]["scale"]["enum"] == [2, 4]
    assert multipart["properties"]["scale"]["enum"] == ["2", "4"]


def test_the_billing_bodies_are_the_routes_own_pydantic_models(document):
    plan = document["components"]["schemas"]["PlanCheckout"]

    assert plan["properties"]["plan"]["enum"] == ["pro", "premium", "enterprise"]
    assert set(plan["properties"]) == {"plan", "interval", "returnTo"}
    assert "HTTPValidationError" not in document["components"]["schemas"]  # FastAPI's 422: never answered


# --- no function serves a schema ----------------------------------------------------------------------------

@pytest.fixture
def function_env(tmp_path, monkeypatch):
    from enhancer import bootstrap

    for name, value in {"ENVIRONMENT": "testing", "TABLE_NAME": "enhancer-test", "BUCKET_NAME": "enhancer-test-images",
                        "DATABASE_URL": f"sqlite:///{tmp_path / 'enhancer.db'}",
                        "OWNER_KEY_SECRET": "unit-test-owner-key-secret-0123456789abcdef"}.items():
        monkeypatch.setenv(name, value)
    for name in ("OWNER_KEY_SECRET_PARAMETER", "ALLOWED_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    bootstrap.reset()
    with mock_aws():  # nothing here should reach AWS; if it did, it would reach moto
        yield
    bootstrap.reset()


def test_create_app_turns_fastapis_schema_and_docs_off(function_env):
    from fastapi import APIRouter

    from enhancer.http.app import create_app

    app = create_app(APIRouter())

    assert (app.openapi_url, app.docs_url, app.redoc_url) == (None, None, None)


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"])
def test_no_deployed_function_serves_a_schema(function_env, path):
    functions = {route.function_id: route for route in http_routes()}  # every HTTP function, the fallback too
    for function_id, route in functions.items():
        handler = load_handler(route.code_uri, route.handler, function_id)
        event = load_event("usage-get", path=path, route_key="$default", cookies={})
        status, headers, body = response_parts(handler(event, LambdaContext(function_name=function_id,
                                                                            aws_request_id="req-1")))
        reply = json.loads(body)
        assert status == 404, (function_id, status, body[:200])
        assert reply == {"success": False, "error": {"type": "not_found", "message": reply["error"]["message"]}}
        given = {name.lower(): value for name, value in headers}
        assert security_header_problems(lambda name, given=given: given.get(name.lower())) == [], function_id
