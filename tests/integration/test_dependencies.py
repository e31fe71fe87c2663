"""Routes take their adapters from their signatures, so a test can put a fake behind any of them."""

from __future__ import annotations

from fastapi.testclient import TestClient

from enhancer.domain.usage import UsageSnapshot
from enhancer.http import dependencies
from enhancer.http.app import create_app
from enhancer.http.routes import usage
from tests.integration.conftest import guest_cookie


class FakeCounters:
    def __init__(self) -> None:
        self.windows: dict[str, int] = {}

    def hit_rate_window(self, key: str, expires_at: int) -> int:
        self.windows[key] = self.windows.get(key, 0) + 1
        return self.windows[key]

    def read_usage(self, owner_type: str, owner_key: str, month: str, user_id: str | None) -> UsageSnapshot:
        return UsageSnapshot(daily_count=2, daily_reset_at=4_102_444_800, monthly_used_tenths=125)


def test_the_usage_route_reads_the_counters_its_signature_asks_for(settings_env, accounts):
    fake = FakeCounters()
    app = create_app(usage.router)
    app.dependency_overrides[dependencies.counters] = lambda: fake
    guest = guest_cookie("3f1c2a9e-5b7d-4c1e-9a2b-8d7e6f5a4b3c")

    with TestClient(app, base_url="https://api.example.com", cookies={"guest_id": guest}) as http:
        reply = http.get("/api/ai-image/usage")

    assert reply.status_code == 200, reply.text
    data = reply.json()["data"]
    assert data["usage"]["used"] == 2 and data["monthlyUsage"]["used"] == 12.5
    assert [key.split(":")[1] for key in fake.windows] == ["api"]  # the rate limit counted in the fake too
