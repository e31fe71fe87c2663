"""Completion callbacks on the wire: name resolution (`HostResolver`) and the HTTPS POST (`CallbackSender`),
services/callbacks.py decides what is resolved, checked and sent.

The POST goes to the address that was checked, not to the name: the URL carries the IP, the Host header and
TLS SNI carry the name, and the certificate is verified for the name (httpcore verifies against
`sni_hostname`). A second lookup inside the HTTP client would let a rebinding name swap in a private address
between the check and the connection.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Mapping
from typing import Any

from enhancer.domain.callbacks import CallbackSendFailed, CallbackTarget
from enhancer.services.ports import Resolution


class SystemResolver:
    """socket.getaddrinfo, and in development/tests the CALLBACK_TEST_HOSTS map first."""

    def __init__(self, test_hosts: Mapping[str, str] | None = None) -> None:
        self._test_hosts = dict(test_hosts or {})

    def resolve(self, host: str) -> Resolution:
        mapped = self._test_hosts.get(host.lower())
        if mapped is not None:
            return Resolution(addresses=(mapped,), test_mapped=True)
        try:
            infos = socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError, OSError):
            return Resolution(addresses=())
        seen: dict[str, None] = {}
        for family, _, _, _, sockaddr in infos:
            if family in (socket.AF_INET, socket.AF_INET6):
                seen[str(sockaddr[0])] = None
        return Resolution(addresses=tuple(seen))


class HttpxCallbackSender:
    """POSTs with httpx: no redirects, one timeout for connect, write and read, the system's CA bundle or (in
    development/tests) CALLBACK_TEST_CA_BUNDLE's."""

    def __init__(self, ca_bundle: str | None = None) -> None:
        self._ca_bundle = ca_bundle
        self._context: ssl.SSLContext | None = None

    def _ssl(self) -> ssl.SSLContext:
        if self._context is None:
            if self._ca_bundle:
                self._context = ssl.create_default_context(cafile=self._ca_bundle)
            else:
                import certifi

                self._context = ssl.create_default_context(cafile=certifi.where())
        return self._context

    def post(self, target: CallbackTarget, address: str, headers: Mapping[str, str], body: bytes, *,
             timeout: float) -> int:
        import httpx

        ip = ipaddress.ip_address(address)
        netloc = f"[{ip}]" if ip.version == 6 else str(ip)
        host_header = target.host if target.port == 443 else f"{target.host}:{target.port}"
        if ":" in target.host:  # an IPv6 literal in the URL
            host_header = f"[{target.host}]" if target.port == 443 else f"[{target.host}]:{target.port}"
        extensions: dict[str, Any] = {"sni_hostname": target.host}
        try:
            # trust_env=False: an HTTPS_PROXY from the environment would connect wherever the proxy resolves the
            # name, undoing the check of the address. No redirects: a Location could point anywhere.
            with httpx.Client(verify=self._ssl(), follow_redirects=False, timeout=timeout, trust_env=False) as client:
                response = client.post(f"https://{netloc}:{target.port}{target.path}", content=body,
                                       headers={**headers, "host": host_header}, extensions=extensions)
                return response.status_code
        except httpx.TimeoutException:
            raise CallbackSendFailed("timed out") from None
        except httpx.ConnectError as error:
            reason = "TLS failed" if "SSL" in str(error) or "certificate" in str(error) else "connection failed"
            raise CallbackSendFailed(reason) from None
        except httpx.HTTPError:
            raise CallbackSendFailed("no valid response") from None
