"""Routes take their adapters from their signatures, so a test can put a fake behind any of them."""

from __future__ import annotations

from fastapi.testclient import TestClient

from enhancer.domain.usage import UsageSnapshot
from enhancer.http import dependencies
from enhancer.http.app import create_app
from enhancer.http.routes import usage
from tests.fakes import FakeRateWindows, FakeUsageReader
from tests.integration.conftest import guest_cookie


def test_the_usage_route_reads_the_counters_its_signature_asks_for(settings_env, accounts):
    reader = FakeUsageReader(UsageSnapshot(daily_count=2, daily_reset_at=4_102_444_800, monthly_used_tenths=125))
    windows = FakeRateWindows()
    app = create_app(usage.router)
    app.dependency_overrides[dependencies.usage_reader] = lambda: reader
    app.dependency_overrides[dependencies.rate_windows] = lambda: windows
    guest = guest_cookie("3f1c2a9e-5b7d-4c1e-9a2b-8d7e6f5a4b3c")

    with TestClient(app, base_url="https://api.example.com", cookies={"guest_id": guest}) as http:
        reply = http.get("/api/ai-image/usage")

    assert reply.status_code == 200, reply.text
    data = reply.json()["data"]
    assert data["usage"]["used"] == 2 and data["monthlyUsage"]["used"] == 12.5
    assert [key.split(":")[0] for key in windows.windows] == ["api"]  # the rate limit counted in the fake too
    assert reader.calls[0][0] == "guest"
