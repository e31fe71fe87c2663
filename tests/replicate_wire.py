"""Replicate's answers as its HTTP API sends them, for tests that mock that API with respx or a transport.
The official SDK validates each answer, so a prediction without its model and version is refused."""

from __future__ import annotations

from typing import Any


def prediction_json(status: str, *, prediction_id: str = "p1", **extra: Any) -> dict[str, Any]:
    return {"id": prediction_id, "model": "nightmareai/real-esrgan", "version": "v" * 64, "status": status, "input": {},
            "output": None, "error": None, "logs": "", "created_at": "2026-12-06T03:00:00Z", **extra}
