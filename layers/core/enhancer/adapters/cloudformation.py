"""The answer to a CloudFormation custom resource: one PUT of a JSON document to the presigned S3 URL the request
carries (`ResponseURL`). CloudFormation waits for it (up to the resource's ServiceTimeout); without it the stack
hangs, so it is retried, and every field it needs comes from the request."""

from __future__ import annotations

import json
import time
from typing import Any

from enhancer.observability import logger

# CloudFormation refuses a response over 4096 bytes; the reason is what grows, so it is cut to fit.
MAX_REASON_CHARS = 2000
ATTEMPTS = 3


def respond(request: dict[str, Any], *, status: str, reason: str, physical_id: str,
            data: dict[str, Any] | None = None) -> None:
    """Send SUCCESS or FAILED for `request`; the reason is what the stack events show."""
    import httpx

    body = json.dumps({
        "Status": status, "Reason": reason[:MAX_REASON_CHARS], "PhysicalResourceId": physical_id,
        "StackId": request["StackId"], "RequestId": request["RequestId"],
        "LogicalResourceId": request["LogicalResourceId"], "NoEcho": False, "Data": data or {},
    }).encode()
    for attempt in range(ATTEMPTS):
        try:
            # The presigned URL was signed without a content type, so none may be sent.
            answer = httpx.put(request["ResponseURL"], content=body, headers={"content-type": ""}, timeout=10)
            if answer.status_code < 500:
                answer.raise_for_status()
                return
        except httpx.TransportError as error:
            logger.warning("custom_resource_response_retry", extra={"attempt": attempt + 1, "error": str(error)})
        time.sleep(0.5 * 2 ** attempt)
    raise RuntimeError("CloudFormation's response URL did not take the answer")
