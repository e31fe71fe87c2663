"""Browser uploads against the local stack: the presigned POST the product issues is enforced as S3 enforces it
(local.s3_upload_gate.PostPolicyMiddleware in front of moto, which enforces nothing), and a refused upload
stores nothing."""

from __future__ import annotations

import base64
import json
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import pytest
from botocore.exceptions import ClientError

from local.s3_post_policy import post_signature
from local.samples import s3_form
from tests.integration.conftest import png_bytes
from tests.stack.test_local_stack import unsafe_headers

PNG = png_bytes(64, 64)


def issue_form(client: httpx.Client) -> dict:
    response = client.post("/api/ai-image/uploads", json={"contentType": "image/png", "size": len(PNG)},
                           headers=unsafe_headers(client))
    assert response.status_code == 201, response.text
    return response.json()["data"]


def post_form(url: str, fields: dict[str, str], content: bytes = PNG, content_type: str = "image/png",
              origin: str | None = None) -> httpx.Response:
    return httpx.post(url, data=fields, files={"file": ("photo.png", content, content_type)}, timeout=120,
                      headers={"Origin": origin} if origin else None)


def is_stored(s3, stack: dict, key: str) -> bool:
    try:
        s3.head_object(Bucket=stack["bucket"], Key=key)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def s3_error(response: httpx.Response) -> tuple[str | None, str | None]:
    root = ET.fromstring(response.content)  # noqa: S314 - the local stack's own answer
    return root.findtext("Code"), root.findtext("Message")


def edit_policy(fields: dict[str, str], edit: Callable[[dict], None], *, resign: bool) -> dict[str, str]:
    """The form with its policy edited; signed again with the local stack's (well-known, fake) secret, or not."""
    policy = json.loads(base64.b64decode(fields["policy"]))
    edit(policy)
    policy_b64 = base64.b64encode(json.dumps(policy).encode()).decode()
    edited = {**fields, "policy": policy_b64}
    if resign:
        _, date, region, _, _ = fields["x-amz-credential"].split("/")
        edited["x-amz-signature"] = post_signature(policy_b64, "testing", date, region)
    return edited


def test_the_issued_form_stores_a_png_that_generate_then_enhances(client, s3, stack):
    form = issue_form(client)
    assert form["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"  # SigV4, the only kind S3 buckets accept

    uploaded = post_form(form["url"], form["fields"])

    assert uploaded.status_code == 204, uploaded.text
    assert is_stored(s3, stack, form["uploadKey"])
    response = client.post("/api/ai-image/generate", json={"model": "real-esrgan", "uploadKey": form["uploadKey"]},
                           headers=unsafe_headers(client))
    assert response.status_code == 200, response.text
    original = client.get(response.json()["data"]["originalUrl"])
    assert original.status_code == 200 and original.content == PNG


def test_a_20_mb_file_is_entity_too_large_and_not_stored(client, s3, stack):
    form = issue_form(client)

    response = post_form(form["url"], form["fields"], PNG + b"\0" * (20 * 1024 * 1024 - len(PNG)))

    assert response.status_code == 400, response.text
    code, _ = s3_error(response)
    assert code == "EntityTooLarge"
    assert ET.fromstring(response.content).findtext("MaxSizeAllowed") == str(10 * 1024 * 1024)  # noqa: S314
    assert not is_stored(s3, stack, form["uploadKey"])


def test_an_html_file_is_refused_and_not_stored(client, s3, stack):
    form = issue_form(client)
    page = str(client.base_url).rstrip("/")

    response = post_form(form["url"], {**form["fields"], "Content-Type": "text/html"}, b"<script>alert(1)</script>",
                         "text/html", origin=page)

    assert response.status_code == 403, response.text
    assert s3_error(response) == ("AccessDenied", 'Invalid according to Policy: Policy Condition failed: '
                                                  '["eq", "$Content-Type", "image/png"]')
    assert response.headers["Access-Control-Allow-Origin"] == page  # the page can read why, as from S3
    assert not is_stored(s3, stack, form["uploadKey"])


def test_another_guests_key_is_refused_and_not_stored(client, s3, stack):
    form = issue_form(client)
    with httpx.Client(base_url=stack["url"], timeout=30) as other_guest:
        others = issue_form(other_guest)
    assert others["uploadKey"].split("/")[:4] != form["uploadKey"].split("/")[:4]  # another owner's prefix

    response = post_form(form["url"], {**form["fields"], "key": others["uploadKey"]})

    assert response.status_code == 403, response.text
    code, message = s3_error(response)
    assert code == "AccessDenied" and '"$key"' in (message or "")
    assert not is_stored(s3, stack, others["uploadKey"])
    assert not is_stored(s3, stack, form["uploadKey"])


def test_a_rewritten_policy_does_not_match_its_signature_and_is_not_stored(client, s3, stack):
    form = issue_form(client)

    def any_type_any_size(policy: dict) -> None:
        policy["conditions"] = [c for c in policy["conditions"] if c != {"Content-Type": "image/png"}
                                and not (isinstance(c, list) and c[0] == "content-length-range")]
        policy["conditions"].append(["starts-with", "$Content-Type", ""])

    fields = edit_policy(form["fields"], any_type_any_size, resign=False)

    response = post_form(form["url"], {**fields, "Content-Type": "text/html"}, b"<html></html>", "text/html")

    assert response.status_code == 403, response.text
    assert s3_error(response)[0] == "SignatureDoesNotMatch"
    assert not is_stored(s3, stack, form["uploadKey"])


def test_a_zeroed_signature_is_refused_and_not_stored(client, s3, stack):
    form = issue_form(client)

    response = post_form(form["url"], {**form["fields"], "x-amz-signature": "0" * 64})

    assert response.status_code == 403, response.text
    assert s3_error(response)[0] == "SignatureDoesNotMatch"
    assert not is_stored(s3, stack, form["uploadKey"])


def test_an_expired_form_is_refused_and_not_stored(client, s3, stack):
    form = issue_form(client)
    expired_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    fields = edit_policy(form["fields"], lambda policy: policy.update(expiration=expired_at), resign=True)

    response = post_form(form["url"], fields)

    assert response.status_code == 403, response.text
    assert s3_error(response) == ("AccessDenied", "Invalid according to Policy: Policy expired.")
    assert not is_stored(s3, stack, form["uploadKey"])


@pytest.mark.parametrize("body, content_type, code", [
    (b"key=ai-enhancer/uploads/guest/x/y.png&file=hello", "application/x-www-form-urlencoded",
     "PreconditionFailed"),
    (b"--b\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk", "multipart/form-data; boundary=b",
     "MalformedPOSTRequest"),
], ids=["urlencoded", "truncated multipart"])
def test_a_post_that_is_no_complete_form_is_refused(stack, s3, body, content_type, code):
    """moto would store the urlencoded one (its `file` field as the object); S3 answers 412."""
    response = httpx.post(f"{stack['awsEndpoint']}/{stack['bucket']}", content=body,
                          headers={"Content-Type": content_type}, timeout=30)

    assert s3_error(response)[0] == code
    assert not is_stored(s3, stack, "ai-enhancer/uploads/guest/x/y.png")


BOUNDARY = "stack-test-boundary"


def multipart(fields: list[tuple[str, str]], after: list[tuple[str, str]] | None = None,
              content: bytes = PNG) -> bytes:
    return s3_form(fields, content, boundary=BOUNDARY, after=after)

def post_raw(url: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(url, content=body, timeout=30,
                      headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}", **(headers or {})})


def probe_key() -> str:
    return f"ai-enhancer/uploads/guest/probe/{uuid.uuid4().hex}.png"


@pytest.mark.parametrize("headers", [
    {"Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260115/us-east-1/s3/aws4_request, "
                      "SignedHeaders=host, Signature=abc"},
    {"X-Amz-Target": "AmazonS3.PutObject"},
], ids=["authorization", "x-amz-target"])
def test_an_unsigned_form_with_a_signed_looking_header_is_refused_and_not_stored(stack, s3, headers):
    """moto checks no signature: it would store this form (204)."""
    key = probe_key()

    response = post_raw(f"{stack['awsEndpoint']}/{stack['bucket']}", multipart([("key", key)]), headers)

    assert response.status_code == 403, response.text
    assert s3_error(response)[0] == "AccessDenied"
    assert not is_stored(s3, stack, key)


def virtual_hosts(stack: dict) -> list[str]:
    port = urlsplit(stack["awsEndpoint"]).port
    return [f"{stack['bucket']}.s3.amazonaws.com", f"{stack['bucket']}.localhost:{port}"]


@pytest.mark.parametrize("host", [0, 1], ids=["bucket.s3.amazonaws.com", "bucket.localhost:port"])
def test_an_unsigned_form_to_the_buckets_virtual_host_is_refused_and_not_stored(stack, s3, host):
    """moto reads the bucket from the Host header and would store this form (204)."""
    key = probe_key()

    response = post_raw(f"{stack['awsEndpoint']}/", multipart([("key", key)]),
                        {"Host": virtual_hosts(stack)[host]})

    assert response.status_code == 403, response.text
    assert s3_error(response)[0] == "AccessDenied"
    assert not is_stored(s3, stack, key)


def test_the_issued_form_posted_to_the_buckets_virtual_host_is_stored(client, s3, stack):
    form = issue_form(client)

    response = post_raw(f"{stack['awsEndpoint']}/", multipart(list(form["fields"].items())),
                        {"Host": virtual_hosts(stack)[1]})

    assert response.status_code == 204, response.text
    assert is_stored(s3, stack, form["uploadKey"])


def test_an_acl_after_the_file_is_refused_not_applied_and_not_stored(client, s3, stack):
    """S3 ignores the fields after the file (and refuses a public-read ACL on this bucket anyway); moto would
    apply it."""
    form = issue_form(client)

    response = post_raw(form["url"], multipart(list(form["fields"].items()), after=[("acl", "public-read")]))

    assert response.status_code == 501, response.text
    assert s3_error(response)[0] == "NotImplemented"
    assert not is_stored(s3, stack, form["uploadKey"])


def test_the_sdks_own_posts_to_the_bucket_still_reach_moto(s3, stack):
    """CreateMultipartUpload and CompleteMultipartUpload (POSTs to a key) and DeleteObjects (`POST /<bucket>?delete`)
    are signed SDK calls, no form uploads."""
    bucket, key = stack["bucket"], probe_key()
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType="image/png")
    part = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=PNG)
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == PNG

    deleted = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key}]})

    assert [d["Key"] for d in deleted["Deleted"]] == [key]
    assert not is_stored(s3, stack, key)
