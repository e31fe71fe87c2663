"""The 405 design: every unserved method on an API path answers 405 with Allow; unknown paths a 404 envelope."""

from __future__ import annotations

import pytest

from enhancer.http.route_table import API_ROUTES
from tests.integration.conftest import assert_security_headers, load_event

EVERY_METHOD = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
SAMPLE_PATHS = {template: template.replace("{key+}", "ai-enhancer/uploads/guest/x/y.png") for template in API_ROUTES}


def test_put_usage_is_405_with_allow_get(invoke):
    reply = invoke("FallbackFunction", load_event("fallback-put-usage"))

    assert reply.status == 405
    assert reply.header("Allow") == "GET"
    assert reply.json() == {"success": False,
                            "error": {"type": "method_not_allowed", "message": "Method Not Allowed"}}
    assert_security_headers(reply)


@pytest.mark.parametrize(("template", "method"), [
    (template, method) for template, allowed in API_ROUTES.items() for method in EVERY_METHOD if method not in allowed
])
def test_every_unserved_method_on_every_api_path_is_405(invoke, template, method):
    event = load_event("fallback-put-usage", method=method, path=SAMPLE_PATHS[template])
    event["routeKey"] = event["requestContext"]["routeKey"] = f"ANY {template}"

    reply = invoke("FallbackFunction", event)

    assert reply.status == 405
    assert reply.header("Allow") == ", ".join(API_ROUTES[template])
    assert_security_headers(reply)


def test_an_unknown_path_is_a_404_envelope(invoke):
    reply = invoke("FallbackFunction", load_event("fallback-unknown-path"))

    assert reply.status == 404
    assert reply.json()["error"]["type"] == "not_found"
    assert_security_headers(reply)


@pytest.mark.parametrize("raw_path", ["/api/ai-image/%75sage", "/%72%32-ai/ai-enhancer/uploads/guest/x/y.png"])
def test_a_path_still_encoded_after_api_gateways_decoding_is_a_404_not_a_405(invoke, raw_path):
    """API Gateway decodes the path once and routes on it; `%75sage` left in rawPath was `%2575sage` on the wire,
    which is no route. Mangum decodes once more, so matching its path would answer 405 for a GET to usage."""
    event = load_event("fallback-unknown-path", method="GET", path=raw_path)

    reply = invoke("FallbackFunction", event)

    assert reply.status == 404
    assert reply.header("Allow") is None
    assert_security_headers(reply)


def test_a_served_method_that_reaches_the_fallback_is_never_told_it_is_not_allowed(invoke):
    event = load_event("fallback-put-usage", method="GET")

    reply = invoke("FallbackFunction", event)

    assert reply.status == 404 and reply.header("Allow") is None
