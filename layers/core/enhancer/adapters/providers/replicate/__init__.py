"""Replicate through the official `replicate` SDK: pinned versions, per-model input, deadline-bound calls.

    inputs.py     pure: the `input` per model, the SDK arguments creating a prediction, the `Prefer: wait` hold
    client.py     the SDK's prediction calls and the output download, bound by the deadline; upstream status and
                  transport failures mapped to fixed client errors, log redaction
    webhooks.py   webhook verification (`replicate.webhooks.validate`, with a tolerance) and the signing secret
    provider.py   `ReplicateProvider` (the `Provider` port: run; start/poll/cancel/output for jobs) and
                  `replicate_token`

Importing this package, or `inputs`, loads neither httpx nor the SDK: the names below are looked up in their
module on first use, so `from enhancer.adapters.providers.replicate import ReplicateProvider` keeps working.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_HOMES = {
    "ReplicateProvider": "provider", "replicate_token": "provider",
    "replicate_input": "inputs", "create_arguments": "inputs", "prefer_wait_seconds": "inputs",
    "error_for_status": "client", "error_for_prediction": "client", "redact_urls": "client",
    "url_for_logs": "client", "output_url": "client",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{home}"), name)
