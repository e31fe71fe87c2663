"""The answer of a dry run (`dryRun=true` on generate and on job creation): the charge the request would take
and whether it can be afforded now — 200 either way, since every check the real call makes has passed."""

from __future__ import annotations

from typing import Any

from enhancer.http.envelope import error_body
from enhancer.services.generate import Quoted

DRY_RUN_FIELD = "dryRun"


def quote_view(quoted: Quoted) -> dict[str, Any]:
    """`charge` is shaped as generate's own; `refusal` is the error the real call would answer (null when
    affordable), so a client reads it as it would read that error."""
    refusal = quoted.quote.refusal
    return {
        "dryRun": True,
        "model": quoted.model.slug,
        "charge": quoted.quote.split.as_response(),
        "affordable": refusal is None,
        "refusal": None if refusal is None else error_body(refusal),
        "entitlements": quoted.entitlements.as_response(),
    }
