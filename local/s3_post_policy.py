"""S3's rules for a browser form upload (POST Object) signed with SigV4, as a pure check: no I/O, no clock.

moto stores whatever a form posts; AWS refuses a form whose policy is unsigned, expired or not met. The local
stack's middleware (local/s3_upload_gate.py) parses the form and asks `check_post_upload` before moto sees the object.

The rules are AWS's "Browser-Based Uploads Using POST (AWS Signature Version 4)" and "Creating a POST Policy":
the policy is base64 JSON with `expiration` and `conditions`; the signature is the hex HMAC-SHA256 of the base64
text under the SigV4 signing key of the credential's date and region for `s3`; form field names and condition
names are case-insensitive, values case-sensitive; every field but `policy`, `x-amz-signature`, `file` and
`x-ignore-*` needs a condition. Codes and messages are the ones S3 answers (recorded by others against S3 where
the documentation is silent), so a local refusal reads as the deployed one would. SigV2 forms are refused, as
S3 buckets in regions newer than 2014 refuse them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

ALGORITHM = "AWS4-HMAC-SHA256"
# What S3 calls the fields it names in its errors.
_SPELLING = {"x-amz-algorithm": "X-Amz-Algorithm", "x-amz-credential": "X-Amz-Credential",
             "x-amz-date": "X-Amz-Date", "x-amz-signature": "X-Amz-Signature", "policy": "Policy"}
_SIGV4_FIELDS = ("x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature")
_UNCONDITIONED = frozenset({"policy", "x-amz-signature", "file"})
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
_EXPIRATION = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d{1,9})?Z")


@dataclass(frozen=True, slots=True)
class PolicyRefusal:
    """S3's answer to a form it refuses: status, code, message and the extra elements of its XML error."""

    status: int
    code: str
    message: str
    details: tuple[tuple[str, str], ...] = ()

    def xml(self, request_id: str = "") -> bytes:
        extra = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in self.details)
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{self.code}</Code>'
                f"<Message>{escape(self.message)}</Message>{extra}<RequestId>{request_id}</RequestId>"
                f"<HostId>{request_id}</HostId></Error>").encode()


def _denied(message: str) -> PolicyRefusal:
    return PolicyRefusal(403, "AccessDenied", message)


def _argument(message: str, name: str, value: str = "", *extra: tuple[str, str]) -> PolicyRefusal:
    return PolicyRefusal(400, "InvalidArgument", message, (("ArgumentName", name), ("ArgumentValue", value), *extra))


def _must_contain(field: str) -> PolicyRefusal:
    return _argument(f"Bucket POST must contain a field named '{_SPELLING.get(field, field)}'.  "
                     "If it is specified, please check the order of the fields.", _SPELLING.get(field, field))


def _invalid_policy(reason: str) -> PolicyRefusal:
    return PolicyRefusal(400, "InvalidPolicyDocument", f"Invalid Policy: {reason}")


class _Refused(Exception):
    def __init__(self, refusal: PolicyRefusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


def signing_key(secret: str, date: str, region: str, service: str = "s3") -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def post_signature(policy_b64: str, secret: str, date: str, region: str) -> str:
    """The SigV4 signature of a POST policy: the base64 text as sent is the string to sign."""
    return hmac.new(signing_key(secret, date, region), policy_b64.encode(), hashlib.sha256).hexdigest()


def _normalise(fields: Mapping[str, str] | Iterable[tuple[str, str]]) -> tuple[dict[str, str], dict[str, str]]:
    """Lower-cased names; a field sent twice counts as its values joined by commas, as S3 reads it."""
    values: dict[str, str] = {}
    spelled: dict[str, str] = {}
    pairs = fields.items() if isinstance(fields, Mapping) else fields
    for name, value in pairs:
        lower = name.lower()
        values[lower] = f"{values[lower]},{value}" if lower in values else value
        spelled.setdefault(lower, name)
    return values, spelled


def check_post_upload(fields: Mapping[str, str] | Iterable[tuple[str, str]], file_size: int, *, bucket: str,
                      now: datetime, secret_for: Callable[[str], str | None], region: str | None = None,
                      filename: str | None = None) -> PolicyRefusal | None:
    """None if S3 would store this form's file in `bucket`, else S3's refusal.

    `fields` are the form's fields before the file part (S3 ignores those after it), duplicates allowed;
    `file_size` is the file part's length; `secret_for` maps an access key id to its secret (None: unknown);
    `region`, when given, must be the credential's; `filename` is the file part's, for `${filename}`.
    """
    values, spelled = _normalise(fields)
    if filename is not None:
        base = re.split(r"[/\\]", filename)[-1]
        values = {name: value.replace("${filename}", base) for name, value in values.items()}
    if "key" not in values:
        return _must_contain("key")
    if not any(name in values for name in _SIGV4_FIELDS):
        if "awsaccesskeyid" in values or "signature" in values:
            return PolicyRefusal(400, "InvalidRequest", "The authorization mechanism you have provided is not "
                                 "supported. Please use AWS4-HMAC-SHA256.")
        return _denied("Access Denied")  # anonymous: the bucket is not publicly writable
    for name in (*_SIGV4_FIELDS, "policy"):
        if name not in values:
            return _must_contain(name)
    try:
        access_key, date, credential_region = _credential(values, region)
        secret = secret_for(access_key)
        if secret is None:
            raise _Refused(PolicyRefusal(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not "
                                         "exist in our records.", (("AWSAccessKeyId", access_key),)))
        policy_b64, provided = values["policy"], values["x-amz-signature"]
        expected = post_signature(policy_b64, secret, date, credential_region)
        if not hmac.compare_digest(expected.encode(), provided.encode()):
            raise _Refused(PolicyRefusal(
                403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature "
                "you provided. Check your key and signing method.",
                (("AWSAccessKeyId", access_key), ("StringToSign", policy_b64), ("SignatureProvided", provided),
                 ("StringToSignBytes", " ".join(f"{b:02x}" for b in policy_b64.encode())))))
        expiration, conditions = _parse_policy(policy_b64)  # only once the signature holds, as S3 does
        if now > expiration:
            raise _Refused(_denied("Invalid according to Policy: Policy expired."))
        _check_conditions(conditions, values, spelled, file_size, bucket)
    except _Refused as refused:
        return refused.refusal
    return None


def _credential(values: dict[str, str], region: str | None) -> tuple[str, str, str]:
    """The access key, date and region of `x-amz-credential`, once the SigV4 fields are well formed."""
    algorithm, credential, amz_date = values["x-amz-algorithm"], values["x-amz-credential"], values["x-amz-date"]
    if algorithm != ALGORITHM:
        raise _Refused(_argument(f'X-Amz-Algorithm only supports "{ALGORITHM}"', "X-Amz-Algorithm", algorithm))
    parts = credential.split("/")
    prefix = "Error parsing the X-Amz-Credential parameter; "
    problem = None
    if len(parts) != 5:
        problem = prefix + 'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
    elif not parts[0]:
        problem = "a non-empty Access Key (AKID) must be provided in the credential."
    elif not re.fullmatch(r"\d{8}", parts[1]):
        problem = (prefix + f'incorrect date format "{parts[1]}". This date in the credential must be in the format '
                   '"yyyyMMdd".')
    elif parts[3] != "s3":
        problem = prefix + f'incorrect service "{parts[3]}". This endpoint belongs to "s3".'
    elif parts[4] != "aws4_request":
        problem = prefix + f'incorrect terminal "{parts[4]}". This endpoint uses "aws4_request".'
    if problem:
        raise _Refused(_argument(problem, "X-Amz-Credential", credential))
    access_key, date, credential_region = parts[0], parts[1], parts[2]
    if region is not None and credential_region != region:
        raise _Refused(_argument(f"the region '{credential_region}' is wrong; expecting '{region}'",
                                 "X-Amz-Credential", credential, ("Region", region)))
    if not _AMZ_DATE.fullmatch(amz_date):
        raise _Refused(_argument("X-Amz-Date must be formated via ISO8601 Long format", "X-Amz-Date", amz_date))
    return access_key, date, credential_region


def _invalid_json(_: str) -> Any:
    raise ValueError("not part of the policy language")


def _parse_policy(policy_b64: str) -> tuple[datetime, list[Any]]:
    try:
        text = base64.b64decode(policy_b64, validate=True).decode()
    except (binascii.Error, ValueError):
        raise _Refused(_invalid_policy("invalid Base64 encoding.")) from None
    try:  # S3 refuses numbers with a fraction, and NaN or Infinity, as invalid JSON
        document = json.loads(text, parse_float=_invalid_json, parse_constant=_invalid_json)
    except ValueError:
        raise _Refused(_invalid_policy("Invalid JSON.")) from None
    if not isinstance(document, dict):
        raise _Refused(_invalid_policy("Invalid JSON."))
    for member in document:  # the two members' names are case-sensitive
        if member not in ("expiration", "conditions"):
            raise _Refused(_invalid_policy(f"Unexpected: '{member.lower()}'"))
    if "expiration" not in document:
        raise _Refused(_invalid_policy("Policy missing expiration."))
    if "conditions" not in document:
        raise _Refused(_invalid_policy("Policy missing conditions."))
    expiration = document["expiration"]
    match = _EXPIRATION.fullmatch(expiration) if isinstance(expiration, str) else None
    if match is None:
        raise _Refused(_invalid_policy(f"Invalid 'expiration' value: '{expiration}'"))
    fraction = float(match.group(2)) if match.group(2) else 0.0
    parsed = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    conditions = document["conditions"]
    if not isinstance(conditions, list):
        raise _Refused(_invalid_policy("Invalid 'conditions' value: must be a List."))
    for condition in conditions:
        _validate_condition(condition)
    return parsed.replace(microsecond=int(fraction * 1_000_000)), conditions


def _validate_condition(condition: Any) -> None:
    if isinstance(condition, dict):
        if len(condition) != 1:
            raise _Refused(_invalid_policy("Invalid Simple-Condition: Simple-Conditions must have exactly one "
                                           "property specified."))
        value = next(iter(condition.values()))
        if value is None:
            raise _Refused(_invalid_policy("Invalid JSON."))
        if not isinstance(value, str):
            raise _Refused(_invalid_policy("Invalid Simple-Condition: value must be a string."))
    elif isinstance(condition, list):
        if not condition or not isinstance(condition[0], str):
            raise _Refused(_invalid_policy("Invalid Condition: missing operation identifier."))
        operation = condition[0].lower()
        if operation not in ("eq", "starts-with", "content-length-range"):
            raise _Refused(_invalid_policy(f"Invalid Condition: unknown operation '{condition[0]}'."))
        if len(condition) != 3:
            raise _Refused(_invalid_policy(f"Invalid {condition[0]}: wrong number of arguments."))
        allowed: tuple[type, ...] = (str, int) if operation == "content-length-range" else (str,)
        if any(not isinstance(item, allowed) or isinstance(item, bool) for item in condition[1:]):
            raise _Refused(_invalid_policy("Invalid JSON."))
    else:
        raise _Refused(_invalid_policy("Invalid condition test: must be a List or Object."))


def _failed(condition: list[Any]) -> PolicyRefusal:
    # S3 prints every condition as a list, simple ones as ["eq", "$name", value], in the policy's own spelling.
    return _denied(f"Invalid according to Policy: Policy Condition failed: {json.dumps(condition, ensure_ascii=False)}")


def _matches(operation: str, name: str, value: str, expected: str) -> bool:
    if operation == "eq":
        return value == expected
    if name == "content-type":  # a list of types: each must start with the prefix
        return all(item.strip().startswith(expected) for item in value.split(","))
    return value.startswith(expected)


def _check_conditions(conditions: list[Any], values: dict[str, str], spelled: dict[str, str], file_size: int,
                      bucket: str) -> None:
    covered: set[str] = set()
    ranges: list[tuple[int, int]] = []
    subject = {**values, "bucket": bucket}  # `$bucket` is the bucket posted to
    for condition in conditions:
        if isinstance(condition, dict):
            name, expected = next(iter(condition.items()))
            as_list: list[Any] = ["eq", f"${name}", expected]
        else:
            as_list = condition
        operation = as_list[0].lower()
        if operation == "content-length-range":
            try:
                ranges.append((int(as_list[1]), int(as_list[2])))
            except ValueError:
                raise _Refused(_failed(as_list)) from None
            continue
        reference, expected = as_list[1], as_list[2]
        if not reference.startswith("$"):
            raise _Refused(_failed(as_list))
        name = reference[1:].lower()
        covered.add(name)
        value = subject.get(name)  # a condition on a field the form lacks fails, even `starts-with ""`
        if value is None or not _matches(operation, name, value, expected):
            raise _Refused(_failed(as_list))
    extra = [spelled[name] for name in values
             if name not in covered and name not in _UNCONDITIONED and not name.startswith("x-ignore-")]
    if extra:
        raise _Refused(_denied(f"Invalid according to Policy: Extra input fields: {', '.join(extra)}"))
    for low, high in ranges:  # the file is read last, so its length is the last thing S3 can check
        if file_size > high:
            raise _Refused(PolicyRefusal(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed "
                                         "size", (("ProposedSize", str(file_size)), ("MaxSizeAllowed", str(high)))))
        if file_size < low:
            raise _Refused(PolicyRefusal(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum "
                                         "allowed size", (("ProposedSize", str(file_size)),
                                                          ("MinSizeAllowed", str(low)))))
