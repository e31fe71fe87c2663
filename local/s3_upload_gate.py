"""S3 browser form uploads to the local stack, checked as S3 checks them before moto stores anything.

The WSGI side: which requests are form uploads, reading and parsing their bodies as they stream, answering a
refusal in S3's format. The rules themselves are `local.s3_post_policy`.
"""

from __future__ import annotations

import re
import tempfile
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import IO, Any
from urllib.parse import parse_qs

from local.s3_post_policy import PolicyRefusal, check_post_upload

_PRE_FILE_LIMIT = 20 * 1024  # S3: a form's fields and boundaries before the file may not exceed 20 KB
MAX_FORM_BODY = 64 * 1024 * 1024  # the most of one form body the local stack keeps to hand on to moto
_CHUNK = 64 * 1024
_DECODER_MEMORY = 1024 * 1024  # the most the multipart decoder may hold at once (a part's headers, a boundary)
_FORM = "multipart/form-data"
_MALFORMED = PolicyRefusal(400, "MalformedPOSTRequest",
                           "The body of your POST request is not well-formed multipart/form-data.")
_NOT_STORABLE = PolicyRefusal(501, "NotImplemented", "The local stack stores form uploads through moto, which "
                              "cannot store this form as S3 would: spell the fields 'key' and 'file' in lower case, "
                              "give no part but 'file' a filename, and send acl, Content-Type, x-amz-meta-* and "
                              "success_action_* before 'file' (S3 ignores the fields after it, moto applies them).")
# The fields of a form moto's upload reads besides `key` and the file (S3Response._bucket_response_post: exact
# names), and the metadata it takes from the form (moto.s3.utils.metadata_from_headers: any spelling).
_MOTO_FORM_FIELDS = frozenset({"acl", "success_action_redirect", "success_action_status"})
_MOTO_METADATA = re.compile(r"x-amz-meta-[a-zA-Z0-9\-_.]+", re.IGNORECASE)


class _Form:
    """A multipart body followed as it streams: the fields before the part named `file`, that part's length
    and filename, the names of the fields after it, and the parts that would make moto store something else.

    moto stores the last distinct part that carries a filename (or, with none, the field spelled `file`); S3
    stores the part named `file` and ignores every part after it. A form where the two could differ is refused.
    The decoder holds at most _DECODER_MEMORY at once (a part's headers that never end are malformed), field
    values are kept only before the file (at most _PRE_FILE_LIMIT of them), and nothing after the closing
    boundary is decoded.
    """

    def __init__(self, boundary: bytes) -> None:
        from werkzeug.sansio.multipart import MultipartDecoder

        self._decoder = MultipartDecoder(boundary, max_form_memory_size=_DECODER_MEMORY,
                                         max_parts=1000)  # Flask's own MAX_FORM_PARTS
        self.fields: list[tuple[str, str]] = []
        self.late_fields: list[str] = []  # the names of the fields after the file part (S3 ignores them)
        self.files = 0  # parts named `file`
        self.file_size = 0
        self.filename: str | None = None
        self.unstorable = False  # moto would not store the `file` part's bytes under the key
        self.ended = False
        self.refusal: PolicyRefusal | None = None
        self._fed = 0
        self._part: str | None = None  # "field", "file" or None (ignored)
        self._name = ""
        self._value = bytearray()

    def feed(self, chunk: bytes | None) -> None:
        from werkzeug.exceptions import RequestEntityTooLarge
        from werkzeug.sansio.multipart import NEED_DATA, Data, Field, File, State

        if self.refusal or self.ended:
            return
        self._fed += len(chunk or b"")
        try:
            self._decoder.receive_data(chunk)
            while (event := self._decoder.next_event()) is not NEED_DATA:
                if isinstance(event, Field | File):
                    self._start(event.name, getattr(event, "filename", None))
                elif isinstance(event, Data):
                    self._data(event.data)
                if self._decoder.state is State.EPILOGUE:  # the closing boundary: what follows is ignored
                    self.ended = True
                    break
        except (ValueError, RequestEntityTooLarge):  # not multipart, over 1000 parts, or headers over 1 MiB
            self.refusal = _MALFORMED
        if not self.files and self._fed > _PRE_FILE_LIMIT and not self.refusal:
            self._refuse_pre_data()

    def _refuse_pre_data(self) -> None:
        self.refusal = PolicyRefusal(400, "MaxPostPreDataLengthExceeded", "Your POST request fields preceeding "
                                     "the upload file was too large.",
                                     (("MaxPostPreDataLengthBytes", str(_PRE_FILE_LIMIT)),))

    def _start(self, name: str, filename: str | None) -> None:
        self._close_field()
        if name.lower() == "file":
            self.files += 1
            if self.files == 1:
                self._part, self.filename = "file", filename
                self.unstorable |= name != "file"
                if self._fed - len(self._decoder.buffer) > _PRE_FILE_LIMIT:
                    self._refuse_pre_data()
                return
        elif filename is not None:
            self.unstorable = True  # moto would store this part rather than `file`
        elif self.files:
            self.late_fields.append(name)
        self._part, self._name = ("field" if not self.files else None), name

    def _data(self, data: bytes) -> None:
        if self._part == "file":
            self.file_size += len(data)
        elif self._part == "field":
            self._value += data

    def _close_field(self) -> None:
        if self._part == "field":
            try:
                self.fields.append((self._name, self._value.decode()))
            except UnicodeDecodeError:  # S3 wants forms in UTF-8
                self.refusal = _MALFORMED
        self._part, self._value = None, bytearray()


def _chunks(environ: dict[str, Any]) -> Iterable[bytes]:
    """The request body as the client sends it, to its end (Content-Length or the last chunk)."""
    stream, length = environ["wsgi.input"], environ.get("CONTENT_LENGTH") or ""
    remaining = int(length) if length.isdigit() else None
    if remaining is None and not environ.get("wsgi.input_terminated"):
        return
    while remaining is None or remaining > 0:
        chunk = stream.read(_CHUNK if remaining is None else min(_CHUNK, remaining))
        if not chunk:
            return
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk


def _mimetype(environ: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The body's media type, lower-cased as werkzeug (and so moto) reads it, and its parameters."""
    from werkzeug.http import parse_options_header

    mimetype, options = parse_options_header(environ.get("CONTENT_TYPE", ""))
    return mimetype.lower(), options


def _bucket_posted_to(environ: dict[str, Any]) -> str | None:
    """The bucket a POST addresses itself (not a key in it), read as moto's S3 reads it, or None.

    moto takes the bucket from the Host header unless the host is one it serves path-style (an IP address,
    `localhost…`, a name without a dot, `s3[.region].amazonaws.com`, MOTO_S3_CUSTOM_ENDPOINTS, or any with
    S3_IGNORE_SUBDOMAIN_BUCKETNAME): `POST /` to `<bucket>.s3.amazonaws.com` or `<bucket>.localhost:<port>` is a
    form upload to `<bucket>`, as `POST /<bucket>` is on the path-style endpoint. moto's own functions decide,
    on the raw path as moto reads it, so the two cannot disagree.
    """
    path = environ.get("PATH_INFO") or "/"
    if path.startswith("/moto-api") or path == "/favicon.ico":  # moto's own API, whatever the host
        return None
    if path != "/" and not re.fullmatch(r"/[^/]+/?", path):  # a key's path in either style
        return None
    from moto.core.request import Request
    from moto.s3.responses import S3Response
    from moto.s3.utils import bucket_name_from_url as virtual_host_bucket
    from moto.s3bucket_path.utils import bucket_name_from_url as path_bucket

    request = Request(environ, populate_request=False, shallow=True)  # reads no body, changes no environ
    if S3Response.subdomain_based_buckets(request):
        return (virtual_host_bucket(request.raw_url) or None) if path == "/" else None  # `/<key>`: no upload
    return path_bucket(request.raw_url)  # None for `/`: moto lists the buckets


def _signed_for(authorization: str) -> str | None:
    """The service of a SigV4 Authorization header's credential, which moto routes the request by; None when it
    is no SigV4 header, which moto sends to S3."""
    try:
        scope = authorization.split(",")[0].split()[1].split("/")
    except IndexError:
        return None
    return scope[3].lower() if len(scope) == 5 else None


def _moto_applies_late_fields(form: _Form) -> bool:
    """Whether moto would apply a field S3 ignores, one after the file: moto reads the first value of each name
    (exact spelling) from the whole form, and metadata in any spelling, a later spelling overriding."""
    from moto.s3.utils import user_settable_fields

    before = {name for name, _ in form.fields}
    return any(name not in before and (name in _MOTO_FORM_FIELDS or name.lower() in user_settable_fields
                                       or _MOTO_METADATA.fullmatch(name))
               for name in form.late_fields)


class PostPolicyMiddleware:
    """Enforces S3's presigned POST policy on browser form uploads before moto sees them.

    moto checks no signature and enforces no POST policy: it stores any form posted to a bucket, whatever its
    size, type, key, signature or expiry. AWS refuses those, so without this the local stack would accept
    uploads the deployed product refuses. Intercepted: every POST moto would answer as a form upload, i.e. to a
    bucket itself, addressed as moto addresses it (`/<bucket>`, `/<bucket>/`, or `/` on the bucket's virtual
    host, `<bucket>.s3.amazonaws.com` or `<bucket>.localhost:<port>`): a multipart/form-data one whatever its
    headers (moto checks no signature), and any other but a signed DeleteObjects (`?delete`), since moto would
    store that too and S3 answers it 412. Its body is read to the end whatever happens (a client refused
    mid-upload would otherwise see its connection reset) and parsed as it streams; of the bytes, at most
    MAX_FORM_BODY are kept (in a temporary file past 1 MiB), and a larger form is answered EntityTooLarge;
    the form is checked by local.s3_post_policy with the local stack's credentials, then either S3's XML error
    is answered or moto gets the very same bytes. Every other request (PutObject and the other SDK calls, CORS
    preflights, other services) goes straight to moto.
    """

    def __init__(self, app: Callable[..., Any], *, secret_for: Callable[[str], str | None], region: str) -> None:
        self.app = app
        self._secret_for = secret_for
        self._region = region

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        bucket = self._bucket_of_form_upload(environ)
        if bucket is None:
            return self.app(environ, start_response)
        body = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115 - closed once moto read it
        refusal = self._read_and_check(environ, bucket, body)
        if refusal is not None:
            body.close()
            return self._answer(environ, start_response, refusal)
        body.seek(0)
        environ["wsgi.input"] = body
        from werkzeug.wsgi import ClosingIterator

        return ClosingIterator(self.app(environ, start_response), body.close)

    @staticmethod
    def _bucket_of_form_upload(environ: dict[str, Any]) -> str | None:
        """The bucket moto would store a form's file in (S3Response._bucket_response_post), or None."""
        if environ.get("REQUEST_METHOD") != "POST":
            return None
        bucket = _bucket_posted_to(environ)
        if bucket is None or _mimetype(environ)[0] == _FORM:  # a browser form upload, whatever its headers say
            return bucket
        authorization = environ.get("HTTP_AUTHORIZATION")
        if authorization and (_signed_for(authorization) not in ("s3", None)
                              or "delete" in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)):
            return None  # another service's call (moto routes it by its credential), or DeleteObjects
        return bucket

    def _read_and_check(self, environ: dict[str, Any], bucket: str, body: IO[bytes]) -> PolicyRefusal | None:
        mimetype, options = _mimetype(environ)
        length = environ.get("CONTENT_LENGTH") or ""
        form = _Form(options["boundary"].encode()) if mimetype == _FORM and options.get("boundary") else None
        received = 0
        for chunk in _chunks(environ):  # to the end, refused or not, bytes kept or not
            received += len(chunk)
            if form:
                form.feed(chunk)
                if received <= MAX_FORM_BODY and not form.refusal:  # a refused form is never handed on
                    body.write(chunk)
        if not length.isdigit():
            return PolicyRefusal(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
        if received < int(length):
            return PolicyRefusal(400, "IncompleteBody", "You did not provide the number of bytes specified by the "
                                 "Content-Length HTTP header")
        if mimetype != _FORM:
            return PolicyRefusal(412, "PreconditionFailed", "At least one of the pre-conditions you specified did "
                                 "not hold", (("Condition", "Bucket POST must be of the enclosure-type "
                                                            "multipart/form-data"),))
        if form is None:
            return _MALFORMED
        form.feed(None)
        if form.refusal or not form.ended:
            return form.refusal or _MALFORMED
        if form.files != 1:
            return PolicyRefusal(400, "InvalidArgument", "POST requires exactly one file upload per request.",
                                 (("ArgumentName", "file"), ("ArgumentValue", str(form.files))))
        refusal = check_post_upload(form.fields, form.file_size, bucket=bucket, now=datetime.now(UTC),
                                    secret_for=self._secret_for, region=self._region, filename=form.filename)
        if refusal:
            return refusal
        if (form.unstorable or all(name != "key" for name, _ in form.fields)
                or _moto_applies_late_fields(form)):  # S3 would store it, moto cannot store it the same
            return _NOT_STORABLE
        if received > MAX_FORM_BODY:
            return PolicyRefusal(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size",
                                 (("ProposedSize", str(form.file_size)), ("MaxSizeAllowed", str(MAX_FORM_BODY))))
        return None

    @staticmethod
    def _answer(environ: dict[str, Any], start_response: Callable[..., Any], refusal: PolicyRefusal) -> list[bytes]:
        payload = refusal.xml(uuid.uuid4().hex[:16].upper())
        headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(payload)))]
        if environ.get("HTTP_ORIGIN"):  # as moto answers a form upload, so a page can read the refusal
            headers += [("Access-Control-Allow-Origin", environ["HTTP_ORIGIN"]), ("Vary", "Origin")]
        start_response(f"{refusal.status} {HTTPStatus(refusal.status).phrase}", headers)
        return [payload]


