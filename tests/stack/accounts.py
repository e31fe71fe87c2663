"""What the account and billing stack tests share: the development sign-in, the usage as the page reads it, and
paying on the development checkout page."""

from __future__ import annotations

import re

import httpx

from tests.stack.jobs import unsafe


def sign_in(client: httpx.Client, email: str) -> str:
    answer = client.post("/api/dev/login", headers=unsafe(client), json={"email": email, "plan": "free"})
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]["user"]["id"]


def usage(client: httpx.Client) -> dict:
    return client.get("/api/ai-image/usage").json()["data"]


def local_path(url: str, client: httpx.Client) -> str:
    base = str(client.base_url).rstrip("/")
    assert url.startswith(base + "/"), url
    return url[len(base):]


def pay(client: httpx.Client, checkout_url: str) -> httpx.Response:
    page = client.get(local_path(checkout_url, client))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    token = re.search(r'name="session" value="([^"]+)"', page.text).group(1)
    return client.post("/dev/checkout", data={"session": token},
                       headers={"Origin": str(client.base_url).rstrip("/")})
