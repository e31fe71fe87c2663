"""Amazon Cognito's managed login over OAuth 2.0 / OpenID Connect: the authorize and sign-out URLs, the code
exchange at the token endpoint (httpx, bounded), and the ID token's verification with PyJWT against the pool's
JWKS (cached per process: a warm function fetches the keys once per `JWKS_CACHE_SECONDS`). Imported only by the
auth functions.

Nothing Cognito says reaches a client: failures are logged (`cognito_error`) and become a SignInRefused reason.
"""

from __future__ import annotations

import base64
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from enhancer.adapters.secrets import read_secret
from enhancer.domain.auth import SignInRefused
from enhancer.observability import logger

if TYPE_CHECKING:
    from enhancer.config import AuthSettings

SCOPES = "openid email"
TOKEN_TIMEOUT_SECONDS = 5.0
JWKS_CACHE_SECONDS = 300
CLOCK_LEEWAY_SECONDS = 30

_jwks_clients: dict[str, Any] = {}
_jwks_lock = threading.Lock()


def _jwks_client(url: str) -> Any:
    import jwt

    with _jwks_lock:
        client = _jwks_clients.get(url)
        if client is None:
            client = _jwks_clients[url] = jwt.PyJWKClient(url, lifespan=JWKS_CACHE_SECONDS,
                                                          timeout=TOKEN_TIMEOUT_SECONDS)
        return client


class CognitoLogin:
    """One pool's app client. `redirect_uri` is this site's /api/auth/callback, registered on the client."""

    def __init__(self, settings: AuthSettings, redirect_uri: str) -> None:
        self._settings = settings
        self._redirect_uri = redirect_uri

    def __repr__(self) -> str:  # never the client secret
        return "CognitoLogin()"

    def authorize_url(self, *, state: str, nonce: str, challenge: str) -> str:
        query = {"response_type": "code", "client_id": self._settings.cognito_client_id,
                 "redirect_uri": self._redirect_uri, "scope": SCOPES, "state": state, "nonce": nonce,
                 "code_challenge_method": "S256", "code_challenge": challenge}
        return f"{self._settings.cognito_domain}/oauth2/authorize?{urlencode(query)}"

    def logout_url(self, signed_out_url: str) -> str:
        query = {"client_id": self._settings.cognito_client_id, "logout_uri": signed_out_url}
        return f"{self._settings.cognito_domain}/logout?{urlencode(query)}"

    def exchange(self, code: str, verifier: str) -> str:
        """The ID token the code buys (`authorization_code` grant with the PKCE verifier)."""
        import httpx

        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self._redirect_uri,
                "client_id": self._settings.cognito_client_id or "", "code_verifier": verifier}
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        secret = read_secret(self._settings.cognito_client_secret_parameter, self._settings.cognito_client_secret,
                             purpose="cognito_client_secret")
        if secret:  # a confidential client (client_secret_basic)
            pair = f"{self._settings.cognito_client_id}:{secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        try:
            response = httpx.post(f"{self._settings.cognito_domain}/oauth2/token", data=form, headers=headers,
                                  timeout=TOKEN_TIMEOUT_SECONDS)
        except httpx.HTTPError as exc:
            logger.error("cognito_error", extra={"call": "token", "type": type(exc).__name__})
            raise SignInRefused("unavailable") from None
        if response.status_code == 400:
            logger.warning("cognito_code_rejected", extra={"error": _error_code(response)})
            raise SignInRefused("code_rejected")
        token = _json(response).get("id_token") if response.status_code == 200 else None
        if not isinstance(token, str):
            logger.error("cognito_error", extra={"call": "token", "status": response.status_code})
            raise SignInRefused("unavailable")
        return token

    def verify(self, id_token: str) -> dict[str, Any]:
        """The claims of an ID token signed by one of the pool's keys (RS256), for this client, from this pool,
        not expired; SignInRefused("token_invalid") otherwise, ("unavailable") when the keys cannot be read."""
        import jwt

        try:
            key = _jwks_client(self._settings.jwks_url).get_signing_key_from_jwt(id_token)
            claims: dict[str, Any] = jwt.decode(
                id_token, key.key, algorithms=["RS256"], audience=self._settings.cognito_client_id,
                issuer=self._settings.issuer, leeway=CLOCK_LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]})
        except jwt.PyJWKClientConnectionError as exc:
            logger.error("cognito_error", extra={"call": "jwks", "type": type(exc).__name__})
            raise SignInRefused("unavailable") from None
        except (jwt.PyJWTError, ValueError) as exc:
            logger.warning("cognito_token_invalid", extra={"type": type(exc).__name__})
            raise SignInRefused("token_invalid") from None
        return claims


def _json(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error_code(response: Any) -> str | None:
    error = _json(response).get("error")
    return error[:40] if isinstance(error, str) else None


class CognitoDirectory:
    """The pool's users, through the Cognito API (SigV4, the function's role): what account deletion removes."""

    def __init__(self, client: Any, user_pool_id: str) -> None:
        self._client = client
        self._pool = user_pool_id

    def delete_user(self, subject: str) -> bool:
        """Signed out everywhere and deleted; False when the pool has no such user (deleted before)."""
        from botocore.exceptions import ClientError

        try:
            self._client.admin_user_global_sign_out(UserPoolId=self._pool, Username=subject)
            self._client.admin_delete_user(UserPoolId=self._pool, Username=subject)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "UserNotFoundException":
                return False
            raise
        return True
