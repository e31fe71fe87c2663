"""The job workflow on Step Functions, behind the `Workflow` port: one execution per job, named after it."""

from __future__ import annotations

import json
from typing import Any

from enhancer.adapters.dynamo_keys import error_code

# What Step Functions answers for a token nobody waits on any more: resumed already, timed out, or its
# execution stopped. A duplicate webhook meets these; they are not faults.
_STALE_TOKEN = frozenset({"InvalidToken", "TaskTimedOut", "TaskDoesNotExist"})
MAX_CAUSE_CHARS = 32_768  # SendTaskFailure's limit


class StepFunctionsWorkflow:
    def __init__(self, client: Any, state_machine_arn: str) -> None:
        self._client = client
        self._arn = state_machine_arn

    def start(self, job_id: str, run_input: dict[str, Any]) -> str:
        # Named after the job: a retried start of the same job cannot run it twice.
        response = self._client.start_execution(stateMachineArn=self._arn, name=job_id,
                                                input=json.dumps(run_input, separators=(",", ":")))
        return str(response["executionArn"])

    def stop(self, execution_arn: str, *, cause: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self._client.stop_execution(executionArn=execution_arn, cause=cause[:MAX_CAUSE_CHARS])
        except ClientError as error:
            if error_code(error) != "ExecutionDoesNotExist":
                raise

    def resume(self, token: str, output: dict[str, Any]) -> bool:
        return self._send(self._client.send_task_success, taskToken=token,
                          output=json.dumps(output, separators=(",", ":")))

    def fail(self, token: str, *, error: str, cause: str) -> bool:
        return self._send(self._client.send_task_failure, taskToken=token, error=error[:256],
                          cause=cause[:MAX_CAUSE_CHARS])

    @staticmethod
    def _send(call: Any, **arguments: Any) -> bool:
        from botocore.exceptions import ClientError

        try:
            call(**arguments)
        except ClientError as error:
            if error_code(error) in _STALE_TOKEN:
                return False
            raise
        return True
