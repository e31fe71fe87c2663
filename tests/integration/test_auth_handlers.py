"""Sign-in through the real auth handlers against a stand-in for Cognito's managed login over real HTTP
(local/fake_cognito.py: the authorize and token endpoints, PKCE, single-use codes, ID tokens really signed with
a key it generates, its JWKS). The browser's part is played here: it follows the redirects and carries the
cookies the handlers set."""

from __future__ import annotations

from collections.abc import Iterator
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from local.fake_cognito import CognitoUser, FakeCognito
from tests.integration.conftest import assert_security_headers, both_engines, load_event

# The SQL store is this module's subject: every test runs on SQLite and on PostgreSQL.
engine = both_engines

SITE = "https://api.example.com"


def _event(method: str, path: str, *, query: dict[str, str] | None = None, cookies: dict[str, str] | None = None,
           headers: dict[str, str] | None = None) -> dict:
    event = load_event("usage-get", method=method, path=path, route_key=f"{method} {path}", cookies=cookies or {},
                       headers=headers)
    event["rawQueryString"] = urlencode(query or {})
    return event


def _cookies(reply) -> dict[str, tuple[str, str]]:
    """name → (value, attributes) of every Set-Cookie."""
    found = {}
    for header in reply.set_cookies:
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        for name, morsel in jar.items():
            found[name] = (morsel.value, header)
    return found


@pytest.fixture
def cognito(monkeypatch) -> Iterator[FakeCognito]:
    with FakeCognito(callback_url=f"{SITE}/api/auth/callback", logout_url=f"{SITE}/") as fake:
        for name, value in {**fake.settings(), "BASE_URL": SITE}.items():
            monkeypatch.setenv(name, value)
        yield fake


class Browser:
    def __init__(self, invoke, cognito: FakeCognito) -> None:
        self.invoke, self.cognito, self.jar = invoke, cognito, {}

    def login(self, return_to: str = "/dashboard"):
        reply = self.invoke("AuthLoginFunction", _event("GET", "/api/auth/login", query={"returnTo": return_to}))
        assert reply.status == 302, reply.body
        self.jar.update({name: value for name, (value, _) in _cookies(reply).items()})
        return reply

    def at_cognito(self, authorize_url: str) -> dict[str, str]:
        """What the managed login sends the browser back with."""
        answer = httpx.get(authorize_url, follow_redirects=False)
        assert answer.status_code == 302, answer.text
        location = answer.headers["location"]
        assert location.startswith(f"{SITE}/api/auth/callback?")
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    def callback(self, query: dict[str, str], cookies: dict[str, str] | None = None):
        reply = self.invoke("AuthCallbackFunction", _event("GET", "/api/auth/callback", query=query,
                                                           cookies=self.jar if cookies is None else cookies))
        self.jar.update({name: value for name, (value, _) in _cookies(reply).items() if value})
        return reply

    def me(self, session: str | None = None):
        cookies = {"session_id": session or self.jar.get("session_id", "")}
        return self.invoke("AuthMeFunction", _event("GET", "/api/auth/me", cookies=cookies))

    def sign_in(self, return_to: str = "/dashboard"):
        return self.callback(self.at_cognito(self.login(return_to).header("location")))


@pytest.fixture
def browser(invoke, cognito) -> Browser:
    return Browser(invoke, cognito)


def _sessions(db) -> int:
    return int(db.rows("SELECT COUNT(*) FROM sessions")[0][0])


# --- the flow ----------------------------------------------------------------------------------------------------

def test_login_sends_the_browser_to_the_managed_login_with_state_nonce_and_pkce(browser, cognito):
    reply = browser.login("/dashboard?tab=plans")

    target = urlsplit(reply.header("location"))
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{cognito.url}/oauth2/authorize"
    assert query["response_type"] == "code" and query["client_id"] == cognito.client_id
    assert query["redirect_uri"] == f"{SITE}/api/auth/callback" and query["scope"] == "openid email"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32
    _, attributes = _cookies(reply)["auth_login"]
    assert "HttpOnly" in attributes and "Secure" in attributes and "Max-Age=600" in attributes
    assert query["state"] not in reply.header("location").split("state=")[0]  # not leaked elsewhere
    assert_security_headers(reply)


def test_the_callback_makes_a_session_and_me_answers_the_user(browser, cognito, db):
    cognito.user = CognitoUser(email="New.User@Example.com")

    reply = browser.sign_in("/dashboard?tab=plans")

    assert reply.status == 302 and reply.header("location") == f"{SITE}/dashboard?tab=plans"
    cookies = _cookies(reply)
    assert cookies["__Host-session"][0] == cookies["session_id"][0]
    assert "Secure" in cookies["__Host-session"][1] and "SameSite=Strict" in cookies["__Host-session"][1]
    assert "Max-Age=2592000" in cookies["session_id"][1]
    assert cookies["auth_login"][0] == "" and "Max-Age=0" in cookies["auth_login"][1]
    me = browser.me()
    assert me.status == 200
    assert me.json()["data"]["user"]["email"] == "new.user@example.com"
    assert me.json()["data"]["user"]["plan"] == "free"
    assert _sessions(db) == 1


def test_signing_in_again_is_the_same_user_with_the_email_kept_current(browser, cognito):
    browser.sign_in()
    first = browser.me().json()["data"]["user"]
    cognito.user = CognitoUser(email="changed@example.com", sub=cognito.user.sub)

    browser.sign_in()

    again = browser.me().json()["data"]["user"]
    assert again["id"] == first["id"] and again["email"] == "changed@example.com"


def test_an_account_from_before_cognito_is_linked_by_its_verified_email(browser, cognito, accounts):
    existing = accounts.upsert_user("legacy@example.com", "pro")
    cognito.user = CognitoUser(email="legacy@example.com")

    browser.sign_in()

    user = browser.me().json()["data"]["user"]
    assert user["id"] == existing.user_id and user["plan"] == "pro"


def test_a_return_path_off_this_site_is_not_used(browser):
    assert browser.sign_in("https://evil.example/x").header("location") == f"{SITE}/"


def test_me_without_a_session_is_401(browser):
    reply = browser.me("not-a-session")
    assert reply.status == 401 and reply.json()["error"]["type"] == "auth_error"


# --- what is refused, with no session ---------------------------------------------------------------------------

def _refused(reply, reason: str, db) -> None:
    assert reply.status == 302, reply.body
    assert urlsplit(reply.header("location")).query.endswith(f"auth={reason}"), reply.header("location")
    assert not any(name in _cookies(reply) and _cookies(reply)[name][0] for name in ("session_id", "__Host-session"))
    assert _sessions(db) == 0
    assert_security_headers(reply)


def test_a_tampered_state_is_refused_before_the_code_is_spent(browser, cognito, db):
    answer = browser.at_cognito(browser.login().header("location"))

    _refused(browser.callback({**answer, "state": answer["state"][:-2] + "xx"}), "state_mismatch", db)
    _refused(browser.callback({"code": answer["code"]}), "state_mismatch", db)
    assert not any(path.startswith("/oauth2/token") for _, path in cognito.requests)


def test_a_login_cookie_altered_or_missing_is_refused(browser, db):
    answer = browser.at_cognito(browser.login().header("location"))
    altered = browser.jar["auth_login"][:-4] + "0000"

    _refused(browser.callback(answer, cookies={"auth_login": altered}), "expired", db)
    _refused(browser.callback(answer, cookies={}), "expired", db)


@pytest.mark.parametrize(("claims", "reason"), [
    ({"nonce": "a-nonce-from-another-login"}, "token_invalid"),
    ({"exp": 1_700_000_000, "iat": 1_699_996_400}, "token_invalid"),
    ({"aud": "another-app-client"}, "token_invalid"),
    ({"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"}, "token_invalid"),
    ({"token_use": "access"}, "token_invalid"),
    ({"email_verified": False}, "email_unverified"),
])
def test_an_id_token_that_fails_a_check_is_refused(browser, cognito, db, claims, reason):
    cognito.claims = claims
    _refused(browser.sign_in(), reason, db)


def test_a_token_signed_by_another_key_is_refused(browser, cognito, db):
    cognito.sign_with_other_key = True
    _refused(browser.sign_in(), "token_invalid", db)


def test_a_replayed_code_is_refused(browser, cognito, db):
    answer = browser.at_cognito(browser.login().header("location"))
    login_cookie = browser.jar["auth_login"]
    assert browser.callback(answer).header("location") == f"{SITE}/dashboard"
    sessions = _sessions(db)

    replay = browser.callback(answer, cookies={"auth_login": login_cookie})

    assert urlsplit(replay.header("location")).query.endswith("auth=code_rejected")
    assert _sessions(db) == sessions


def test_a_login_the_user_abandoned_comes_back_denied(browser, db):
    answer = browser.at_cognito(browser.login().header("location"))
    _refused(browser.callback({"error": "access_denied", "state": answer["state"]}), "denied", db)


def test_an_email_of_another_cognito_user_is_refused(browser, cognito, accounts, db):
    cognito.user = CognitoUser(email="taken@example.com")
    browser.sign_in()
    browser.invoke("AuthLogoutFunction", _event("POST", "/api/auth/logout", cookies={
        "session_id": browser.jar["session_id"], "csrf_token": "t" * 32},
        headers={"origin": SITE, "x-csrf-token": "t" * 32}))
    cognito.user = CognitoUser(email="taken@example.com")  # another subject, the same email

    _refused(browser.sign_in(), "email_in_use", db)


def test_without_cognito_settings_login_is_503_and_the_callback_goes_back(invoke, logs):
    login = invoke("AuthLoginFunction", _event("GET", "/api/auth/login"))
    callback = invoke("AuthCallbackFunction", _event("GET", "/api/auth/callback", query={"code": "c", "state": "s"}))

    assert login.status == 503 and login.json()["error"]["type"] == "service_unavailable"
    assert callback.status == 302 and callback.header("location").endswith("/?auth=unavailable")
    assert any("COGNITO_USER_POOL_ID" in str(line.get("missing")) for line in logs())


# --- sign-out -------------------------------------------------------------------------------------------------------

def _logout(browser, session: str, *, csrf: bool = True):
    headers = {"origin": SITE, **({"x-csrf-token": "t" * 32} if csrf else {})}
    return browser.invoke("AuthLogoutFunction", _event("POST", "/api/auth/logout", headers=headers, cookies={
        "session_id": session, "__Host-session": session, "csrf_token": "t" * 32}))


def test_sign_out_ends_the_session_at_once_and_answers_the_managed_logout(browser, cognito, db):
    browser.sign_in()
    session = browser.jar["session_id"]

    reply = _logout(browser, session)

    assert reply.status == 200
    data = reply.json()["data"]
    assert data["signedOut"] is True and data["hadSession"] is True
    signed_out = urlencode({"client_id": cognito.client_id, "logout_uri": f"{SITE}/"})
    assert data["logoutUrl"] == f"{cognito.url}/logout?{signed_out}"
    cleared = _cookies(reply)
    assert cleared["session_id"][0] == "" and cleared["__Host-session"][0] == ""
    assert browser.me(session).status == 401 and _sessions(db) == 0
    assert _logout(browser, session).json()["data"]["hadSession"] is False


def test_sign_out_needs_the_csrf_token(browser):
    browser.sign_in()
    session = browser.jar["session_id"]

    assert _logout(browser, session, csrf=False).status == 403
    assert browser.me(session).status == 200


def test_a_session_id_is_never_logged(browser, logs):
    browser.sign_in()
    session = browser.jar["session_id"]
    browser.me()
    _logout(browser, session)
    assert session not in "\n".join(str(line) for line in logs())
