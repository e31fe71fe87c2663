"""The stateful phase: schemathesis follows the links of docs/openapi.json — an upload form, then generate or a
job naming its `uploadKey`; a job created, then polled, canceled and deleted; a cancel, then a poll or a delete.
Every step is the signed-in user's, so a chain stays with one owner; the steps get the same headers and checks as
the per-operation phase.

What a fuzzer cannot make up is supplied, never the answer: every other upload request asks for a PNG of the
size of a real one, and after a 201 the file is posted to the form (what the browser does between the two API
calls), so the linked generate / job finds an image and the job chain has a real job to follow."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any, ClassVar

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import Flaky
from hypothesis.stateful import run_state_machine_as_test

from local.samples import png_bytes

PNG = png_bytes(32, 32)
ENHANCEMENTS = ("POST /api/ai-image/generate", "POST /api/ai-image/jobs")


def run_stateful(document: dict[str, Any], url: str, session_id: str, examples: int, summary: Any) -> None:
    from tests.fuzz import CHECKS, _describe, _prepare

    # The identity cookies are the runner's here (one signed-in user per chain), not generated: without the
    # operations' `security`, schemathesis no longer counts `session_id` / `guest_id` as inputs no operation
    # produces, which would leave every create operation out of its roots. The responses, and so the checks,
    # are the document's own.
    document = copy.deepcopy(document)
    for item in document["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict):
                operation.pop("security", None)
    base = schemathesis.openapi.from_dict(document).as_state_machine()

    class Machine(base):  # type: ignore[misc, valid-type]  # a class schemathesis builds at run time
        uploads = 0
        linked: ClassVar[Counter[str]] = Counter()

        def before_call(self, case: Any) -> None:
            if case.operation.label == "POST /api/ai-image/uploads":
                Machine.uploads += 1
                if Machine.uploads % 2:
                    case.body = {"contentType": "image/png", "size": len(PNG)}
            elif case.operation.label in ENHANCEMENTS and isinstance(case.body, dict):
                key = case.body.get("uploadKey")
                # A linked step names a posted upload; generated options around it almost always make a 400, so
                # every other one sends the key and the model alone, and the job chain gets real jobs.
                if isinstance(key, str) and key.startswith("ai-enhancer/uploads/"):
                    Machine.linked[case.operation.label] += 1
                    if Machine.linked[case.operation.label] % 2:
                        case.body = {"uploadKey": key, "model": "real-esrgan"}
                        case.media_type = "application/json"

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            if case.operation.label == "POST /api/ai-image/uploads" and response.status_code == 201:
                ticket = response.json()["data"]
                if ticket["contentType"] == "image/png" and ticket["maxBytes"] >= len(PNG):
                    posted = httpx.post(ticket["url"], data=ticket["fields"], timeout=60,
                                        files={"file": ("photo.png", PNG, "image/png")})
                    summary.files_posted += posted.status_code in (200, 201, 204)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            headers, cookies = _prepare(case, url, session_id)
            return {"base_url": url, "headers": headers, "cookies": cookies, "timeout": 60}

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            summary.stateful_steps += 1
            summary.statuses[response.status_code] += 1
            summary.stateful_labels[f"{case.operation.label} {response.status_code}"] += 1
            try:
                case.validate_response(response, checks=CHECKS, headers=kwargs.get("headers"))
            except BaseExceptionGroup as group:
                for error in group.exceptions:
                    summary.failures.append("stateful " + _describe(case.operation, response, True, error))
            except AssertionError as error:
                summary.failures.append("stateful " + _describe(case.operation, response, True, error))

    # The rules a step may take depend on what the API answered before (a bundle fills only after a 2xx), so a
    # replay can draw differently from the first run: Hypothesis calls that flaky and stops the scenario. The
    # steps that ran were all checked (their failures are recorded above); schemathesis's own runner treats it
    # the same way. It is reported, never counted as a pass of a check.
    try:
        _run(Machine, examples)
    except Flaky as error:  # FlakyStrategyDefinition included
        summary.notes.append(f"stateful phase stopped early by Hypothesis ({type(error).__name__})")


def _run(Machine: Any, examples: int) -> None:
    run_state_machine_as_test(Machine, settings=settings(
        max_examples=examples, derandomize=True, database=None, deadline=None, stateful_step_count=6,
        phases=[Phase.generate], suppress_health_check=list(HealthCheck)), _min_steps=2)  # derandomized: fixed
