"""S3 failing on the result's put (the original's put went through): generate answers 503 with the charge
given back and the original removed; a job's task fails, and FailJob fails the job and refunds it once."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from enhancer import bootstrap
from enhancer.domain.jobs import JobStatus
from tests.faults.conftest import assert_error, generate_event, jobs_create_event, task, unreachable


def _s3_error() -> ClientError:
    return ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "Please reduce your request rate."},
                        "ResponseMetadata": {"HTTPStatusCode": 503}}, "PutObject")


def _results(body: bytes, n: int) -> bool:
    return n >= 2  # the first put is the original's, every later one a result's


@pytest.mark.parametrize("error", [_s3_error, lambda: unreachable("s3")], ids=["503", "unreachable"])
def test_s3_failing_on_the_result_put_is_503_gives_back_and_removes_the_original(invoke, faults, books, error):
    faults.fail("s3", "PutObject", error, when=_results)

    reply = invoke("GenerateFunction", generate_event())

    assert_error(reply, 503, "service_unavailable")
    assert faults.calls["s3.PutObject"] == 2 and faults.failed == {"s3.PutObject": 1}
    faults.heal()
    books.untouched()  # the original stored before the fault is deleted again
    assert books.given_back_markers() == 1


def test_s3_failing_on_a_jobs_result_put_fails_the_job_and_refunds_it_once(invoke, faults, books, state_machine):
    created = invoke("JobsCreateFunction", jobs_create_event())
    assert created.status == 202, created.body[:300]
    job_id = created.json()["data"]["id"]
    assert books.used() == 1
    stored_before = books.objects()  # the original
    faults.fail("s3", "PutObject", _s3_error)

    with pytest.raises(Exception) as raised:  # the task fails; the state machine retries it, then catches
        task("JobStartFunction", {"jobId": job_id, "step": "run"})
    faults.heal()
    failure = {"jobId": job_id, "error": {"Error": type(raised.value).__name__, "Cause": json.dumps(
        {"errorMessage": str(raised.value), "errorType": type(raised.value).__name__})}}
    answers = [task("JobFailFunction", failure) for _ in range(2)]  # FailJob retried

    job = bootstrap.jobs().get(job_id)
    assert job is not None and job.status is JobStatus.FAILED and job.output_key is None
    assert answers[0] == answers[1] and answers[0]["error"]["message"], answers  # readable, and the same twice
    assert books.objects() == stored_before  # no result object
    assert books.used() == 0 and books.given_back_markers() == 1
