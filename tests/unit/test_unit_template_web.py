"""template.yaml's optional CloudFront hosting of the page (README, "Hosting the page (CloudFront)"): off unless
asked for; a private bucket only the distribution reads; /api/* and /r2-ai/* to the HTTP API uncached with every
method; the page's headers policy carrying exactly the code's security headers and CSP; a WAF rate rule per IP
answering in the API's 429 envelope; www redirected to the apex; the page's origin allowed on unsafe requests."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any
from urllib.parse import unquote

import pytest
from starlette.datastructures import Headers

from enhancer.config import load_settings
from enhancer.http.route_table import API_ROUTES
from enhancer.http.security import HTML_CONTENT_SECURITY_POLICY, SECURITY_HEADERS, origin_problem
from local.template import ROOT, load_template, resolve

TEMPLATE = load_template()
PARAMETERS: dict[str, Any] = TEMPLATE["Parameters"]
CONDITIONS: dict[str, Any] = TEMPLATE["Conditions"]
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
OUTPUTS: dict[str, Any] = TEMPLATE["Outputs"]
WEB_RESOURCES = sorted(name for name in RESOURCES if name.startswith("Web"))
DISTRIBUTION = RESOURCES["WebSiteDistribution"]["Properties"]["DistributionConfig"]
BEHAVIOURS = {behaviour["PathPattern"]: behaviour for behaviour in DISTRIBUTION["CacheBehaviors"]}
ORIGINS = {origin["Id"]: origin for origin in DISTRIBUTION["Origins"]}
WEB_CONDITIONS = ("HasWebDistribution", "HasWebFirewall", "HasWebDomain", "HasWebDomainZone")

CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
EXECUTE_API_HOST = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"


def _if(node: Any, condition: str) -> tuple[Any, Any]:
    """The (true, false) branches of an `Fn::If` on `condition`."""
    name, when_true, when_false = node["Fn::If"]
    assert name == condition, node
    return when_true, when_false


def _implies_distribution(condition: str) -> bool:
    if condition == "HasWebDistribution":
        return True
    # `!Condition X` loads as {"Fn::Condition": X} (local.template), its long form as {"Condition": X}.
    named = [part.get("Fn::Condition") or part.get("Condition") for part in CONDITIONS[condition].get("Fn::And", [])]
    return any(name and _implies_distribution(name) for name in named)


# ---------------------------------------------------------------- off by default, everything conditional


def test_the_web_parameters_are_off_by_default():
    assert PARAMETERS["WebDistribution"]["Default"] == "false"
    assert PARAMETERS["WebFirewall"]["Default"] == "false"
    for name in ("WebDomainName", "WebCertificateArn", "WebHostedZoneId"):
        assert PARAMETERS[name]["Default"] == "", name
    assert PARAMETERS["WebAclRateLimit"]["MinValue"] == 10  # WAF's smallest rate limit


def test_every_web_resource_and_output_exists_only_with_the_distribution():
    assert {"WebBucket", "WebBucketPolicy", "WebOriginAccessControl", "WebSecurityHeadersPolicy",
            "WebWwwRedirectFunction", "WebSiteDistribution", "WebDnsRecords", "WebAcl"} <= set(WEB_RESOURCES)
    for name in WEB_RESOURCES:
        assert RESOURCES[name]["Condition"] in WEB_CONDITIONS, name
    for name in WEB_CONDITIONS:
        assert _implies_distribution(name), name
    for name in ("WebUrl", "WebBucketName", "WebDistributionId"):
        assert OUTPUTS[name]["Condition"] == "HasWebDistribution", name
    assert RESOURCES["WebAcl"]["Condition"] == "HasWebFirewall"
    assert RESOURCES["WebWwwRedirectFunction"]["Condition"] == "HasWebDomain"
    assert RESOURCES["WebDnsRecords"]["Condition"] == "HasWebDomainZone"


def test_nothing_a_function_reads_names_the_distribution():
    """HttpApi -> the functions; the distribution -> HttpApi: a function naming it would be a cycle."""
    functions = [resource for resource in RESOURCES.values() if resource["Type"] == "AWS::Serverless::Function"]
    for node in [TEMPLATE["Globals"], *functions]:
        text = json.dumps(node)
        assert not re.search(r'"(WebSiteDistribution|WebAcl|WebBucket)\b', text)
        assert "${WebSiteDistribution" not in text


def test_the_outputs_give_the_domain_when_there_is_one():
    with_domain, without = _if(OUTPUTS["WebUrl"]["Value"], "HasWebDomain")

    assert with_domain == {"Fn::Sub": "https://${WebDomainName}/"}
    assert without == {"Fn::Sub": "https://${WebSiteDistribution.DomainName}/"}
    assert OUTPUTS["WebBucketName"]["Value"] == {"Ref": "WebBucket"}
    assert OUTPUTS["WebDistributionId"]["Value"] == {"Ref": "WebSiteDistribution"}


# ---------------------------------------------------------------- us-east-1


@pytest.mark.parametrize(("arn", "accepted"), [
    ("", True),
    ("arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-0000-1111-2222-333344445555", True),
    ("arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-0000-1111-2222-333344445555", False),
    ("arn:aws:iam::123456789012:server-certificate/x", False),
])
def test_the_certificate_must_be_in_us_east_1(arn, accepted):
    assert bool(re.fullmatch(PARAMETERS["WebCertificateArn"]["AllowedPattern"], arn)) is accepted


def test_the_rules_refuse_a_firewall_outside_us_east_1_and_an_incomplete_domain():
    firewall = TEMPLATE["Rules"]["WebFirewallIsInUsEast1"]
    domain = TEMPLATE["Rules"]["WebDomainIsComplete"]

    assert {"Fn::Equals": [{"Ref": "WebFirewall"}, "true"]} in firewall["RuleCondition"]["Fn::And"]
    assert [a["Assert"] for a in firewall["Assertions"]] == [{"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}]
    assert {"Fn::Not": [{"Fn::Equals": [{"Ref": "WebCertificateArn"}, ""]}]} in [a["Assert"]
                                                                                for a in domain["Assertions"]]
    assert RESOURCES["WebAcl"]["Properties"]["Scope"] == "CLOUDFRONT"


# ---------------------------------------------------------------- the bucket


def test_the_web_bucket_is_private_and_encrypted():
    bucket = RESOURCES["WebBucket"]["Properties"]

    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert "WebsiteConfiguration" not in bucket and "CorsConfiguration" not in bucket


def test_only_this_distribution_may_read_the_bucket_through_origin_access_control():
    statements = RESOURCES["WebBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    [allow] = [statement for statement in statements if statement["Effect"] == "Allow"]

    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == "s3:GetObject" and allow["Resource"] == {"Fn::Sub": "${WebBucket.Arn}/*"}
    assert allow["Condition"] == {"StringEquals": {"AWS:SourceArn": {
        "Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${WebSiteDistribution}"}}}
    assert all(statement["Effect"] == "Deny" for statement in statements if statement.get("Principal") == "*")


def test_the_bucket_origin_signs_with_oac_and_no_legacy_oai_exists():
    control = RESOURCES["WebOriginAccessControl"]["Properties"]["OriginAccessControlConfig"]
    origin = ORIGINS["web-bucket"]

    assert (control["OriginAccessControlOriginType"], control["SigningBehavior"], control["SigningProtocol"]) == (
        "s3", "always", "sigv4")
    assert origin["DomainName"] == {"Fn::GetAtt": ["WebBucket", "RegionalDomainName"]}
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["WebOriginAccessControl", "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    assert not [r for r in RESOURCES.values() if r["Type"] == "AWS::CloudFront::CloudFrontOriginAccessIdentity"]


# ---------------------------------------------------------------- the behaviours


def test_the_api_origin_is_the_http_apis_execute_api_host_over_https_only():
    origin = ORIGINS["http-api"]

    assert origin["DomainName"] == {"Fn::Sub": "${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"}
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert origin["CustomOriginConfig"]["OriginSSLProtocols"] == ["TLSv1.2"]


@pytest.mark.parametrize("pattern", ["/api/*", "/r2-ai/*"])
def test_the_api_paths_go_to_the_api_uncached_with_every_method_and_all_but_host(pattern):
    behaviour = BEHAVIOURS[pattern]

    assert behaviour["TargetOriginId"] == "http-api"
    assert behaviour["CachePolicyId"] == CACHING_DISABLED
    assert behaviour["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST  # cookies, query, Origin, CSRF, Idempotency
    assert set(behaviour["AllowedMethods"]) == {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}
    assert behaviour["ViewerProtocolPolicy"] == "https-only"  # a redirect would drop an unsafe request's body


def test_every_route_of_the_api_is_behind_an_api_behaviour():
    prefixes = [pattern.removesuffix("*") for pattern in BEHAVIOURS]

    assert sorted(BEHAVIOURS) == ["/api/*", "/r2-ai/*"]
    for path in API_ROUTES:
        assert path.startswith(tuple(prefixes)), path


def test_the_page_is_served_from_the_bucket_cached_get_and_head_over_https():
    page = DISTRIBUTION["DefaultCacheBehavior"]

    assert page["TargetOriginId"] == "web-bucket" and page["CachePolicyId"] == CACHING_OPTIMIZED
    assert page["AllowedMethods"] == page["CachedMethods"] == ["GET", "HEAD"]
    assert page["ViewerProtocolPolicy"] == "redirect-to-https"
    assert page["ResponseHeadersPolicyId"] == {"Ref": "WebSecurityHeadersPolicy"}
    assert DISTRIBUTION["DefaultRootObject"] == "index.html"
    assert DISTRIBUTION["HttpVersion"] == "http2and3" and DISTRIBUTION["Enabled"] is True


def test_a_domain_brings_its_certificate_with_tls_1_2_and_both_names():
    certificate, default = _if(DISTRIBUTION["ViewerCertificate"], "HasWebDomain")
    aliases, none = _if(DISTRIBUTION["Aliases"], "HasWebDomain")

    assert certificate == {"AcmCertificateArn": {"Ref": "WebCertificateArn"}, "SslSupportMethod": "sni-only",
                           "MinimumProtocolVersion": "TLSv1.2_2021"}
    assert default == {"CloudFrontDefaultCertificate": True}
    assert aliases == [{"Ref": "WebDomainName"}, {"Fn::Sub": "www.${WebDomainName}"}]
    assert none == {"Ref": "AWS::NoValue"}


def test_the_dns_records_alias_both_names_to_the_distribution_for_ipv4_and_ipv6():
    records = RESOURCES["WebDnsRecords"]["Properties"]["RecordSets"]

    assert sorted((json.dumps(r["Name"]), r["Type"]) for r in records) == sorted(
        (json.dumps(name), kind) for name in ({"Ref": "WebDomainName"}, {"Fn::Sub": "www.${WebDomainName}"})
        for kind in ("A", "AAAA"))
    for record in records:
        assert record["AliasTarget"] == {"DNSName": {"Fn::GetAtt": ["WebSiteDistribution", "DomainName"]},
                                         "HostedZoneId": "Z2FDTNDATAQYW2"}  # CloudFront's alias zone
    assert DISTRIBUTION["IPV6Enabled"] is True


# ---------------------------------------------------------------- the page's headers: the code's, one fact


def _policy_headers() -> dict[str, str]:
    """The headers the response headers policy adds, as a browser receives them."""
    config = RESOURCES["WebSecurityHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]
    security = config["SecurityHeadersConfig"]
    hsts = security["StrictTransportSecurity"]
    headers = {
        "Content-Security-Policy": security["ContentSecurityPolicy"]["ContentSecurityPolicy"],
        "X-Frame-Options": security["FrameOptions"]["FrameOption"],
        "Referrer-Policy": security["ReferrerPolicy"]["ReferrerPolicy"],
        "Strict-Transport-Security": "; ".join(
            [f"max-age={hsts['AccessControlMaxAgeSec']}"] + ["includeSubDomains"] * hsts["IncludeSubdomains"]
            + ["preload"] * hsts["Preload"]),
    }
    if "ContentTypeOptions" in security:
        headers["X-Content-Type-Options"] = "nosniff"  # the only value CloudFront sends
    for item in config.get("CustomHeadersConfig", {}).get("Items", []):
        headers[item["Header"]] = item["Value"]
    overrides = [entry["Override"] for entry in security.values()]
    overrides += [item["Override"] for item in config.get("CustomHeadersConfig", {}).get("Items", [])]
    assert all(overrides), "every header replaces whatever the origin sent"
    return headers


def test_the_page_gets_exactly_the_security_headers_and_csp_the_code_sends():
    assert _policy_headers() == {**dict(SECURITY_HEADERS), "Content-Security-Policy": HTML_CONTENT_SECURITY_POLICY}


def test_only_the_page_behaviour_adds_them_the_api_sends_its_own():
    assert all("ResponseHeadersPolicyId" not in behaviour for behaviour in BEHAVIOURS.values())


# ---------------------------------------------------------------- the WAF rate rule


RULE = RESOURCES["WebAcl"]["Properties"]["Rules"][0]


def test_the_web_acl_allows_by_default_and_reports_metrics_and_samples():
    acl = RESOURCES["WebAcl"]["Properties"]

    assert acl["DefaultAction"] == {"Allow": {}} and len(acl["Rules"]) == 1
    for visibility in (acl["VisibilityConfig"], RULE["VisibilityConfig"]):
        assert visibility["CloudWatchMetricsEnabled"] is True and visibility["SampledRequestsEnabled"] is True
    assert _if(DISTRIBUTION["WebACLId"], "HasWebFirewall") == ({"Fn::GetAtt": ["WebAcl", "Arn"]},
                                                               {"Ref": "AWS::NoValue"})


def test_the_rate_rule_counts_per_client_ip_up_to_the_parameter():
    rate = RULE["Statement"]["RateBasedStatement"]

    assert rate["AggregateKeyType"] == "IP" and rate["Limit"] == {"Ref": "WebAclRateLimit"}
    assert rate["EvaluationWindowSec"] == 300  # "per 5 minutes", as the parameter says


def test_a_blocked_client_gets_429_in_the_apis_envelope_with_retry_after():
    response = RULE["Action"]["Block"]["CustomResponse"]
    body = RESOURCES["WebAcl"]["Properties"]["CustomResponseBodies"][response["CustomResponseBodyKey"]]
    [retry_after] = [h["Value"] for h in response["ResponseHeaders"] if h["Name"] == "Retry-After"]
    envelope = json.loads(body["Content"])

    assert response["ResponseCode"] == 429 and body["ContentType"] == "APPLICATION_JSON"
    assert envelope == {"success": False, "error": {"type": "rate_limit", "message": "Too many requests"},
                        "retryAfter": int(retry_after)}  # the top-level retryAfter of the API's own 429


def _matches(statement: dict[str, Any], path: str) -> bool:
    """WAF's evaluation of the statements the scope-down uses, on a request's URI path."""
    if "AndStatement" in statement:
        return all(_matches(part, path) for part in statement["AndStatement"]["Statements"])
    if "OrStatement" in statement:
        return any(_matches(part, path) for part in statement["OrStatement"]["Statements"])
    if "NotStatement" in statement:
        return not _matches(statement["NotStatement"]["Statement"], path)
    match = statement["ByteMatchStatement"]
    assert match["FieldToMatch"] == {"UriPath": {}}
    for transformation in match["TextTransformations"]:
        path = unquote(path) if transformation["Type"] == "URL_DECODE" else path
    position = match["PositionalConstraint"]
    return path.startswith(match["SearchString"]) if position == "STARTS_WITH" else path == match["SearchString"]


SIGNED_WEBHOOKS = {"/api/ai-image/webhooks/replicate", "/api/billing/stripe-webhook"}


def test_the_rule_counts_what_costs_an_invocation_and_spares_the_page_and_the_signed_webhooks():
    scope = RULE["Statement"]["RateBasedStatement"]["ScopeDownStatement"]
    counted = {path for path in API_ROUTES if _matches(scope, path.replace("{key+}", "ai-enhancer/x.png"))}

    assert set(API_ROUTES) >= SIGNED_WEBHOOKS
    assert counted == set(API_ROUTES) - SIGNED_WEBHOOKS
    for path in ("/", "/index.html", "/js/main.js", "/style.css"):
        assert not _matches(scope, path), path
    assert _matches(scope, "/api/ai-image/%75sage")  # API Gateway decodes once, and so does the rule
    assert not _matches(scope, "/api/ai-image/%77ebhooks/replicate")


def test_the_signed_webhooks_are_the_routes_whose_functions_check_a_signature_not_the_origin():
    def checks_no_origin(resource: dict[str, Any]) -> bool:
        return "verify_origin=False" in (ROOT / resource["Properties"]["CodeUri"] / "app.py").read_text()

    verified_elsewhere = {path for path in SIGNED_WEBHOOKS
                          for name, resource in RESOURCES.items() if resource["Type"] == "AWS::Serverless::Function"
                          for event in resource["Properties"].get("Events", {}).values()
                          if event.get("Properties", {}).get("Path") == path and name != "FallbackFunction"
                          and checks_no_origin(resource)}

    assert verified_elsewhere == SIGNED_WEBHOOKS


# ---------------------------------------------------------------- www → the apex


FUNCTION = RESOURCES["WebWwwRedirectFunction"]["Properties"]
CODE = FUNCTION["FunctionCode"]["Fn::Sub"]


def test_the_redirect_function_is_tiny_and_answers_301_to_the_apex():
    assert FUNCTION["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0" and FUNCTION["AutoPublish"] is True
    assert len(CODE.splitlines()) <= 15
    assert "statusCode: 301" in CODE and '"https://${WebDomainName}" + request.uri' in CODE
    assert 'indexOf("www.") !== 0) return request' in CODE


def test_with_a_domain_every_behaviour_runs_it_on_the_viewer_request():
    association = [{"EventType": "viewer-request", "FunctionARN": {"Fn::GetAtt": ["WebWwwRedirectFunction",
                                                                                  "FunctionARN"]}}]
    for behaviour in [DISTRIBUTION["DefaultCacheBehavior"], *BEHAVIOURS.values()]:
        assert _if(behaviour["FunctionAssociations"], "HasWebDomain") == (association, {"Ref": "AWS::NoValue"})


def _run_function(host: str | None, uri: str, querystring: dict[str, Any]) -> dict[str, Any]:
    code = resolve({"Fn::Sub": CODE}, {"WebDomainName": "example.com"})
    headers = {"host": {"value": host}} if host else {}
    event = {"version": "1.0", "context": {"eventType": "viewer-request"}, "viewer": {"ip": "192.0.2.1"},
             "request": {"method": "GET", "uri": uri, "querystring": querystring, "headers": headers, "cookies": {}}}
    driver = code + "\nconsole.log(JSON.stringify(handler(JSON.parse(require('fs').readFileSync(0, 'utf8')))));\n"
    done = subprocess.run(["node", "-e", driver], input=json.dumps(event), capture_output=True, text=True,
                          timeout=30, check=True)
    return json.loads(done.stdout)


needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="no node to run the CloudFront Function")


@needs_node
def test_www_is_redirected_to_the_same_path_and_query_on_the_apex():
    answer = _run_function("www.example.com", "/js/main.js",
                           {"a": {"value": "1"}, "b": {"value": "2", "multiValue": [{"value": "2"}, {"value": "3"}]},
                            "flag": {"value": ""}})

    assert answer["statusCode"] == 301
    assert answer["headers"] == {"location": {"value": "https://example.com/js/main.js?a=1&b=2&b=3&flag"}}


@needs_node
@pytest.mark.parametrize("host", ["WWW.example.com", "www.example.com"])
def test_any_www_host_is_redirected_and_a_bare_path_keeps_no_query(host):
    assert _run_function(host, "/", {})["headers"]["location"]["value"] == "https://example.com/"


@needs_node
@pytest.mark.parametrize("host", ["example.com", "d111111abcdef8.cloudfront.net", None])
def test_every_other_host_passes_through_unchanged(host):
    answer = _run_function(host, "/api/ai-image/usage", {"x": {"value": "1"}})

    assert answer["uri"] == "/api/ai-image/usage" and answer["querystring"] == {"x": {"value": "1"}}
    assert "statusCode" not in answer


# ---------------------------------------------------------------- the page's origin on unsafe requests


def _allowed_origins(monkeypatch: pytest.MonkeyPatch, **parameters: str) -> tuple[str, ...]:
    variable = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["ALLOWED_ORIGINS"]
    with_domain, without = _if(variable, "HasWebDomain")
    value = resolve(with_domain if parameters.get("WebDomainName") else without,
                    {"AllowedOrigins": "", **parameters})
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("ALLOWED_ORIGINS", value)
    return load_settings().allowed_origins


def _unsafe_from(origin: str, allowed: tuple[str, ...]) -> str | None:
    """What the API answers a POST the distribution forwarded: Host is the API's own, Origin the page's."""
    headers = Headers({"host": EXECUTE_API_HOST, "origin": origin})
    return origin_problem(scheme="https", headers=headers, allowed_origins=allowed)


def test_behind_the_distribution_the_domains_origin_is_allowed_without_any_setting(monkeypatch):
    allowed = _allowed_origins(monkeypatch, WebDomainName="example.com")

    assert allowed == ("https://example.com",)
    assert _unsafe_from("https://example.com", allowed) is None
    assert _unsafe_from("https://www.example.com", allowed) == "Origin not allowed"  # www only redirects
    assert _unsafe_from("https://evil.example", allowed) == "Origin not allowed"


def test_the_operators_origins_are_kept_beside_the_domain(monkeypatch):
    assert _allowed_origins(monkeypatch, WebDomainName="example.com", AllowedOrigins="https://d1.cloudfront.net") \
        == ("https://example.com", "https://d1.cloudfront.net")


def test_without_a_domain_the_cloudfront_name_is_the_operators_to_add(monkeypatch):
    assert _allowed_origins(monkeypatch) == ()
    assert _unsafe_from("https://d111111abcdef8.cloudfront.net", ()) == "Origin not allowed"
    allowed = _allowed_origins(monkeypatch, AllowedOrigins="https://d111111abcdef8.cloudfront.net")
    assert _unsafe_from("https://d111111abcdef8.cloudfront.net", allowed) is None
    readme = (ROOT / "README.md").read_text()
    hosting = readme[readme.index("\n### Hosting the page (CloudFront)"):]
    hosting = hosting[:hosting.find("\n#", 1)]
    assert "AllowedOrigins" in hosting and "WebUrl" in hosting


# ---------------------------------------------------------------- the lint sees it on


def test_make_lint_template_lints_the_transformed_template_with_every_web_option_on():
    makefile = (ROOT / "Makefile").read_text()
    [on] = re.findall(r"^WEB_LINT_PARAMETERS := ((?:.*\\\n)*.*)$", makefile, re.MULTILINE)
    values = dict(pair.split("=", 1) for pair in on.replace("\\\n", " ").split())

    assert values["WebDistribution"] == values["WebFirewall"] == "true"
    assert values["WebDomainName"] and values["WebHostedZoneId"]
    assert re.fullmatch(PARAMETERS["WebCertificateArn"]["AllowedPattern"], values["WebCertificateArn"])
    assert "$(WEB_LINT_PARAMETERS) -- .aws-sam/transformed.json" in makefile
