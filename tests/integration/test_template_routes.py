"""template.yaml and the code agree: every HttpApi route reaches a handler that serves it."""

from __future__ import annotations

from enhancer.http.route_table import API_ROUTES
from local.template import http_routes, load_template, resource_properties
from tests.integration.conftest import BUCKET, load_event

UPLOAD = "ai-enhancer/uploads/guest/x/y.png"


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
        method = "DELETE" if route.method == "ANY" else route.method
        event = load_event("usage-get", method=method, path=concrete[route.path], cookies={"csrf_token": token},
                           headers={"origin": "https://api.example.com", "x-csrf-token": token,
                                    "content-type": "application/json"})
        event["routeKey"] = event["requestContext"]["routeKey"] = route.route_key
        if method == "POST":
            event["body"] = "{}"
        reply = invoke(route.function_id, event)
        if route.method == "ANY":
            assert reply.status == 405 and reply.header("Allow") == ", ".join(API_ROUTES[route.path]), route
        elif method == "POST":  # an empty body reaches the route's own validation
            assert reply.status == 400 and reply.json()["error"]["type"] == "validation_error", route
        else:
            assert reply.status == 200, (route, reply.status, reply.body[:200])


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
