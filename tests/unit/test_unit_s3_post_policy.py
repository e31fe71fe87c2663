"""S3's POST policy rules (local/s3_post_policy.py) against forms built by botocore's own generate_presigned_post,
the way the product builds them (S3ImageStore.presigned_post), with a fixed clock."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.config import Config

from enhancer.adapters.s3_store import S3ImageStore
from local.s3_post_policy import PolicyRefusal, check_post_upload, post_signature

SIGNED_AT = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)
NOW = SIGNED_AT + timedelta(seconds=30)
LIFETIME = 600
BUCKET = "enhancer-local-images"
KEY = "ai-enhancer/uploads/guest/owner-a/2d0c8f2e.png"
MAX_BYTES = 10 * 1024 * 1024
SECRETS = {"testing": "testing"}


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore dates both the policy's expiration and x-amz-date from this one function."""
    monkeypatch.setattr("botocore.signers.get_current_datetime", lambda remove_tzinfo=True: SIGNED_AT.replace(
        tzinfo=None))
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda remove_tzinfo=True: SIGNED_AT.replace(
        tzinfo=None))


def s3_client(signature_version: str | None = "s3v4", access_key: str = "testing", region: str = "us-east-1"):
    config = Config(s3={"addressing_style": "path"}, **({"signature_version": signature_version}
                                                         if signature_version else {}))
    return boto3.session.Session(aws_access_key_id=access_key, aws_secret_access_key="testing",
                                 aws_session_token="testing", region_name=region).client(
        "s3", endpoint_url="http://127.0.0.1:5000", config=config)


def product_form(key: str = KEY, content_type: str = "image/png", **client: str | None) -> dict[str, str]:
    """The fields of the product's own presigned POST (S3ImageStore.presigned_post), signed by botocore."""
    post = S3ImageStore(s3_client(**client), BUCKET).presigned_post(key, content_type, MAX_BYTES, LIFETIME)
    return dict(post["fields"])


def check(fields, size: int = 2048, *, bucket: str = BUCKET, now: datetime = NOW,
          filename: str | None = None) -> PolicyRefusal | None:
    return check_post_upload(fields, size, bucket=bucket, now=now, secret_for=SECRETS.get, region="us-east-1",
                             filename=filename)


def assert_refused(refusal: PolicyRefusal | None, status: int, code: str, message: str | None = None) -> None:
    assert refusal is not None, "accepted"
    assert (refusal.status, refusal.code) == (status, code), refusal
    if message is not None:
        assert refusal.message == message


def resigned(fields: dict[str, str], edit) -> dict[str, str]:
    """The form with its policy document edited by `edit` and signed again with the right key."""
    policy = json.loads(base64.b64decode(fields["policy"]))
    edit(policy)
    return sign_text(fields, json.dumps(policy))


def sign_text(fields: dict[str, str], text: str) -> dict[str, str]:
    policy_b64 = base64.b64encode(text.encode()).decode()
    date = fields["x-amz-credential"].split("/")[1]
    return {**fields, "policy": policy_b64, "x-amz-signature": post_signature(policy_b64, "testing", date,
                                                                               "us-east-1")}


def test_the_products_sigv4_form_is_signed_as_expected():
    fields = product_form()

    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    assert fields["x-amz-credential"] == "testing/20260115/us-east-1/s3/aws4_request"
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert policy["expiration"] == "2026-01-15T12:10:00Z"
    assert {"Content-Type": "image/png"} in policy["conditions"]
    assert ["content-length-range", 1, MAX_BYTES] in policy["conditions"]
    assert {"bucket": BUCKET} in policy["conditions"] and {"key": KEY} in policy["conditions"]


def test_the_signature_is_awss_own_example():
    """AWS's SigV4 POST example (its policy, CRLF line ends, and signature), not only botocore's view of it."""
    policy = "\r\n".join([
        '{ "expiration": "2015-12-30T12:00:00.000Z",',
        '  "conditions": [',
        '    {"bucket": "sigv4examplebucket"},',
        '    ["starts-with", "$key", "user/user1/"],',
        '    {"acl": "public-read"},',
        '    {"success_action_redirect": "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html"},',
        '    ["starts-with", "$Content-Type", "image/"],',
        '    {"x-amz-meta-uuid": "14365123651274"},',
        '    {"x-amz-server-side-encryption": "AES256"},',
        '    ["starts-with", "$x-amz-meta-tag", ""],',
        "",
        '    {"x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"},',
        '    {"x-amz-algorithm": "AWS4-HMAC-SHA256"},',
        '    {"x-amz-date": "20151229T000000Z" }',
        "  ]",
        "}",
    ])
    policy_b64 = base64.b64encode(policy.encode()).decode()

    signature = post_signature(policy_b64, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20151229", "us-east-1")

    assert signature == "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e"
    fields = {"key": "user/user1/${filename}", "acl": "public-read",
              "success_action_redirect": "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html",
              "Content-Type": "image/jpeg", "x-amz-meta-uuid": "14365123651274",
              "x-amz-server-side-encryption": "AES256",
              "X-Amz-Credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request",
              "X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Date": "20151229T000000Z", "x-amz-meta-tag": "",
              "Policy": policy_b64, "X-Amz-Signature": signature}
    assert check_post_upload(fields, 100, bucket="sigv4examplebucket", now=datetime(2015, 12, 29, 10, tzinfo=UTC),
                             secret_for={"AKIAIOSFODNN7EXAMPLE": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}.get,
                             region="us-east-1", filename="photo.jpg") is None


def test_the_products_form_with_a_small_png_is_accepted():
    assert check(product_form()) is None


def test_field_names_are_case_insensitive():
    fields = {name.upper() if name != "key" else "Key": value for name, value in product_form().items()}

    assert check(fields) is None


@pytest.mark.parametrize("size", [1, MAX_BYTES])
def test_the_length_range_is_inclusive(size):
    assert check(product_form(), size) is None


def test_a_file_over_the_max_is_entity_too_large():
    refusal = check(product_form(), MAX_BYTES + 1)

    assert_refused(refusal, 400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
    assert refusal is not None and dict(refusal.details) == {"ProposedSize": str(MAX_BYTES + 1),
                                                             "MaxSizeAllowed": str(MAX_BYTES)}


def test_an_empty_file_is_entity_too_small():
    refusal = check(product_form(), 0)

    assert_refused(refusal, 400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size")
    assert refusal is not None and dict(refusal.details) == {"ProposedSize": "0", "MinSizeAllowed": "1"}


def test_another_content_type_fails_its_condition():
    fields = {**product_form(), "Content-Type": "text/html"}

    assert_refused(check(fields), 403, "AccessDenied",
                   'Invalid according to Policy: Policy Condition failed: ["eq", "$Content-Type", "image/png"]')


def test_another_key_fails_its_condition():
    fields = {**product_form(), "key": "ai-enhancer/uploads/guest/owner-b/2d0c8f2e.png"}

    assert_refused(check(fields), 403, "AccessDenied",
                   f'Invalid according to Policy: Policy Condition failed: ["eq", "$key", "{KEY}"]')


def test_another_bucket_fails_its_condition():
    assert_refused(check(product_form(), bucket="someone-elses-bucket"), 403, "AccessDenied",
                   f'Invalid according to Policy: Policy Condition failed: ["eq", "$bucket", "{BUCKET}"]')


def test_a_rewritten_policy_with_the_old_signature_does_not_match():
    fields = product_form()
    policy = json.loads(base64.b64decode(fields["policy"]))
    policy["conditions"] = [c for c in policy["conditions"] if c != {"Content-Type": "image/png"}]
    policy["conditions"].append(["starts-with", "$Content-Type", ""])
    fields["policy"] = base64.b64encode(json.dumps(policy).encode()).decode()

    refusal = check({**fields, "Content-Type": "text/html"})

    assert_refused(refusal, 403, "SignatureDoesNotMatch", "The request signature we calculated does not match the "
                   "signature you provided. Check your key and signing method.")
    assert refusal is not None and dict(refusal.details)["StringToSign"] == fields["policy"]


def test_a_zeroed_signature_does_not_match():
    fields = {**product_form(), "x-amz-signature": "0" * 64}

    assert_refused(check(fields), 403, "SignatureDoesNotMatch")


def test_an_expired_policy_is_refused():
    fields = product_form()

    assert check(fields, now=SIGNED_AT + timedelta(seconds=LIFETIME)) is None  # the last valid second
    assert_refused(check(fields, now=SIGNED_AT + timedelta(seconds=LIFETIME + 1)), 403, "AccessDenied",
                   "Invalid according to Policy: Policy expired.")


def test_an_extra_unsigned_field_is_refused():
    fields = {**product_form(), "x-amz-meta-owner": "someone"}

    assert_refused(check(fields), 403, "AccessDenied", "Invalid according to Policy: Extra input fields: "
                   "x-amz-meta-owner")


def test_x_ignore_fields_need_no_condition():
    assert check({**product_form(), "x-ignore-submit": "Upload"}) is None


def test_a_form_without_a_key_is_refused():
    fields = product_form()
    del fields["key"]

    refusal = check(fields)

    assert_refused(refusal, 400, "InvalidArgument", "Bucket POST must contain a field named 'key'.  If it is "
                   "specified, please check the order of the fields.")
    assert refusal is not None and dict(refusal.details)["ArgumentName"] == "key"


@pytest.mark.parametrize("field, spelled", [("x-amz-algorithm", "X-Amz-Algorithm"), ("x-amz-date", "X-Amz-Date"),
                                            ("x-amz-signature", "X-Amz-Signature"), ("policy", "Policy")])
def test_a_form_missing_a_sigv4_field_names_it(field, spelled):
    fields = product_form()
    del fields[field]

    refusal = check(fields)

    assert_refused(refusal, 400, "InvalidArgument")
    assert refusal is not None and dict(refusal.details)["ArgumentName"] == spelled


def test_an_unsigned_form_is_anonymous_and_the_bucket_is_not_public():
    assert_refused(check({"key": KEY, "Content-Type": "image/png"}), 403, "AccessDenied", "Access Denied")


def test_an_unknown_access_key_is_refused():
    refusal = check(product_form(access_key="AKIASOMEONEELSE"))

    assert_refused(refusal, 403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our "
                   "records.")
    assert refusal is not None and dict(refusal.details) == {"AWSAccessKeyId": "AKIASOMEONEELSE"}


def test_a_credential_for_another_region_is_refused():
    refusal = check(product_form(region="eu-west-1"))

    assert_refused(refusal, 400, "InvalidArgument", "the region 'eu-west-1' is wrong; expecting 'us-east-1'")


def test_a_sigv2_form_is_refused_as_new_buckets_refuse_it():
    fields = product_form(signature_version=None)  # botocore's default for a presigned POST: SigV2
    assert "AWSAccessKeyId" in fields and "signature" in fields

    assert_refused(check(fields), 400, "InvalidRequest", "The authorization mechanism you have provided is not "
                   "supported. Please use AWS4-HMAC-SHA256.")


def test_a_field_sent_twice_counts_as_both_values():
    pairs = [*product_form().items(), ("key", "ai-enhancer/uploads/guest/owner-b/x.png")]

    assert_refused(check(pairs), 403, "AccessDenied")


def test_starts_with_and_content_type_lists_and_filename():
    def widen(policy: dict) -> None:
        policy["conditions"] = [c for c in policy["conditions"] if c not in ({"Content-Type": "image/png"},
                                                                             {"key": KEY})]
        policy["conditions"] += [["starts-with", "$Content-Type", "image/"],
                                 ["StArTs-WiTh", "$KEY", "ai-enhancer/uploads/guest/owner-a/"]]

    fields = resigned(product_form(), widen)
    prefix = "ai-enhancer/uploads/guest/owner-a/"

    assert check({**fields, "key": prefix + "${filename}"}, filename="C:\\photos\\cat.png") is None
    assert check({**fields, "Content-Type": "image/png,image/webp"}) is None
    assert_refused(check({**fields, "Content-Type": "image/png,text/html"}), 403, "AccessDenied")
    assert_refused(check({**fields, "key": "ai-enhancer/uploads/guest/owner-b/x.png"}), 403, "AccessDenied")


@pytest.mark.parametrize("text, message", [
    ("not json", "Invalid Policy: Invalid JSON."),
    ('{"expiration": "2026-01-15T12:10:00Z"}', "Invalid Policy: Policy missing conditions."),
    ('{"conditions": []}', "Invalid Policy: Policy missing expiration."),
    ('{"EXPIRATION": "2026-01-15T12:10:00Z", "conditions": []}', "Invalid Policy: Unexpected: 'expiration'"),
    ('{"expiration": "2026-01-15 12:10:00", "conditions": []}',
     "Invalid Policy: Invalid 'expiration' value: '2026-01-15 12:10:00'"),
    ('{"expiration": "2026-01-15T12:10:00Z", "conditions": [["content-length-range", 0, 512.0]]}',
     "Invalid Policy: Invalid JSON."),
    ('{"expiration": "2026-01-15T12:10:00Z", "conditions": [{"a": "1", "b": "2"}]}',
     "Invalid Policy: Invalid Simple-Condition: Simple-Conditions must have exactly one property specified."),
    ('{"expiration": "2026-01-15T12:10:00Z", "conditions": [["ends-with", "$key", "x"]]}',
     "Invalid Policy: Invalid Condition: unknown operation 'ends-with'."),
])
def test_a_signed_but_malformed_policy_is_an_invalid_policy_document(text, message):
    assert_refused(check(sign_text(product_form(), text)), 400, "InvalidPolicyDocument", message)


def test_a_condition_on_a_field_the_form_lacks_fails():
    fields = resigned(product_form(), lambda p: p["conditions"].append(["starts-with", "$x-amz-meta-tag", ""]))

    assert_refused(check(fields), 403, "AccessDenied",
                   'Invalid according to Policy: Policy Condition failed: ["starts-with", "$x-amz-meta-tag", ""]')
    assert check({**fields, "x-amz-meta-tag": "anything"}) is None


def test_the_refusal_is_s3s_xml_error():
    refusal = check(product_form(), MAX_BYTES + 1)
    assert refusal is not None

    root = ET.fromstring(refusal.xml("REQ123"))  # noqa: S314 - the XML this module wrote

    assert root.tag == "Error"
    assert [child.tag for child in root] == ["Code", "Message", "ProposedSize", "MaxSizeAllowed", "RequestId",
                                             "HostId"]
    assert root.findtext("Code") == "EntityTooLarge" and root.findtext("RequestId") == "REQ123"
