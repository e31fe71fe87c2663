"""Step Functions refusing to start the job's execution (StartExecution throttled or over its limit, on the
shared client's `before-call` event): 503, the job failed with the charge given back; a retry with the same
`Idempotency-Key` makes one job that runs, charged once."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.faults.conftest import GUEST, assert_error, job_rows, jobs_create_event, load_event


def _refused(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "refused"}, "ResponseMetadata": {"HTTPStatusCode": 400}},
                       "StartExecution")


@pytest.mark.parametrize("code", ["ThrottlingException", "ExecutionLimitExceeded"])
def test_step_functions_refusing_to_start_is_503_fails_the_job_and_refunds_it(invoke, faults, books, db,
                                                                            state_machine, code):
    faults.fail("stepfunctions", "StartExecution", _refused(code))

    reply = invoke("JobsCreateFunction", jobs_create_event())

    error = assert_error(reply, 503, "service_unavailable")
    assert code not in reply.body.decode() and error["message"]
    [(job_id, status)] = job_rows(db)
    assert status == "failed"
    assert books.used() == 0 and books.daily() == 0 and books.monthly_tenths() == 0
    assert books.given_back_markers() == 1
    assert state_machine.list_executions(stateMachineArn=state_machine.list_state_machines()[
        "stateMachines"][0]["stateMachineArn"])["executions"] == []
    shown = invoke("JobsListFunction", load_event("jobs-list-get", cookies={"guest_id": GUEST})).json()["data"]
    assert [(j["id"], j["status"]) for j in shown["jobs"]] == [(job_id, "failed")]  # the owner sees why


def test_a_retry_after_step_functions_refused_is_charged_once(invoke, faults, books, db, state_machine):
    key = {"idempotency-key": "retry-after-refusal-1"}
    faults.fail("stepfunctions", "StartExecution", _refused("ThrottlingException"), when=lambda body, n: n == 1)

    first = invoke("JobsCreateFunction", jobs_create_event(headers=key))
    second = invoke("JobsCreateFunction", jobs_create_event(headers=key))
    again = invoke("JobsCreateFunction", jobs_create_event(headers=key))  # a replay of the success

    assert_error(first, 503, "service_unavailable")
    assert second.status == 202 and again.status == 202, (second.body[:300], again.body[:300])
    assert second.json()["data"]["id"] == again.json()["data"]["id"]
    assert sorted(status for _, status in job_rows(db)) == ["failed", "queued"]
    assert books.used() == 1 and books.monthly_tenths() == 10  # one charge stands
