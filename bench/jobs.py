"""Asynchronous jobs (docs/architecture.md §7): end-to-end latency through the real state machine, the state
transitions a job takes, and the round trips one create makes.

Two workers. The stack worker starts the local stack (`python -m local`, by `tests.local_stack.running_stack`,
the stack tests' own helper: it is imported in the worker only, since importing the `tests` package sets test
settings and imports moto) once with ENHANCER_PROVIDER=echo and once with Replicate faked at the HTTP layer
(local/fake_replicate.py, in the worker) on the webhook path, creates jobs over HTTP one at a time, each from a
loopback address and cookie jar of its own (the create, guest and poll limits are counted per client), polls
each until it has ended, and reads each execution's history from the stack's moto endpoint and each job's
microsecond timestamps from the stack's SQLite file. The round-trips worker runs the real JobsCreateFunction
handler against moto (as `dynamo_round_trips` runs generate) and counts every DynamoDB, S3 and Step Functions
call (botocore hooks) and every SQL statement (`enhancer.adapters.sql.watch_statements`).
"""

from __future__ import annotations

import re
import statistics
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import Context, SectionResult
from bench.dynamo_round_trips import CallCounter, call_role
from bench.inprocess import (
    CSRF,
    GUEST,
    REGION,
    context,
    guest_cookie,
    load_event,
    multipart,
    percentile,
    png_bytes,
    run_worker,
    worker_main,
)

NAME = "jobs"
TITLE = "Jobs: end-to-end latency, state transitions and round trips per create"
LATENCY_GOAL_MS = 1000  # median, echo provider, POST to the job reading succeeded
WEBHOOK_STATES_GOAL = 4  # entered states of a successful job on the webhook path (§7: 3, the target at most 4)
INLINE_STATES_DOCUMENTED = 2  # §7: Route → RunModel
ECHO_JOBS = 20  # 20, not 10: nearest-rank p90 of 10 jobs is their slowest
WEBHOOK_JOBS = 3
WARM_UP = 1  # the first job of a stack pays first use (clients, lazy imports); reported, not counted
POLL_SECONDS = 0.05
FAKE_REPLICATE_DELAY = 0.2  # seconds the fake model takes, as in the stack tests
IMAGE_SIZE = 48
JOB_TIMEOUT_SECONDS = 30
FINAL = ("succeeded", "failed", "canceled")
TOKEN = "b" * 32  # the CSRF double submit of the HTTP clients
SECOND_GUEST = guest_cookie("6a1f3c2e-9b4d-4e8a-b5c7-0d2e4f6a8b9c")


# --- the stack worker -----------------------------------------------------------------------------------------

def _sources() -> Any:
    """Loopback addresses of their own (the stack tests use 127.0.x.x and 127.1.x.x)."""
    n = 0
    while True:
        yield f"127.42.{n // 250}.{n % 250 + 2}"
        n += 1


def _poll_interval(polls: int) -> float:
    """50 ms, while it keeps one client within the job-poll limiter (aiJobsPoll) with room to spare; then the
    pace that limiter allows (a slow job is still followed, never refused with 429)."""
    from enhancer.domain.rate_limits import AI_JOBS_POLL

    fast_polls = int(AI_JOBS_POLL.max_requests * 0.8)
    if polls < fast_polls:
        return POLL_SECONDS
    return AI_JOBS_POLL.window_seconds / AI_JOBS_POLL.max_requests * 1.25


def _one_job(base_url: str, address: str, image: bytes) -> dict[str, Any]:
    """POST a job from a fresh client at `address`, then GET it until it has ended; client-side times."""
    from tests.stack.conftest import client_from

    with client_from(address, base_url) as http:
        http.cookies.set("csrf_token", TOKEN)
        headers = {"Origin": base_url.rstrip("/"), "X-CSRF-Token": TOKEN}
        files = {"image": ("photo.png", image, "image/png")}
        sent_wall = time.time()
        started = time.perf_counter()
        created = http.post("/api/ai-image/jobs", headers=headers, data={"model": "real-esrgan"}, files=files)
        answered = time.perf_counter()
        if created.status_code != 202:
            raise RuntimeError(f"job create answered {created.status_code}: {created.text[:300]}")
        job_id = created.json()["data"]["id"]
        polls = 0
        while True:
            answer = http.get(f"/api/ai-image/jobs/{job_id}")
            polls += 1
            if answer.status_code != 200:
                raise RuntimeError(f"job poll {polls} answered {answer.status_code}: {answer.text[:300]}")
            status = answer.json()["data"]["status"]
            if status in FINAL:
                break
            if time.perf_counter() - started > JOB_TIMEOUT_SECONDS:
                raise RuntimeError(f"job {job_id} still {status} after {JOB_TIMEOUT_SECONDS} s")
            time.sleep(_poll_interval(polls))
        seen = time.perf_counter()
    return {"id": job_id, "status": status, "end_to_end_s": seen - started, "create_s": answered - started,
            "polls": polls, "sent_wall": sent_wall, "seen_wall": sent_wall + (seen - started)}


def _epoch(stored: str | None) -> float | None:
    return datetime.fromisoformat(stored.replace("Z", "+00:00")).timestamp() if stored else None


def _server_side(stack: dict[str, Any], jobs: list[dict[str, Any]]) -> None:
    """Each job's stamps from the stack's database (microseconds; the API shows seconds) and its execution's
    entered states and duration from the stack's Step Functions (moto)."""
    import boto3

    from enhancer.adapters.sql import connect

    conn = connect(stack["databaseUrl"])
    try:
        rows = {row[0]: row[1:] for row in conn.execute(
            "SELECT id, created_at, started_at, completed_at, execution_arn, mode FROM ai_jobs")}
    finally:
        conn.close()
    sfn = boto3.client("stepfunctions", endpoint_url=stack["awsEndpoint"], region_name=REGION,
                       aws_access_key_id="testing", aws_secret_access_key="testing")  # noqa: S106 - moto's
    for job in jobs:
        created_at, started_at, completed_at, execution_arn, mode = rows[job["id"]]
        created, began, completed = _epoch(created_at), _epoch(started_at), _epoch(completed_at)
        job["mode"] = mode
        job["row_created_to_completed_s"] = completed - created if created and completed else None
        job["queued_s"] = began - created if created and began else None
        job["processing_s"] = completed - began if began and completed else None
        job["seen_after_completed_s"] = job["seen_wall"] - completed if completed else None
        described = sfn.describe_execution(executionArn=execution_arn)
        job["execution_status"] = described["status"]
        stop = described.get("stopDate")
        job["execution_s"] = (stop - described["startDate"]).total_seconds() if stop else None
        events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        job["entered_states"] = [e["stateEnteredEventDetails"]["name"] for e in events
                                 if e["type"].endswith("StateEntered")]


def _run_jobs(stack: dict[str, Any], count: int, addresses: Any, image: bytes) -> list[dict[str, Any]]:
    jobs = [_one_job(stack["url"], next(addresses), image) for _ in range(count)]
    _server_side(stack, jobs)
    return jobs


def _measure_stack(options: dict[str, Any]) -> dict[str, Any]:
    from local.aws import free_port
    from local.fake_replicate import FakeReplicate
    from tests.local_stack import running_stack

    workdir = Path(options["workdir"])
    addresses = _sources()
    image = png_bytes(IMAGE_SIZE, IMAGE_SIZE)
    log_level = "WARNING"  # the stack's own default (`make dev`), whatever importing tests/ set
    result: dict[str, Any] = {}

    (workdir / "echo").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with running_stack(workdir / "echo", ENHANCER_PROVIDER="echo", POWERTOOLS_LOG_LEVEL=log_level) as stack:
        result["echo_stack_start_s"] = time.perf_counter() - started
        result["echo"] = _run_jobs(stack, WARM_UP + int(options["echo_jobs"]), addresses, image)

    if int(options["webhook_jobs"]):
        (workdir / "webhook").mkdir(parents=True, exist_ok=True)
        port = free_port()
        started = time.perf_counter()
        with FakeReplicate(delay=FAKE_REPLICATE_DELAY) as fake, running_stack(
                workdir / "webhook", port, ENHANCER_PROVIDER="replicate", REPLICATE_API_TOKEN=fake.token,
                REPLICATE_BASE_URL=fake.url, REPLICATE_WEBHOOK_SECRET=fake.webhook_secret,
                PUBLIC_API_URL=f"http://127.0.0.1:{port}",
                POWERTOOLS_LOG_LEVEL=log_level) as stack:
            result["webhook_stack_start_s"] = time.perf_counter() - started
            result["webhook"] = _run_jobs(stack, WARM_UP + int(options["webhook_jobs"]), addresses, image)
            result["webhook_deliveries"] = [d.status for d in fake.deliveries]
            result["fake_replicate_delay_s"] = fake.delay
    return result


# --- the round-trips worker -----------------------------------------------------------------------------------

def _job_role(operation: str, params: dict[str, Any]) -> str:
    """generate's roles (bench/dynamo_round_trips.py), and the Powertools idempotency record (`<fn>#<hash>`)."""
    role = call_role(operation, params)
    key = params.get("Key") or params.get("Item")
    pk = str(key.get("pk", {}).get("S", "")) if isinstance(key, dict) else ""
    if not role and "#" in pk and not pk.startswith("ai:"):
        return "idempotency record"
    return role


class _JobCounter(CallCounter):
    def _parameters(self, event_name: str, params: dict[str, Any], **_: Any) -> None:
        self._role = _job_role(event_name.split(".", 2)[2], params)


_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+(\w+)", re.IGNORECASE)


def _statement_label(sql: str) -> str:
    """`SELECT sessions`, `INSERT ai_jobs`, `UPDATE ai_jobs`: the verb and the first table it names."""
    words = sql.split()
    verb = words[0].upper() if words else "?"
    table = _TABLE.search(sql)
    return f"{verb} {table.group(1)}" if table and verb in ("SELECT", "INSERT", "UPDATE", "DELETE") else verb


def _measure_round_trips(options: dict[str, Any]) -> dict[str, Any]:
    from moto import mock_aws

    from bench.inprocess import load_handlers, migrate_database, start_workflow_aws
    from enhancer.adapters.aws import aws_client
    from enhancer.adapters.sql import open_accounts, watch_statements
    from enhancer.config import get_settings
    from local.aws import serialise_dynamodb

    migrate_database()
    image = png_bytes(64, 64)
    counters = {"dynamodb": _JobCounter(), "s3": _JobCounter(), "stepfunctions": _JobCounter()}
    results: list[dict[str, Any]] = []
    serialise_dynamodb()
    # moto runs no execution here: each stays RUNNING, so only the create's calls are seen
    with mock_aws(), watch_statements() as sql:
        start_workflow_aws()
        for service, counter in counters.items():
            counter.install(aws_client(service, REGION))
        handler = load_handlers("JobsCreateFunction")["JobsCreateFunction"]

        def create(cookies: dict[str, str], headers: dict[str, str] | None = None) -> dict[str, Any]:
            body, content_type = multipart({"model": "real-esrgan", "scale": "2"}, image)
            event = load_event("jobs-create-post", cookies={"csrf_token": CSRF, **cookies},
                               headers={"content-type": content_type, **(headers or {})}, body=body)
            return handler(event, context("JobsCreateFunction"))

        def count(scenario: str, label: str, cookies: dict[str, str], headers: dict[str, str] | None = None) -> None:
            for counter in counters.values():
                counter.clear()
            sql.clear()
            response = create(cookies, headers)
            if int(response["statusCode"]) != 202:
                raise RuntimeError(f"{scenario}: status {response['statusCode']}, expected 202: "
                                   f"{str(response.get('body'))[:300]}")
            row: dict[str, Any] = {"scenario": scenario, "label": label, "status": 202,
                                   "sql_statements": len(sql.statements),
                                   "sql_operations": [_statement_label(s) for s in sql.statements],
                                   "sql_connections_opened": sql.connections_opened}
            for service, counter in counters.items():
                row[f"{service}_calls"] = len(counter.calls)
                row[f"{service}_operations"] = list(counter.calls)
                row[f"{service}_roles"] = list(counter.roles)
                row[f"{service}_http_attempts"] = sum(counter.sends.values())
            results.append(row)

        # Each owner's first create opens its daily window and this thread's SQL connection: not counted.
        create({"guest_id": GUEST})
        count("guest", "Guest, daily window open (hot path)", {"guest_id": GUEST})
        accounts = open_accounts(get_settings().database_url)
        now = int(time.time())
        user = accounts.upsert_user("bench-jobs-user@example.com", "free")
        user_cookies = {"session_id": accounts.create_session(user.user_id, now + 3600)}
        create(user_cookies)
        count("user", "Signed-in user (free), daily window open (hot path)", user_cookies)
        other = accounts.upsert_user("bench-jobs-idempotent@example.com", "free")
        other_cookies = {"session_id": accounts.create_session(other.user_id, now + 3600)}
        create(other_cookies)
        key = {"idempotency-key": "bench-key-1"}
        count("idempotent_first", "Signed-in user, daily window open, a new Idempotency-Key", other_cookies, key)
        count("idempotent_replay", "Signed-in user, the same Idempotency-Key and request again (no new job)",
              other_cookies, key)
        count("guest_first", "Guest, first create of a daily window (opens it)", {"guest_id": SECOND_GUEST})
    return {"scenarios": results}


def measure(options: dict[str, Any]) -> dict[str, Any]:
    return _measure_stack(options) if options["part"] == "stack" else _measure_round_trips(options)


# --- section ---------------------------------------------------------------------------------------------------

def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _median_ms(jobs: list[dict[str, Any]], key: str) -> float | None:
    values = [j[key] for j in jobs if j.get(key) is not None]
    return _ms(statistics.median(values)) if values else None


def latency_summary(jobs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians and the p90 of the counted jobs (after the warm-up), in ms."""
    e2e = [j["end_to_end_s"] * 1000 for j in jobs]
    return {
        "n": len(jobs),
        "end_to_end_median_ms": round(statistics.median(e2e), 1),
        "end_to_end_p90_ms": round(percentile(e2e, 0.9), 1),
        "end_to_end_min_ms": round(min(e2e), 1),
        "end_to_end_max_ms": round(max(e2e), 1),
        "create_median_ms": _median_ms(jobs, "create_s"),
        "row_created_to_completed_median_ms": _median_ms(jobs, "row_created_to_completed_s"),
        "queued_median_ms": _median_ms(jobs, "queued_s"),
        "processing_median_ms": _median_ms(jobs, "processing_s"),
        "execution_median_ms": _median_ms(jobs, "execution_s"),
        "seen_after_completed_median_ms": _median_ms(jobs, "seen_after_completed_s"),
        "polls_mean": round(statistics.fmean(j["polls"] for j in jobs), 1),
        "statuses": dict(Counter(j["status"] for j in jobs)),
    }


def state_sequences(jobs: list[dict[str, Any]]) -> dict[str, int]:
    """How many jobs entered each sequence of states ("Route → RunModel": 10)."""
    return dict(Counter(" → ".join(j["entered_states"]) for j in jobs))


def _operations(names: list[str], roles: list[str] | None = None) -> str:
    labelled = [f"{name} ({role})" if role else name
                for name, role in zip(names, roles or [""] * len(names), strict=True)]
    return " → ".join(labelled) or "none"


def _states_cell(sequences: dict[str, int], total: int) -> str:
    return "; ".join(f"{len(seq.split(' → '))} ({seq})" + ("" if n == total else f" ×{n}")
                     for seq, n in sequences.items())


def _span(counts: list[int]) -> str:
    return str(counts[0]) if min(counts) == max(counts) else f"{min(counts)}–{max(counts)}"


def _check_modes(jobs: list[dict[str, Any]], expected: str, path: str) -> None:
    """The stack ran the path it was started for (echo: inline; fake Replicate with a public URL: webhook)."""
    wrong = Counter(j["mode"] for j in jobs if j["mode"] != expected)
    if wrong:
        raise RuntimeError(f"{path}: jobs ran in mode {dict(wrong)}, expected {expected!r} for every job")


SCENARIO_ORDER = ("guest_first", "guest", "user", "idempotent_first", "idempotent_replay")


def run(ctx: Context) -> SectionResult:
    started = time.perf_counter()
    stack = run_worker(ctx, NAME, {"part": "stack", "workdir": str(ctx.workdir / "jobs"), "echo_jobs": ECHO_JOBS,
                                   "webhook_jobs": WEBHOOK_JOBS}, timeout=240)
    trips = run_worker(ctx, NAME, {"part": "round_trips"}, timeout=120)
    seconds = time.perf_counter() - started

    _check_modes(stack["echo"], "inline", "echo stack")
    _check_modes(stack.get("webhook", []), "webhook", "fake Replicate stack")
    trips["scenarios"].sort(key=lambda s: SCENARIO_ORDER.index(s["scenario"]))
    echo_cold, echo = stack["echo"][:WARM_UP], stack["echo"][WARM_UP:]
    echo_summary = latency_summary(echo)
    echo_ok = echo_summary["end_to_end_median_ms"] < LATENCY_GOAL_MS and all(j["status"] == "succeeded"
                                                                             for j in echo)
    echo_sequences = state_sequences(stack["echo"])
    echo_counts = [len(j["entered_states"]) for j in stack["echo"]]
    webhook_all = stack.get("webhook", [])
    webhook = webhook_all[WARM_UP:]
    webhook_summary = latency_summary(webhook) if webhook else None
    webhook_sequences = state_sequences(webhook_all) if webhook_all else {}
    webhook_counts = [len(j["entered_states"]) for j in webhook_all]
    webhook_ok = bool(webhook_all) and max(webhook_counts) <= WEBHOOK_STATES_GOAL and all(
        j["status"] == "succeeded" for j in webhook_all)

    e = echo_summary
    rows = [
        ["End-to-end latency: POST /api/ai-image/jobs → GET /api/ai-image/jobs/{id} reads succeeded",
         f"echo provider (inline), {e['n']} jobs after {WARM_UP} warm-up",
         f"median {e['end_to_end_median_ms']:.0f} ms, p90 {e['end_to_end_p90_ms']:.0f} ms",
         f"median < {LATENCY_GOAL_MS} ms", "ok" if echo_ok else "OVER"],
        ["State transitions per job (entered states)", f"echo provider (inline), {len(stack['echo'])} jobs",
         _states_cell(echo_sequences, len(stack["echo"])), f"– (§7: {INLINE_STATES_DOCUMENTED})", "–"],
    ]
    if webhook_all:
        assert webhook_summary is not None
        rows += [
            ["State transitions per job (entered states)",
             f"fake Replicate, webhook path, {len(webhook_all)} jobs",
             _states_cell(webhook_sequences, len(webhook_all)), f"≤ {WEBHOOK_STATES_GOAL}",
             "ok" if webhook_ok else "OVER"],
            ["End-to-end latency (for information)",
             f"fake Replicate, webhook path, {webhook_summary['n']} jobs after {WARM_UP} warm-up "
             f"(the fake model takes {stack['fake_replicate_delay_s']:.1f} s)",
             f"median {webhook_summary['end_to_end_median_ms']:.0f} ms, "
             f"p90 {webhook_summary['end_to_end_p90_ms']:.0f} ms", "–", "–"],
        ]
    for s in trips["scenarios"]:
        rows.append([
            "Round trips per job create", s["label"],
            f"DynamoDB {s['dynamodb_calls']} ({_operations(s['dynamodb_operations'], s['dynamodb_roles'])}); "
            f"SQL {s['sql_statements']} ({_operations(s['sql_operations'])}); "
            f"S3 {s['s3_calls']} ({_operations(s['s3_operations'])}); "
            f"Step Functions {s['stepfunctions_calls']} ({_operations(s['stepfunctions_operations'])})",
            "–", "–"])

    by_name = {s["scenario"]: s for s in trips["scenarios"]}
    retries = [s["label"] for s in trips["scenarios"] for service in ("dynamodb", "s3", "stepfunctions")
               if s[f"{service}_http_attempts"] != s[f"{service}_calls"]]
    reconnects = [s["label"] for s in trips["scenarios"] if s["sql_connections_opened"]]
    cold = echo_cold[0] if echo_cold else None
    notes = [
        f"Echo jobs, where the time goes (medians of the {e['n']} counted jobs): the POST is answered in "
        f"{e['create_median_ms']:.0f} ms. The job row, inserted before that answer (then StartExecution, the "
        f"execution ARN recorded, the 202), is completed {e['row_created_to_completed_median_ms']:.0f} ms after "
        f"its insert: queued {e['queued_median_ms']:.0f} ms (until RunModel marks it processing, through moto's "
        f"Step Functions and the in-process Lambda dispatch), processing {e['processing_median_ms']:.0f} ms; the "
        f"execution runs {e['execution_median_ms']:.0f} ms start to stop. The client reads `succeeded` "
        f"{e['seen_after_completed_median_ms']:.0f} ms after the row says so ({POLL_SECONDS * 1000:.0f} ms "
        f"pauses plus the GET itself; {e['polls_mean']} GETs per job on average). End-to-end min "
        f"{e['end_to_end_min_ms']:.0f} ms, max {e['end_to_end_max_ms']:.0f} ms.",
    ]
    if cold:
        notes.append(f"The warm-up (first job of a freshly started stack: boto3 clients and lazy imports on first "
                     f"use) took {cold['end_to_end_s'] * 1000:.0f} ms end to end, its POST "
                     f"{cold['create_s'] * 1000:.0f} ms; not counted. The echo stack took "
                     f"{stack['echo_stack_start_s']:.1f} s to start.")
    notes.append(f"Echo (inline) jobs entered {_span(echo_counts)} states each: "
                 + ", ".join(f"{seq} ({n} jobs)" for seq, n in echo_sequences.items())
                 + f"; §7 documents {INLINE_STATES_DOCUMENTED} (the Choice state `Route` counts as one entered "
                   "state, as it does for the webhook path's 3).")
    if webhook_all:
        assert webhook_summary is not None
        delivered = Counter(stack["webhook_deliveries"])
        notes.append(
            f"Webhook path: {_span(webhook_counts)} entered states per job, goal ≤ "
            f"{WEBHOOK_STATES_GOAL}: {'met' if webhook_ok else 'MISSED'}; webhooks delivered: "
            + ", ".join(f"{n}× {status}" for status, n in delivered.items())
            + f". Latency there is the fake model's {stack['fake_replicate_delay_s']:.1f} s plus "
              f"{webhook_summary['end_to_end_median_ms'] - stack['fake_replicate_delay_s'] * 1000:.0f} ms (median), "
              f"for information. That stack took {stack['webhook_stack_start_s']:.1f} s to start.")
    else:
        notes.append("The webhook path was not measured.")
    guest, user = by_name["guest"], by_name["user"]
    first, replay = by_name["idempotent_first"], by_name["idempotent_replay"]
    notes += [
        f"Round trips per create: a signed-in user's takes {user['dynamodb_calls']} DynamoDB calls and a guest's "
        f"{guest['dynamodb_calls']}, as generate's hot path (3 and 5 in `dynamo_round_trips`, where docs §10 set "
        f"that budget; none is set for jobs): the rate limit (aiJobs), the daily window, the monthly allowance and, "
        f"for a guest, the two guest caps. Then one S3 PutObject (the original), one StartExecution, and SQL: "
        f"the job's INSERT and the UPDATE recording its execution ARN, plus, for a signed-in user, the session "
        f"lookup ({user['sql_statements']} statements; a guest's {guest['sql_statements']}).",
        f"With an Idempotency-Key: {first['dynamodb_calls']} DynamoDB calls and {first['sql_statements']} SQL "
        f"statements for a new key (Powertools' record written, then completed; the job read back by id); the "
        f"same request again answers the same job with {replay['dynamodb_calls']} DynamoDB calls, "
        f"{replay['sql_statements']} SQL statements, {replay['s3_calls']} S3 and "
        f"{replay['stepfunctions_calls']} Step Functions calls, and "
        + ("charges nothing (no daily or monthly write)." if not {"daily", "monthly"} & set(replay["dynamodb_roles"])
           else "CHARGES AGAIN (it writes the daily or monthly counter)."),
        "Every API call was one HTTP attempt (no retries)." if not retries else
        f"Retries seen (HTTP attempts > API calls): {', '.join(sorted(set(retries)))}.",
        "No counted create opened a SQL connection (the per-thread connection was open from the owner's first "
        "create)." if not reconnects else f"A counted create opened a SQL connection: {', '.join(reconnects)}.",
        f"The section took {seconds:.0f} s (two stack starts included).",
    ]
    return SectionResult(
        name=NAME, title=TITLE,
        method=(f"Latency and state transitions: the local stack (`python -m local`, started by "
                f"tests.local_stack.running_stack in a worker interpreter) with ENHANCER_PROVIDER=echo, the "
                f"template's state machine run by moto's Step Functions with its tasks dispatched to the real "
                f"handlers. {WARM_UP} warm-up job, then {ECHO_JOBS} jobs one after another, each from a loopback "
                f"address and cookie jar of its own (a new guest: the aiJobs, guest and aiJobsPoll limits are "
                f"counted per client): a multipart POST /api/ai-image/jobs (real-esrgan, {IMAGE_SIZE}×{IMAGE_SIZE} "
                f"PNG, CSRF cookie + header, Origin), then GET /api/ai-image/jobs/{{id}} every "
                f"{POLL_SECONDS * 1000:.0f} ms until the job has ended; end-to-end = POST sent to the GET that "
                f"reads succeeded, on the client's clock. Entered states come from each execution's history "
                f"(moto endpoint), the job's microsecond stamps from the stack's SQLite file. The webhook path: a "
                f"second stack with ENHANCER_PROVIDER=replicate against local/fake_replicate.py "
                f"({FAKE_REPLICATE_DELAY:.1f} s model delay) and PUBLIC_API_URL set, {WARM_UP} + {WEBHOOK_JOBS} "
                f"jobs. Round trips: another worker runs the real JobsCreateFunction handler against moto (the "
                f"state machine created, executions not run) and counts each create's DynamoDB, S3 and Step "
                f"Functions calls (botocore `before-call` hooks on the handler's shared clients, as "
                f"`dynamo_round_trips`) and SQL statements (`enhancer.adapters.sql.watch_statements`, on every "
                f"connection the SQL adapter opens), after a first create per owner. Goals: echo median under "
                f"{LATENCY_GOAL_MS} ms; at most {WEBHOOK_STATES_GOAL} entered states on the webhook path."),
        headers=["Measure", "Case", "Result", "Goal", "Budget"],
        rows=rows,
        figures={"latency_goal_ms": LATENCY_GOAL_MS, "webhook_states_goal": WEBHOOK_STATES_GOAL,
                 "echo_summary": echo_summary, "echo_state_sequences": echo_sequences,
                 "webhook_summary": webhook_summary, "webhook_state_sequences": webhook_sequences,
                 "seconds": round(seconds, 1), **stack, **trips},
        notes=notes,
        passed=echo_ok and webhook_ok,
    )


if __name__ == "__main__":
    worker_main(measure)
