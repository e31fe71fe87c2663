"""A stand-in for Amazon Cognito's managed-login endpoints, over real HTTP on 127.0.0.1, for tests: the OAuth 2.0
authorization-code flow with PKCE as Cognito runs it (docs/architecture.md §3, Identity), with ID tokens really
signed (RS256) by a key this server generates, and the pool's JWKS.

- `GET /oauth2/authorize` "signs in" `user` at once and redirects to `redirect_uri?code=…&state=…` (a code is
  single-use and valid 5 minutes; only S256 challenges; the redirect URI must be the registered one).
- `POST /oauth2/token` (`authorization_code` grant) checks the code, the client, the redirect URI and the PKCE
  verifier, and answers `{id_token, access_token, refresh_token, token_type, expires_in}`; anything wrong is
  `400 {"error": "invalid_grant" | "invalid_request" | "invalid_client" | "unsupported_grant_type"}`.
- `GET /<pool id>/.well-known/jwks.json` the pool's public key; `GET /logout` redirects to `logout_uri`.

Tests misbehave it through attributes: `claims` (merged into the next ID tokens: a wrong `aud`, an old `exp`,
another `nonce`), `sign_with_other_key`, `user`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

CODE_SECONDS = 300
TOKEN_SECONDS = 3600


def _rsa_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class CognitoUser:
    email: str = "someone@example.com"
    sub: str = field(default_factory=lambda: str(uuid.uuid4()))
    email_verified: bool = True


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str | None
    user: CognitoUser
    expires_at: float


class FakeCognito:
    def __init__(self, *, callback_url: str, logout_url: str = "", region: str = "us-east-1") -> None:
        self.pool_id = f"{region}_Fake{secrets.token_hex(4)}"
        self.client_id = secrets.token_hex(13)
        self.callback_url, self.logout_url = callback_url, logout_url
        self.user = CognitoUser()
        self.claims: dict[str, Any] = {}
        self.sign_with_other_key = False
        self.requests: list[tuple[str, str]] = []  # (method, path with query)
        self._key, self._other_key, self._kid = _rsa_key(), _rsa_key(), f"kid-{secrets.token_hex(4)}"
        self._grants: dict[str, _Grant] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # --- lifecycle ---

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def issuer(self) -> str:
        return f"{self.url}/{self.pool_id}"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/.well-known/jwks.json"

    def settings(self) -> dict[str, str]:
        """The auth settings (environment variables) that point a function at this stand-in."""
        return {"COGNITO_USER_POOL_ID": self.pool_id, "COGNITO_CLIENT_ID": self.client_id,
                "COGNITO_DOMAIN": self.url, "COGNITO_ISSUER": self.issuer, "COGNITO_JWKS_URL": self.jwks_url}

    def __enter__(self) -> FakeCognito:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="fake-cognito")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- what the endpoints do ---

    def id_token(self, *, audience: str, nonce: str | None, user: CognitoUser) -> str:
        import jwt

        now = int(time.time())
        claims = {"sub": user.sub, "aud": audience, "email": user.email, "email_verified": user.email_verified,
                  "iss": self.issuer, "token_use": "id", "auth_time": now, "iat": now, "exp": now + TOKEN_SECONDS,
                  "cognito:username": user.sub, "jti": str(uuid.uuid4()), "origin_jti": str(uuid.uuid4()),
                  **({"nonce": nonce} if nonce else {}), **self.claims}
        key = self._other_key if self.sign_with_other_key else self._key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self._kid})

    def jwks(self) -> dict[str, Any]:
        import jwt

        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        return {"keys": [{**public, "kid": self._kid, "alg": "RS256", "use": "sig"}]}

    def authorize(self, query: dict[str, str]) -> tuple[int, str]:
        """(status, Location or error) of an authorize request."""
        if query.get("response_type") != "code" or query.get("client_id") != self.client_id:
            return 400, "unauthorized_client"
        if query.get("redirect_uri") != self.callback_url:
            return 400, "redirect_mismatch"
        state = query.get("state", "")
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return 302, f"{self.callback_url}?{urlencode({'error': 'invalid_request', 'state': state})}"
        if "openid" not in query.get("scope", "").split():
            return 302, f"{self.callback_url}?{urlencode({'error': 'invalid_scope', 'state': state})}"
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._grants[code] = _Grant(self.client_id, query["redirect_uri"], query["code_challenge"],
                                        query.get("nonce"), self.user, time.time() + CODE_SECONDS)
        answer = {"code": code, **({"state": query["state"]} if "state" in query else {})}
        return 302, f"{self.callback_url}?{urlencode(answer)}"

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}
        if form.get("client_id") != self.client_id:
            return 400, {"error": "invalid_client"}
        with self._lock:
            grant = self._grants.pop(form.get("code", ""), None)  # single use, whatever happens next
        if grant is None or grant.expires_at < time.time() or grant.redirect_uri != form.get("redirect_uri"):
            return 400, {"error": "invalid_grant"}
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if not verifier or challenge != grant.challenge:
            return 400, {"error": "invalid_grant"}
        return 200, {"id_token": self.id_token(audience=grant.client_id, nonce=grant.nonce, user=grant.user),
                     "access_token": secrets.token_urlsafe(32), "refresh_token": secrets.token_urlsafe(32),
                     "token_type": "Bearer", "expires_in": TOKEN_SECONDS}


def _handler(fake: FakeCognito) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            """Silenced: tests read `fake.requests`."""

        def _answer(self, status: int, body: bytes = b"", content_type: str = "application/json",
                    location: str | None = None) -> None:
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            target = urlsplit(self.path)
            fake.requests.append(("GET", self.path))
            query = {k: v[0] for k, v in parse_qs(target.query).items()}
            if target.path == "/oauth2/authorize":
                status, where = fake.authorize(query)
                if status == 302:
                    self._answer(302, location=where)
                else:
                    self._answer(status, json.dumps({"error": where}).encode())
            elif target.path == f"/{fake.pool_id}/.well-known/jwks.json":
                self._answer(200, json.dumps(fake.jwks()).encode())
            elif target.path == "/logout" and query.get("client_id") == fake.client_id and query.get("logout_uri"):
                self._answer(302, location=query["logout_uri"])
            else:
                self._answer(404, b'{"error": "not_found"}')

        def do_POST(self) -> None:
            target = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            fake.requests.append(("POST", self.path))
            if target.path != "/oauth2/token":
                self._answer(404, b'{"error": "not_found"}')
                return
            if not self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
                self._answer(400, b'{"error": "invalid_request"}')
                return
            status, answer = fake.token({k: v[0] for k, v in parse_qs(body).items()})
            self._answer(status, json.dumps(answer).encode())

    return Handler
