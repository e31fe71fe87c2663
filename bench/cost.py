"""AWS cost of 1,000 synchronous enhancements and of 1,000 jobs, the model's own price excluded.

bench/cost_worker.py runs the product as the local stack does and records what each operation used: invocations
with their duration, request and printed bytes, DynamoDB / S3 / Step Functions calls, state transitions. This
section turns those counts into dollars with bench/cost_model.py and the prices in bench/aws_prices.json.
"""

from __future__ import annotations

import math
import re
import statistics
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.common import Context, SectionResult
from bench.cost_model import (
    Usage,
    billed_gb_seconds,
    components,
    http_api_billed_requests,
    load_prices,
    mean_usage,
    s3_request_class,
    scaled,
    sum_usage,
    total_cost,
)
from bench.cost_worker import (
    DELAYED_RUNS,
    IMAGE_SIZE,
    MODEL_DELAY_SECONDS,
    POLL_INTERVAL_SECONDS,
    RUNS,
    SERVICES,
    WARM_UP,
)
from bench.inprocess import run_worker

NAME = "cost"
TITLE = "AWS cost per 1,000 enhancements: synchronous and as jobs"
POLL_FUNCTION = "JobGetFunction"
WORKFLOW_FUNCTIONS = ("JobStartFunction", "JobCheckFunction", "JobFinishFunction", "JobFailFunction")
LOG_LEVEL_ENVIRONMENT = "production"  # whose POWERTOOLS_LOG_LEVEL (template Mappings) the handlers log at


# --- the section: counts into dollars --------------------------------------------------------------------------

def function_sizing() -> dict[str, tuple[int, str]]:
    """(MemorySize MB, architecture) of every function in template.yaml: its own, else Globals.Function."""
    from local.template import load_template, parameter_values, resolve

    template = load_template()
    values = parameter_values(template)
    defaults = template.get("Globals", {}).get("Function", {})
    sizing = {}
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = {**defaults, **(resource.get("Properties") or {})}
        architectures = resolve(props.get("Architectures", ["x86_64"]), values)  # Lambda's default: x86_64
        sizing[logical_id] = (int(resolve(props.get("MemorySize", 128), values)), str(architectures[0]))
    return sizing


def production_log_level() -> str:
    from local.template import load_template

    return str(load_template()["Mappings"]["EnvironmentSettings"][LOG_LEVEL_ENVIRONMENT]["LogLevel"])


def access_log_format() -> str:
    from local.template import resource_properties

    return str(resource_properties("HttpApi")["AccessLogSettings"]["Format"])


_CONTEXT_VARIABLE = re.compile(r"\$context\.([A-Za-z.]+)")
_SAMPLE_ACCESS_VALUES = {"requestId": "Jx1AbCdEfGhIjKl=", "identity.sourceIp": "203.0.113.45",
                         "requestTime": "07/Dec/2026:07:58:36 +0000", "protocol": "HTTP/1.1",
                         "integrationLatency": "25", "integrationErrorMessage": "-"}


def access_log_bytes(log_format: str, invocation: dict[str, Any]) -> int:
    """One HTTP API access log line in the template's format, with this request's values (typical ones for
    what the bench cannot know: the request id, the client's IP, the time)."""
    values = {**_SAMPLE_ACCESS_VALUES, "httpMethod": invocation["method"], "routeKey": invocation["route_key"],
              "path": invocation["path"], "status": str(invocation.get("status", 200)),
              "integrationStatus": str(invocation.get("status", 200)),
              "responseLength": str(invocation.get("response_bytes", 0))}
    return len(_CONTEXT_VARIABLE.sub(lambda m: values.get(m.group(1), "-"), log_format).encode())


def platform_log_bytes(seconds: float, memory_mb: int) -> int:
    """Lambda's own START, END and REPORT lines for one invocation (text log format)."""
    request_id = "8f2e4f7c-1b9d-4c3e-a5f6-0d1e2f3a4b5c"
    billed = math.ceil(round(seconds * 1000, 6))
    lines = (f"START RequestId: {request_id} Version: 12\n", f"END RequestId: {request_id}\n",
             f"REPORT RequestId: {request_id}\tDuration: {seconds * 1000:.2f} ms\tBilled Duration: {billed} ms\t"
             f"Memory Size: {memory_mb} MB\tMax Memory Used: 118 MB\t\n")
    return sum(len(line.encode()) for line in lines)


class Pricing:
    """What an operation's measured record bills (cost_model.Usage), from template.yaml's sizes and the metering
    of the price file."""

    def __init__(self, prices: dict[str, Any]) -> None:
        self.sizing = function_sizing()
        self.increment = prices["metering"]["http_api_request_increment_bytes"]
        self.log_format = access_log_format()

    def usage(self, op: dict[str, Any], functions: set[str] | None = None) -> Usage:
        """The usage of `op`, or of the invocations of `functions` only (and the AWS calls they made)."""
        invocations = [i for i in op["invocations"] if functions is None or i["function"] in functions]
        requests: Counter[str] = Counter()
        gb_seconds: dict[str, float] = {}
        for invocation in invocations:
            memory_mb, arch = self.sizing[invocation["function"]]
            requests[arch] += 1
            gb_seconds[arch] = gb_seconds.get(arch, 0.0) + billed_gb_seconds(memory_mb, invocation["seconds"])
        calls = {service: [c for c in op[service]["calls"] if functions is None or c["function"] in functions]
                 for service in SERVICES}
        s3_classes = Counter(s3_request_class(c["operation"]) for c in calls["s3"])
        # Each presigned GET is Replicate fetching the original once (signed locally, no call of ours).
        presigned_gets = op["s3"]["presigned"].get("GetObject", 0) if functions is None else 0
        http = [i for i in invocations if "route_key" in i]
        return Usage(
            lambda_requests=dict(requests), lambda_gb_seconds=dict(gb_seconds),
            dynamodb_write_units=sum(c["write_units"] for c in calls["dynamodb"]),
            dynamodb_read_units=sum(c["read_units"] for c in calls["dynamodb"]),
            s3_put_requests=s3_classes["put"], s3_get_requests=s3_classes["get"] + presigned_gets,
            state_transitions=len(op.get("entered_states", [])) if functions is None else 0,
            http_api_requests=sum(http_api_billed_requests(i["request_bytes"], self.increment) for i in http),
            log_bytes=sum(self.log_bytes(invocations).values()))

    def log_bytes(self, invocations: list[dict[str, Any]]) -> dict[str, int]:
        """What the invocations send to CloudWatch Logs: what the handlers print, Lambda's own lines, and the
        HTTP API access log line of each request."""
        return {
            "printed": sum(i["log_bytes"] for i in invocations),
            "platform": sum(platform_log_bytes(i["seconds"], self.sizing[i["function"]][0]) for i in invocations),
            "access": sum(access_log_bytes(self.log_format, i) for i in invocations if "route_key" in i)}

    def poll(self, jobs: list[dict[str, Any]]) -> Usage:
        """What one GET of a job uses (its function, request, calls and logs)."""
        return mean_usage([scaled(self.usage(op, {POLL_FUNCTION}), 1 / op["polls"]) for op in jobs])

    def model_second(self, held: dict[str, float], jobs: list[dict[str, Any]] | None = None) -> Usage:
        """What each second the model runs adds to one operation: the memory of every function held while it
        runs (`held_functions`) for that second and, for a job, the page's polls meanwhile."""
        gb_seconds: dict[str, float] = {}
        for function in held:
            memory_mb, arch = self.sizing[function]
            gb_seconds[arch] = gb_seconds.get(arch, 0.0) + memory_mb / 1024
        waiting = Usage(lambda_gb_seconds=gb_seconds)
        if jobs is None:
            return waiting
        return sum_usage(waiting, scaled(self.poll(jobs), 1 / POLL_INTERVAL_SECONDS))


def held_functions(counted: list[dict[str, Any]], delayed: list[dict[str, Any]],
                   delay_s: float) -> dict[str, float]:
    """The functions whose time per operation grew by more than half the model's delay (they wait for the model),
    with that growth in ms. The polls grow by their number and are priced as polls."""
    def per_operation(ops: list[dict[str, Any]]) -> Counter[str]:
        total: Counter[str] = Counter()
        for op in ops:
            for invocation in op["invocations"]:
                total[invocation["function"]] += invocation["seconds"] / len(ops)
        return total

    before, after = per_operation(counted), per_operation(delayed)
    return {function: (after[function] - before[function]) * 1000 for function in after
            if function != POLL_FUNCTION and after[function] - before[function] > delay_s / 2}


# --- rendering -------------------------------------------------------------------------------------------------

def dollars(amount: float) -> str:
    """Three significant digits, never in exponent form."""
    if amount == 0:
        return "$0"
    decimals = max(2, 2 - math.floor(math.log10(abs(amount))))
    return f"${amount:,.{decimals}f}"


def quantity(value: float, unit: str) -> str:
    if unit == "bytes":
        return f"{value / 1024:,.1f} KB" if value >= 1024 else f"{value:.0f} bytes"
    if unit == "GB-s":
        return f"{value:.4f} GB-s"
    if value == 1 and unit.endswith("s"):
        unit = unit[:-1]
    return f"{value:g} {unit}" if value == int(value) else f"{value:.2f} {unit}"


def unit_price(component: Any) -> str:
    digits = f"{component.unit_price:.10f}".rstrip("0")
    whole, _, fraction = digits.partition(".")
    return f"${whole}.{fraction.ljust(2, '0')} {component.per_label}"


def _mean(values: Iterable[float]) -> float:
    return statistics.fmean(list(values))


def _lambda_summary(ops: list[dict[str, Any]], sizing: dict[str, tuple[int, str]]) -> str:
    """`GenerateFunction 1× 63.9 ms at 1024 MB arm64, …`: invocations per operation and their mean duration."""
    parts = []
    for function in dict.fromkeys(i["function"] for op in ops for i in op["invocations"]):
        seconds = [i["seconds"] for op in ops for i in op["invocations"] if i["function"] == function]
        memory_mb, arch = sizing[function]
        parts.append(f"{function} {len(seconds) / len(ops):g}× {_mean(seconds) * 1000:.1f} ms at {memory_mb} MB "
                     f"{arch}")
    return ", ".join(parts)


def _calls_summary(ops: list[dict[str, Any]], service: str) -> str:
    counts = Counter(c["operation"] for op in ops for c in op[service]["calls"])
    return ", ".join(f"{n / len(ops):g}× {name}" for name, n in counts.items()) or "none"


def _request_sizes(ops: list[dict[str, Any]], increment: int) -> str:
    by_route: dict[str, list[int]] = {}
    for op in ops:
        for i in op["invocations"]:
            if "route_key" in i:
                by_route.setdefault(i["route_key"], []).append(i["request_bytes"])
    return "; ".join(f"{route} {_mean(sizes) / 1024:,.1f} KB → "
                     f"{http_api_billed_requests(round(_mean(sizes)), increment)} billed"
                     for route, sizes in by_route.items())


def _sequences(sequences: Counter[str]) -> str:
    return "; ".join(f"{len(seq.split(' → '))} transitions ({seq}) ×{n}" for seq, n in sequences.items())


def _held(held: dict[str, float], sizing: dict[str, tuple[int, str]]) -> str:
    return ", ".join(f"{function} (+{ms:.0f} ms, {sizing[function][0]} MB)" for function, ms in held.items()) \
        or "none"


def _poll_path_wait_seconds() -> float:
    """The Wait state's Seconds on the poll path of statemachine/enhance-job.asl.json."""
    import json

    definition = json.loads((Path(__file__).resolve().parent.parent / "statemachine" / "enhance-job.asl.json")
                            .read_text())
    return float(definition["States"]["WaitForPrediction"]["Seconds"])


@dataclass
class Costed:
    """One operation's figures: its runs, average usage, cost per 1,000 and what a second of model time adds."""

    runs: list[dict[str, Any]]
    delayed: list[dict[str, Any]]
    usage: Usage
    held: dict[str, float]
    per_second: Usage


def _cost_notes(sync: Costed, jobs: Costed, pricing: Pricing, prices: dict[str, Any],
                figures: dict[str, Any]) -> list[str]:
    sizing, delay = pricing.sizing, figures["model_delay_s"]
    poll = pricing.poll(jobs.runs)
    poll_ms = _mean(i["seconds"] * 1000 for op in jobs.runs for i in op["invocations"]
                    if i["function"] == POLL_FUNCTION)
    polls = _mean(op["polls"] for op in jobs.runs)
    delayed_polls = _mean(op["polls"] for op in jobs.delayed)
    hold_cap = figures["prefer_wait_max_s"]
    after_cap = total_cost(scaled(poll, 1 / POLL_INTERVAL_SECONDS), prices)
    job_held = ", ".join(jobs.held)
    return [
        f"1,000 sync enhancements: {dollars(total_cost(sync.usage, prices))} "
        f"(+{dollars(total_cost(sync.per_second, prices))} per second of model time)",
        f"1,000 asynchronous jobs: {dollars(total_cost(jobs.usage, prices))} "
        f"(+{dollars(total_cost(jobs.per_second, prices))} per second of model time"
        + (f" for the first {hold_cap:g} s, +{dollars(after_cap)} per second after)" if jobs.held else ")"),
        f"What model time adds, measured with the fake model taking {delay:g} s ({DELAYED_RUNS} run each): the "
        f"functions whose time grew with it were, for sync, {_held(sync.held, sizing)} — it holds the request "
        f"while Replicate runs, up to its {figures['generate_deadline_s']:g} s deadline — and, for a job, "
        f"{_held(jobs.held, sizing)}"
        + (f": AwaitPrediction creates the prediction with `Prefer: wait` (the task's deadline leaves Replicate's "
           f"cap, {hold_cap:g} s), so {job_held} waits for the model as generate does, with more memory, before the "
           f"execution waits on its task token. Past that hold no function runs and a Standard workflow bills "
           f"transitions, not time." if jobs.held else
           ": the execution waits on its task token, no function runs and a Standard workflow bills transitions, "
           "not time.")
        + f" A job also pays the page's polls: one GET per {POLL_INTERVAL_SECONDS:g} s ({polls:g} per job here, "
          f"{delayed_polls:g} with the delay), each a {POLL_FUNCTION} invocation ({poll_ms:.1f} ms at "
          f"{sizing[POLL_FUNCTION][0]} MB), {quantity(poll.http_api_requests, 'HTTP API requests')}, "
          f"{quantity(poll.dynamodb_write_units, 'WRU')} (its rate limit) and {quantity(poll.log_bytes, 'bytes')} "
          f"of logs: {dollars(after_cap)} per 1,000 jobs per second.",
    ]


def _usage_notes(sync: Costed, jobs: Costed, pricing: Pricing, prices: dict[str, Any], document: dict[str, Any],
                 figures: dict[str, Any]) -> list[str]:
    sizing = pricing.sizing
    sequences = Counter(" → ".join(op["entered_states"]) for op in jobs.runs)
    failed = sum(op["tasks_failed"] for op in jobs.runs)
    task_invocations = _mean(sum(i["function"] in WORKFLOW_FUNCTIONS for i in op["invocations"]) for op in jobs.runs)
    wait_seconds = _poll_path_wait_seconds()
    polled_workflow = Usage(state_transitions=3 / wait_seconds)  # WaitForPrediction, CheckPrediction, PredictionDone
    logs = {name: {part: _mean(pricing.log_bytes(op["invocations"])[part] for op in c.runs)
                   for part in ("printed", "platform", "access")} for name, c in (("sync", sync), ("jobs", jobs))}
    presigned = {name: _mean(op["s3"]["presigned"].get("GetObject", 0) for op in c.runs)
                 for name, c in (("sync", sync), ("jobs", jobs))}
    webhooks = ", ".join(f"{n}× {status}" for status, n in figures["webhook_statuses"].items())
    return [
        f"Lambda per sync enhancement: {_lambda_summary(sync.runs, sizing)}. Per job: "
        f"{_lambda_summary(jobs.runs, sizing)}. The execution histories show "
        f"{_mean(op['tasks_scheduled'] for op in jobs.runs):g} task invocations per job, the wrapped task "
        f"handlers ran {task_invocations:g}; Replicate's webhooks were answered {webhooks}. Means of {RUNS} runs "
        f"after {WARM_UP} warm-up, each duration rounded up to the millisecond as Lambda bills it.",
        f"DynamoDB per sync enhancement: {_calls_summary(sync.runs, 'dynamodb')}; per job: "
        f"{_calls_summary(jobs.runs, 'dynamodb')}. One WRU per item written (two in a transaction), one RRU per "
        f"strongly consistent read: the items are small — the largest in the table after the runs is "
        f"{figures['largest_item_bytes']} bytes, under the {document['metering']['dynamodb_write_unit_bytes']} "
        f"bytes of one WRU; a larger item would pay one WRU per started KB.",
        f"S3 per sync enhancement: {_calls_summary(sync.runs, 's3')}; per job: {_calls_summary(jobs.runs, 's3')}; "
        f"plus one GET each time Replicate fetches the original from the presigned URL it is given (signed "
        f"locally, no call: {presigned['sync']:g} per sync enhancement, {presigned['jobs']:g} per job). DELETE "
        f"requests are free.",
        f"Step Functions per job: {_sequences(sequences)}; "
        + ("no task failed, so no retry added a transition" if not failed else
           f"{failed} task failures (each retry adds a transition)")
        + f". Its API calls (StartExecution, SendTaskSuccess) are not billed. Without a public webhook URL the "
          f"workflow would poll Replicate instead: every {wait_seconds:g} s WaitForPrediction, CheckPrediction "
          f"and PredictionDone, {dollars(total_cost(polled_workflow, prices))} per 1,000 jobs per second of model "
          f"time in transitions alone, plus a JobCheckFunction invocation each time.",
        f"HTTP API requests as API Gateway received them (request line, headers, cookies, body), each billed once "
        f"per started {pricing.increment // 1024} KB: sync {_request_sizes(sync.runs, pricing.increment)}; jobs "
        f"{_request_sizes(jobs.runs, pricing.increment)}. The image is a {IMAGE_SIZE[0]}×{IMAGE_SIZE[1]} JPEG of "
        f"{figures['image_bytes'] / 1024:,.0f} KB sent as multipart, as the page sends files up to 4 MB; each "
        f"further {pricing.increment // 1024} KB adds one billed request to generate and to the job create.",
        f"CloudWatch Logs per sync enhancement / job: {logs['sync']['printed']:,.0f} / "
        f"{logs['jobs']['printed']:,.0f} bytes printed by the handlers (Powertools logs at {production_log_level()}, "
        f"production's level, and the EMF metrics documents; counted per invocation), "
        f"{logs['sync']['platform']:,.0f} / {logs['jobs']['platform']:,.0f} bytes of Lambda's START, END and "
        f"REPORT lines and {logs['sync']['access']:,.0f} / {logs['jobs']['access']:,.0f} bytes of HTTP API access "
        f"log (one line per request, in the template's format), all billed as ingestion. The custom metrics EMF "
        f"creates are billed per metric per month, not per request: not included.",
        "Durations are warm invocations of the real handlers on this machine (x86_64, not Graviton), with moto "
        "answering over loopback where AWS answers over the network; a cold start's init is billed too (see "
        "cold_import for its length). Not included: the model (Replicate), data transfer and NAT for Replicate's "
        "calls, the database (Aurora and RDS Proxy, or EFS throughput for SQLite), VPC endpoints, showing the "
        "results (image proxy invocations, S3 GETs), free tiers.",
        f"Prices: {document['region']} list prices as known on {document['read_on']}, to be checked against the "
        f"pages bench/aws_prices.json names.",
    ]


def _rows(sync: Costed, jobs: Costed, prices: dict[str, Any], sizing: dict[str, tuple[int, str]]) -> list[list[str]]:
    rows = []
    job_parts = {c.label: c for c in components(jobs.usage, prices)}
    for part in components(sync.usage, prices):
        job_part = job_parts[part.label]
        rows.append([part.label, unit_price(part), quantity(part.quantity, part.unit), dollars(part.cost(1000)),
                     quantity(job_part.quantity, job_part.unit), dollars(job_part.cost(1000))])

    def held(costed: Costed) -> str:
        """The GB-s per second of the functions the model holds (the polls are priced on their own)."""
        gb = sum(sizing[function][0] / 1024 for function in costed.held)
        return f"{gb:g} GB-s" + (f" ({', '.join(costed.held)} held)" if costed.held else "")

    rows.append(["Total at the measured durations", "", "", dollars(total_cost(sync.usage, prices)), "",
                 dollars(total_cost(jobs.usage, prices))])
    rows.append(["Added per second of model time", "", held(sync), dollars(total_cost(sync.per_second, prices)),
                 f"{held(jobs)} + {1 / POLL_INTERVAL_SECONDS:g} poll", dollars(total_cost(jobs.per_second, prices))])
    return rows


def run(ctx: Context) -> SectionResult:
    started = time.perf_counter()
    document = load_prices()
    prices = document["prices_usd"]
    figures = run_worker(ctx, NAME, {}, timeout=180, module="bench.cost_worker",
                         POWERTOOLS_LOG_LEVEL=production_log_level(), POWERTOOLS_METRICS_DISABLED="false")
    pricing = Pricing(document)
    costed = {}
    for name in ("sync", "jobs"):
        runs = [op for op in figures[name] if not op["warm_up"]]
        delayed = figures[f"{name}_delayed"]
        held = held_functions(runs, delayed, figures["model_delay_s"])
        costed[name] = Costed(runs, delayed, mean_usage([pricing.usage(op) for op in runs]), held,
                              pricing.model_second(held, runs if name == "jobs" else None))
    sync, jobs = costed["sync"], costed["jobs"]
    failures = [op for op in jobs.runs + jobs.delayed
                if op["status"] != "succeeded" or op["execution_status"] != "SUCCEEDED"]
    notes = _cost_notes(sync, jobs, pricing, prices, figures) + _usage_notes(sync, jobs, pricing, prices, document,
                                                                              figures)
    if failures:
        notes.append(f"{len(failures)} job(s) did not succeed: the job figures are not to be trusted.")
    seconds = time.perf_counter() - started
    notes.append(f"The section took {seconds:.0f} s.")
    return SectionResult(
        name=NAME, title=TITLE,
        method=(f"One worker interpreter runs the product as the local stack does — moto's server in-process, the "
                f"template's state machine executed by moto with its tasks dispatched to the real handlers, "
                f"local/fake_replicate.py as Replicate with the model taking no time, its signed webhooks back "
                f"through local/gateway.py (the webhook path, as deployed) — and drives it over HTTP as a signed-in "
                f"page would: POST /api/ai-image/generate; POST /api/ai-image/jobs, then GET "
                f"/api/ai-image/jobs/{{id}} every {POLL_INTERVAL_SECONDS:g} s until it has succeeded. "
                f"{WARM_UP} warm-up and {RUNS} counted runs of each, one at a time, then {DELAYED_RUNS} of each "
                f"with the model taking {MODEL_DELAY_SECONDS:g} s to see which functions wait for it. Each handler "
                f"is wrapped to time its invocations, keep the HTTP request it got and count the bytes its thread "
                f"prints; botocore hooks on the handlers' shared clients (`dynamo_round_trips`' CallCounter) count "
                f"DynamoDB, S3 and Step Functions calls and each call's request units; each execution's history "
                f"gives its entered states. Memory and architecture per function come from template.yaml, prices "
                f"from bench/aws_prices.json, the arithmetic from bench/cost_model.py."),
        headers=["Component", "Unit price", "Sync: per enhancement", "Sync: per 1,000", "Job: per job",
                 "Job: per 1,000"],
        rows=_rows(sync, jobs, prices, pricing.sizing),
        figures={"prices_read_on": document["read_on"], "region": document["region"],
                 "cost_per_1000_usd": {name: total_cost(c.usage, prices) for name, c in costed.items()},
                 "added_per_model_second_per_1000_usd": {name: total_cost(c.per_second, prices)
                                                         for name, c in costed.items()},
                 "held_by_the_model_ms": {name: c.held for name, c in costed.items()},
                 "usage_per_operation": {name: asdict(c.usage) for name, c in costed.items()},
                 "usage_per_model_second": {name: asdict(c.per_second) for name, c in costed.items()},
                 "seconds": round(seconds, 1), **figures},
        notes=notes,
        passed=not failures,
        budgeted=False,
    )
