"""Every URL and form the product presigns is one S3 itself accepts: Signature Version 4 (buckets created since
2020 refuse version 2) addressed to the bucket's regional endpoint, in every region the template can be
deployed to. moto checks no signature, so these tests read what was signed."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from enhancer.adapters.aws import aws_client, reset_clients
from enhancer.adapters.s3_store import S3ImageStore
from tests.integration.conftest import load_event

BUCKET = "enhancer-prod-imagesbucket-1a2b3c4d5e6f"
KEY = "ai-enhancer/uploads/guest/0123456789abcdef0123456789abcdef/x.png"


def _regions() -> list[tuple[str, str]]:
    """(region, DNS suffix) of every region S3 and Lambda are in, in every partition botocore knows."""
    session = boto3.session.Session()
    found = []
    for partition in session.get_available_partitions():
        lambda_regions = set(session.get_available_regions("lambda", partition_name=partition))
        suffix = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
        found += [(region, suffix) for region in session.get_available_regions("s3", partition_name=partition)
                  if region in lambda_regions and partition in ("aws", "aws-cn", "aws-us-gov")]
    return found


REGIONS = _regions()


@pytest.fixture
def store_in(monkeypatch):
    def build(region: str) -> S3ImageStore:
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
        reset_clients()
        return S3ImageStore(aws_client("s3", region), BUCKET)

    yield build
    reset_clients()


def test_the_region_list_covers_the_partitions():
    regions = {region for region, _ in REGIONS}
    assert {"us-east-1", "eu-west-1", "ap-southeast-2", "cn-north-1", "us-gov-west-1"} <= regions
    assert len(regions) >= 25


def _assert_sigv4_credential(credential: str, region: str) -> None:
    assert credential.split("/")[2:] == [region, "s3", "aws4_request"]


@pytest.mark.parametrize(("region", "suffix"), REGIONS)
def test_presigned_get_urls_are_sigv4_on_the_regional_host(store_in, region, suffix):
    url = urlsplit(store_in(region).presigned_get_url(KEY, 900))
    query = parse_qs(url.query)

    assert url.scheme == "https"
    assert url.netloc == f"{BUCKET}.s3.{region}.{suffix}"
    assert url.path == f"/{KEY}"
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["900"]
    _assert_sigv4_credential(query["X-Amz-Credential"][0], region)
    assert "Signature" not in query and "AWSAccessKeyId" not in query


@pytest.mark.parametrize(("region", "suffix"), REGIONS)
def test_presigned_upload_forms_are_sigv4_on_the_regional_host(store_in, region, suffix):
    post = store_in(region).presigned_post(KEY, "image/png", 10 * 1024 * 1024, 600)
    fields = post["fields"]
    policy = json.loads(base64.b64decode(fields["policy"]))

    assert post["url"] == f"https://{BUCKET}.s3.{region}.{suffix}/"
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    _assert_sigv4_credential(fields["x-amz-credential"], region)
    assert {"x-amz-date", "x-amz-signature", "key", "Content-Type"} <= set(fields)
    assert "signature" not in fields and "AWSAccessKeyId" not in fields
    assert {"bucket": BUCKET} in policy["conditions"] and {"key": KEY} in policy["conditions"]
    assert ["content-length-range", 1, 10 * 1024 * 1024] in policy["conditions"]


def test_the_upload_route_hands_out_a_sigv4_form(invoke, aws):
    event = load_event("dev-login-post", path="/api/ai-image/uploads", cookies={"csrf_token": "t" * 32})
    event["routeKey"] = event["requestContext"]["routeKey"] = "POST /api/ai-image/uploads"
    event["headers"]["x-csrf-token"] = "t" * 32
    event["body"] = json.dumps({"contentType": "image/png", "size": 1234})

    reply = invoke("UploadsFunction", event)

    assert reply.status == 201, reply.body[:300]
    ticket = reply.json()["data"]
    assert ticket["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    assert urlsplit(ticket["url"]).netloc.endswith(".s3.us-east-1.amazonaws.com")


def test_the_proxy_redirects_large_images_to_a_sigv4_url(invoke, aws, monkeypatch):
    from enhancer import bootstrap

    monkeypatch.setenv("IMAGE_PROXY_INLINE_MAX_BYTES", "100")
    bootstrap.reset()
    key = "ai-enhancer/uploads/guest/x/big.png"
    aws.s3.put_object(Bucket="enhancer-test-images", Key=key, Body=b"\x89PNG" + b"0" * 400, ContentType="image/png")

    reply = invoke("ImageProxyFunction", load_event("image-proxy-get-upload", path=f"/r2-ai/{key}"))

    assert reply.status == 302
    location = urlsplit(reply.header("Location"))
    assert location.netloc == "enhancer-test-images.s3.us-east-1.amazonaws.com"
    assert parse_qs(location.query)["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
