"""The AWS cost of an operation from what it used and the list prices in bench/aws_prices.json: pure arithmetic,
no measuring. Prices live in that file only; this module knows what each service bills per."""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PRICES_FILE = Path(__file__).with_name("aws_prices.json")
ARCHITECTURES = ("arm64", "x86_64")
LOG_GB = 1024**3  # bytes in the GB CloudWatch Logs ingestion is priced per
METERING_KEYS = ("http_api_request_increment_bytes", "dynamodb_write_unit_bytes", "dynamodb_read_unit_bytes")


@dataclass(frozen=True)
class Usage:
    """What one operation uses of each billed dimension (means over measured runs, so possibly fractional)."""

    lambda_requests: Mapping[str, float] = field(default_factory=dict)  # by architecture
    lambda_gb_seconds: Mapping[str, float] = field(default_factory=dict)  # billed duration × memory, by architecture
    dynamodb_write_units: float = 0.0
    dynamodb_read_units: float = 0.0
    s3_put_requests: float = 0.0  # the PUT, COPY, POST, LIST class
    s3_get_requests: float = 0.0  # GET, SELECT and every other request that is not free
    state_transitions: float = 0.0
    http_api_requests: float = 0.0  # as billed, each request counted once per started 512 KB
    log_bytes: float = 0.0


_SCALARS = ("dynamodb_write_units", "dynamodb_read_units", "s3_put_requests", "s3_get_requests", "state_transitions",
            "http_api_requests", "log_bytes")


def _combine(usages: list[Usage], weight: float) -> Usage:
    """Σ usages × weight, dimension by dimension."""
    def by_arch(field_name: str) -> dict[str, float]:
        arches = sorted({arch for u in usages for arch in getattr(u, field_name)})
        return {a: sum(getattr(u, field_name).get(a, 0.0) for u in usages) * weight for a in arches}

    return Usage(lambda_requests=by_arch("lambda_requests"), lambda_gb_seconds=by_arch("lambda_gb_seconds"),
                 **{name: sum(getattr(u, name) for u in usages) * weight for name in _SCALARS})


def mean_usage(usages: list[Usage]) -> Usage:
    """The usage of an average operation."""
    if not usages:
        raise ValueError("no operations to average")
    return _combine(usages, 1 / len(usages))


def sum_usage(*usages: Usage) -> Usage:
    return _combine(list(usages), 1.0)


def scaled(usage: Usage, factor: float) -> Usage:
    """`usage` taken `factor` times (one poll's usage × polls per second)."""
    return _combine([usage], factor)


@dataclass(frozen=True)
class Component:
    """One billed dimension of an operation: its quantity and the price per `per` of them."""

    label: str
    quantity: float
    unit: str
    price_key: str
    unit_price: float
    per: float
    per_label: str

    def cost(self, operations: int = 1) -> float:
        return self.quantity * operations * self.unit_price / self.per


# label, quantity unit, price key, per, per label, the quantity in a Usage; Lambda's rows are added per architecture.
_FLAT: tuple[tuple[str, str, str, float, str, Callable[[Usage], float]], ...] = (
    ("DynamoDB on-demand writes", "WRU", "dynamodb_on_demand_per_million_write_request_units", 1e6, "per million WRU",
     lambda u: u.dynamodb_write_units),
    ("DynamoDB on-demand reads", "RRU", "dynamodb_on_demand_per_million_read_request_units", 1e6, "per million RRU",
     lambda u: u.dynamodb_read_units),
    ("S3 PUT, COPY, POST, LIST requests", "requests", "s3_standard_put_copy_post_list_per_1000_requests", 1e3,
     "per 1,000", lambda u: u.s3_put_requests),
    ("S3 GET and other requests", "requests", "s3_standard_get_select_other_per_1000_requests", 1e3, "per 1,000",
     lambda u: u.s3_get_requests),
    ("Step Functions Standard state transitions", "transitions", "step_functions_standard_per_1000_state_transitions",
     1e3, "per 1,000", lambda u: u.state_transitions),
    ("API Gateway HTTP API requests", "requests", "http_api_per_million_requests_first_300_million", 1e6,
     "per million", lambda u: u.http_api_requests),
    ("CloudWatch Logs ingestion", "bytes", "cloudwatch_logs_ingestion_per_gb", LOG_GB, "per GB",
     lambda u: u.log_bytes),
)


def _lambda_keys(architecture: str) -> tuple[str, str]:
    return f"lambda_{architecture}_per_million_requests", f"lambda_{architecture}_per_gb_second"


def price_keys(architectures: tuple[str, ...] = ARCHITECTURES) -> list[str]:
    """Every price the calculation can use."""
    return [key for arch in architectures for key in _lambda_keys(arch)] + [spec[2] for spec in _FLAT]


def components(usage: Usage, prices: Mapping[str, Any]) -> list[Component]:
    """Each billed dimension of `usage` at `prices` (the file's `prices_usd`); Lambda for arm64 always and for
    any other architecture the usage has."""
    rows = []
    for arch in ARCHITECTURES:
        if arch != "arm64" and not (usage.lambda_requests.get(arch) or usage.lambda_gb_seconds.get(arch)):
            continue
        requests_key, compute_key = _lambda_keys(arch)
        rows += [
            Component(f"Lambda requests ({arch})", usage.lambda_requests.get(arch, 0.0), "invocations", requests_key,
                      prices[requests_key], 1e6, "per million"),
            Component(f"Lambda compute ({arch})", usage.lambda_gb_seconds.get(arch, 0.0), "GB-s", compute_key,
                      prices[compute_key], 1, "per GB-s"),
        ]
    rows += [Component(label, quantity(usage), unit, key, prices[key], per, per_label)
             for label, unit, key, per, per_label, quantity in _FLAT]
    return rows


def total_cost(usage: Usage, prices: Mapping[str, Any], operations: int = 1000) -> float:
    """USD for `operations` operations that each use `usage`."""
    return sum(component.cost(operations) for component in components(usage, prices))


# --- metering rules --------------------------------------------------------------------------------------------

def billed_gb_seconds(memory_mb: int, seconds: float) -> float:
    """Lambda bills the duration rounded up to the millisecond, times the configured memory (1024 MB = 1 GB)."""
    milliseconds = math.ceil(round(seconds * 1000, 6))
    return memory_mb / 1024 * milliseconds / 1000


def http_api_billed_requests(request_bytes: int, increment_bytes: int) -> int:
    """HTTP API meters requests in increments (512 KB): a request counts once per increment it starts."""
    return max(1, math.ceil(request_bytes / increment_bytes))


_TRANSACTION_FACTOR = 2  # transactional reads and writes cost twice the units of plain ones
_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
_READS = frozenset({"GetItem", "Query", "Scan"})


def request_units(operation: str, params: Mapping[str, Any]) -> tuple[float, float]:
    """(write units, read units) of one DynamoDB call on items within one unit (1 KB written, 4 KB read): a
    conditional write that fails still pays its unit; an eventually consistent read pays half."""
    read = 1.0 if params.get("ConsistentRead") else 0.5
    if operation in _WRITES:
        return 1.0, 0.0
    if operation in _READS:
        return 0.0, read
    if operation == "TransactWriteItems":
        return float(_TRANSACTION_FACTOR * len(params.get("TransactItems", []))), 0.0
    if operation == "TransactGetItems":
        return 0.0, float(_TRANSACTION_FACTOR * len(params.get("TransactItems", [])))
    if operation == "BatchWriteItem":
        return float(sum(len(items) for items in params.get("RequestItems", {}).values())), 0.0
    if operation == "BatchGetItem":
        return 0.0, sum(len(spec.get("Keys", [])) * (1.0 if spec.get("ConsistentRead") else 0.5)
                        for spec in params.get("RequestItems", {}).values())
    return 0.0, 0.0  # control-plane and describe calls are not billed in request units


_S3_PUT_CLASS = frozenset({"PutObject", "CopyObject", "PostObject", "ListObjects", "ListObjectsV2",
                           "ListObjectVersions", "ListBuckets", "CreateMultipartUpload", "UploadPart",
                           "UploadPartCopy", "CompleteMultipartUpload", "ListMultipartUploads", "ListParts"})
_S3_FREE = frozenset({"DeleteObject", "DeleteObjects", "AbortMultipartUpload"})


def s3_request_class(operation: str) -> str:
    """"put" (PUT, COPY, POST, LIST), "free" (DELETE, CANCEL) or "get" (GET, SELECT and all other requests)."""
    if operation in _S3_PUT_CLASS:
        return "put"
    return "free" if operation in _S3_FREE else "get"


# --- the price file ---------------------------------------------------------------------------------------------

def load_prices(path: Path = PRICES_FILE) -> dict[str, Any]:
    """The price file, checked: its date, Region, sources, every price the calculation uses and the metering."""
    document: dict[str, Any] = json.loads(path.read_text())
    datetime.date.fromisoformat(document["read_on"])
    if not document.get("region") or not document.get("sources"):
        raise ValueError(f"{path.name}: a Region and the source URLs are required")
    prices, metering = document.get("prices_usd", {}), document.get("metering", {})
    missing = [key for key in price_keys() if not isinstance(prices.get(key), int | float) or prices[key] < 0]
    missing += [key for key in METERING_KEYS if not isinstance(metering.get(key), int) or metering[key] <= 0]
    if missing:
        raise ValueError(f"{path.name}: missing or invalid {', '.join(missing)}")
    return document

