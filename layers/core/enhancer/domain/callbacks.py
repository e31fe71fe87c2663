"""Completion callbacks, pure (docs/architecture.md §7, README "Completion callbacks"): which `callbackUrl` a
job may name, which addresses a callback may be sent to, and the Standard Webhooks signature it carries.

The address rule is checked twice — when the job is created and again, on freshly resolved addresses, right
before each attempt — and the sender connects to the address it checked, so a name that resolves to a public
address at create time and to a private one later (DNS rebinding) reaches nothing private.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
from urllib.parse import urlsplit

from enhancer.domain.errors import ValidationFailed
from enhancer.domain.values import value_class

FIELD = "callbackUrl"
MAX_URL_CHARS = 2048
SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret
SIGNATURE_VERSION = "v1"
# The owner-key secret signs many things; each derivation names its purpose, so no two can be confused.
_SIGNING_PURPOSE = b"callback-signing:"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Not caught by `is_global` on every Python we run, or worth naming: AWS's IPv6 instance metadata endpoint sits
# in fd00::/8 (unique local, so `is_private` already refuses it); CGNAT 100.64.0.0/10 is neither private nor
# global in `ipaddress`.
_REFUSED_NETWORKS = (
    ipaddress.ip_network("100.64.0.0/10"),
    ipaddress.ip_network("fd00:ec2::254/128"),
    ipaddress.ip_network("64:ff9b:1::/48"),  # local-use NAT64, which could translate to anything
)


def _invalid(message: str) -> ValidationFailed:
    return ValidationFailed(message, details={"field": FIELD})


@value_class
class CallbackTarget:
    """A callback URL that passed the syntactic rules: https, a host, no credentials."""

    url: str
    host: str  # lower case, without brackets for an IPv6 literal
    port: int
    path: str  # path and query, as sent in the request line

    @property
    def literal(self) -> IPAddress | None:
        """The host as an IP address when the URL names one directly."""
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None


def parse_callback_url(raw: object) -> CallbackTarget:
    """The `callbackUrl` a job create names, or ValidationFailed (field `callbackUrl`): `https` only, a host,
    no user or password in it, at most 2048 characters, no whitespace or control characters."""
    if not isinstance(raw, str) or not raw:
        raise _invalid("'callbackUrl' must be an https URL")
    if len(raw) > MAX_URL_CHARS:
        raise _invalid(f"'callbackUrl' must be at most {MAX_URL_CHARS} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in raw):
        raise _invalid("'callbackUrl' must not contain spaces or control characters")
    try:
        parts = urlsplit(raw)
        port = parts.port
        host = parts.hostname
    except ValueError:
        raise _invalid("'callbackUrl' is not a valid URL") from None
    if parts.scheme.lower() != "https":
        raise _invalid("'callbackUrl' must use https")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise _invalid("'callbackUrl' must not contain a user name or password")
    if not host:
        raise _invalid("'callbackUrl' must name a host")
    if parts.fragment:
        raise _invalid("'callbackUrl' must not have a fragment")
    host = host.rstrip(".") if not host.startswith("[") else host
    if not host or ".." in host:
        raise _invalid("'callbackUrl' must name a host")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return CallbackTarget(url=raw, host=host.lower(), port=port or 443, path=path)


def _effective(address: IPAddress) -> IPAddress:
    """An IPv6 address that carries an IPv4 one (mapped ::ffff:a.b.c.d, 6to4, NAT64, the deprecated
    compatible ::a.b.c.d) is judged by the IPv4 address it leads to."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address in ipaddress.ip_network("64:ff9b::/96"):
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if int(address) >> 32 == 0 and int(address) > 1:  # ::a.b.c.d
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def refusal(address: str | IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why a callback may not go to `address` (a short reason for logs), or None when it may: only globally
    routable unicast addresses. `allow_loopback` is for development and tests alone (an address the
    CALLBACK_TEST_HOSTS map gave, never one a URL names or DNS returns)."""
    try:
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    except ValueError:
        return "not an address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        return "scoped"
    ip = _effective(ip)
    if ip.is_loopback:
        return None if allow_loopback else "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:  # 169.254.169.254, the instance metadata service, is here
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if any(ip in network for network in _REFUSED_NETWORKS if network.version == ip.version):
        return "reserved"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "not global"
    return None


def unsafe_url_error() -> ValidationFailed:
    """One message for every refused host: it names the field, never the addresses the name resolved to."""
    return _invalid("'callbackUrl' must resolve only to public internet addresses")


def wrong_port_error() -> ValidationFailed:
    return _invalid("'callbackUrl' must use port 443")


def unresolvable_error() -> ValidationFailed:
    return _invalid("'callbackUrl' names a host that does not resolve")


def parse_test_hosts(raw: str | None) -> dict[str, str]:
    """CALLBACK_TEST_HOSTS, `name=address[,name=address…]` (development and tests only): names the local stack
    resolves itself. ValueError for an entry that is not `name=IP`."""
    hosts: dict[str, str] = {}
    for entry in (raw or "").split(","):
        if not entry.strip():
            continue
        name, _, address = entry.partition("=")
        name, address = name.strip().lower().rstrip("."), address.strip()
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ValueError(f"'{entry.strip()}' is not name=IP-address") from None
        if not name:
            raise ValueError(f"'{entry.strip()}' names no host")
        hosts[name] = address
    return hosts


# --- attempts -------------------------------------------------------------------------------------------------

MAX_ATTEMPTS_KEPT = 20  # more than the workflow makes; a bound on the row whatever retries happen
MAX_DELIVERY_ATTEMPTS = 6
RETRY_BASE_SECONDS = 10  # after the n-th failed attempt: 10 × 2ⁿ⁻¹ s, so 10, 20, 40, 80, 160 (310 s in all)


def retry_in_seconds(attempts_made: int, jitter: float) -> int | None:
    """How long to wait before the next attempt, after `attempts_made` attempts that failed; None when they are
    spent. `jitter` in [0, 1] takes up to half the wait off ("equal jitter"), so receivers that failed together
    are not retried together; the bound stays 310 s of waiting over 6 attempts."""
    if attempts_made < 1 or attempts_made >= MAX_DELIVERY_ATTEMPTS:
        return None
    full = RETRY_BASE_SECONDS << (attempts_made - 1)  # 10 × 2ⁿ⁻¹
    return max(1, round(full * (1 - 0.5 * min(max(jitter, 0.0), 1.0))))


class CallbackSendFailed(Exception):
    """No HTTP response came (refused, timed out, TLS refused the certificate). `reason` is a short fixed
    text the job shows; nothing of the exception's own message, which may name internal addresses."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@value_class
class CallbackAttempt:
    """One delivery attempt: when it started, the receiver's status code or why there was none, how long."""

    at: str
    ms: int
    status: int | None = None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def as_dict(self) -> dict[str, object]:
        shown: dict[str, object] = {"at": self.at}
        if self.status is not None:
            shown["status"] = self.status
        else:
            shown["error"] = self.error or "failed"
        shown["ms"] = self.ms
        return shown


def attempts_to_json(attempts: tuple[CallbackAttempt, ...] | list[CallbackAttempt]) -> str:
    return json.dumps([a.as_dict() for a in attempts[-MAX_ATTEMPTS_KEPT:]], separators=(",", ":"))


def attempts_from_json(text: str | None) -> tuple[CallbackAttempt, ...]:
    if not text:
        return ()
    return tuple(CallbackAttempt(at=str(a["at"]), ms=int(a.get("ms", 0)), status=a.get("status"),
                                 error=a.get("error")) for a in json.loads(text))


# --- the signature (Standard Webhooks, https://www.standardwebhooks.com) -----------------------------------

def signing_secret(owner_key_secret: str, user_id: str) -> str:
    """The user's callback signing secret, `whsec_<base64 of 32 bytes>`: derived from the owner-key secret and
    the user id, so it is the same on every function and nothing is stored. Rotating the owner-key secret
    rotates every user's signing secret."""
    key = hmac.new(owner_key_secret.encode(), _SIGNING_PURPOSE + user_id.encode(), hashlib.sha256).digest()
    return SECRET_PREFIX + base64.b64encode(key).decode()


def secret_bytes(secret: str) -> bytes:
    """The HMAC key of a `whsec_…` secret (the prefix is optional, as Standard Webhooks' libraries take it)."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def message_id(job_id: str, status: str) -> str:
    """The `webhook-id` of a job's callback: the same for every attempt of one message, so a receiver can drop
    a repeat it has already processed."""
    return f"{job_id}.{status}"
