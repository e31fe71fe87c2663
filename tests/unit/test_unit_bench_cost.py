"""The bench's cost arithmetic (bench/cost_model.py): counts and prices into dollars, and the price file."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from bench.cost_model import (
    PRICES_FILE,
    Usage,
    billed_gb_seconds,
    components,
    http_api_billed_requests,
    load_prices,
    mean_usage,
    price_keys,
    request_units,
    s3_request_class,
    scaled,
    sum_usage,
    total_cost,
)

KB = 1024
ROOT = PRICES_FILE.parents[1]
PRICES = dict.fromkeys(price_keys(), 1.0)
USAGE = Usage(lambda_requests={"arm64": 5}, lambda_gb_seconds={"arm64": 0.17}, dynamodb_write_units=7,
              dynamodb_read_units=1, s3_put_requests=2, s3_get_requests=1, state_transitions=3,
              http_api_requests=4, log_bytes=3800)


def test_doubling_the_gb_seconds_doubles_lambda_compute_and_nothing_else() -> None:
    prices = load_prices()["prices_usd"]
    doubled = Usage(**{**vars(USAGE), "lambda_gb_seconds": {"arm64": 0.34}})
    before = {c.label: c.cost(1000) for c in components(USAGE, prices)}
    after = {c.label: c.cost(1000) for c in components(doubled, prices)}
    assert after.pop("Lambda compute (arm64)") == pytest.approx(2 * before.pop("Lambda compute (arm64)"))
    assert after == before


def test_components_price_each_unit_as_its_page_quotes_it() -> None:
    prices = load_prices()["prices_usd"]
    one_each = Usage(lambda_requests={"arm64": 1}, lambda_gb_seconds={"arm64": 1}, dynamodb_write_units=1,
                     dynamodb_read_units=1, s3_put_requests=1, s3_get_requests=1, state_transitions=1,
                     http_api_requests=1, log_bytes=1024**3)
    per_operation = {c.label: c.cost(1) for c in components(one_each, prices)}
    assert per_operation == pytest.approx({
        "Lambda requests (arm64)": prices["lambda_arm64_per_million_requests"] / 1e6,
        "Lambda compute (arm64)": prices["lambda_arm64_per_gb_second"],
        "DynamoDB on-demand writes": prices["dynamodb_on_demand_per_million_write_request_units"] / 1e6,
        "DynamoDB on-demand reads": prices["dynamodb_on_demand_per_million_read_request_units"] / 1e6,
        "S3 PUT, COPY, POST, LIST requests": prices["s3_standard_put_copy_post_list_per_1000_requests"] / 1e3,
        "S3 GET and other requests": prices["s3_standard_get_select_other_per_1000_requests"] / 1e3,
        "Step Functions Standard state transitions": prices["step_functions_standard_per_1000_state_transitions"]
        / 1e3,
        "API Gateway HTTP API requests": prices["http_api_per_million_requests_first_300_million"] / 1e6,
        "CloudWatch Logs ingestion": prices["cloudwatch_logs_ingestion_per_gb"],
    })


def test_the_total_is_the_sum_of_the_components_and_scales_with_the_operations() -> None:
    parts = sum(c.cost(1000) for c in components(USAGE, PRICES))
    assert total_cost(USAGE, PRICES) == pytest.approx(parts)
    assert total_cost(USAGE, PRICES, operations=2000) == pytest.approx(2 * parts)


def test_x86_64_is_priced_at_its_own_rate_only_when_used() -> None:
    prices = load_prices()["prices_usd"]
    assert not [c for c in components(USAGE, prices) if "x86_64" in c.label]
    usage = Usage(lambda_requests={"x86_64": 1}, lambda_gb_seconds={"x86_64": 1})
    compute = next(c for c in components(usage, prices) if c.label == "Lambda compute (x86_64)")
    assert compute.unit_price == prices["lambda_x86_64_per_gb_second"] > prices["lambda_arm64_per_gb_second"]


def test_lambda_bills_whole_milliseconds_times_memory() -> None:
    assert billed_gb_seconds(1024, 0.0601) == pytest.approx(0.061)
    assert billed_gb_seconds(2048, 0.061) == pytest.approx(0.122)
    assert billed_gb_seconds(512, 1.0) == pytest.approx(0.5)


@pytest.mark.parametrize(("size", "billed"), [
    (0, 1), (1, 1), (512 * KB, 1), (512 * KB + 1, 2), (596_000, 2), (1024 * KB, 2), (4 * 1024 * KB + 1, 9)])
def test_http_api_counts_a_request_once_per_started_512_kb(size: int, billed: int) -> None:
    assert http_api_billed_requests(size, 512 * KB) == billed


def test_a_base64_image_body_counts_more_than_its_binary_form() -> None:
    image = 400 * KB
    assert http_api_billed_requests(image, 512 * KB) == 1
    assert http_api_billed_requests(image * 4 // 3, 512 * KB) == 2


def test_dynamodb_request_units_of_small_items() -> None:
    assert request_units("UpdateItem", {}) == (1.0, 0.0)
    assert request_units("PutItem", {}) == (1.0, 0.0)
    assert request_units("DeleteItem", {}) == (1.0, 0.0)
    assert request_units("GetItem", {"ConsistentRead": True}) == (0.0, 1.0)
    assert request_units("GetItem", {}) == (0.0, 0.5)
    assert request_units("TransactWriteItems", {"TransactItems": [{}, {}, {}]}) == (6.0, 0.0)
    assert request_units("BatchGetItem", {"RequestItems": {"t": {"Keys": [{}, {}], "ConsistentRead": True}}}) \
        == (0.0, 2.0)
    assert request_units("DescribeTable", {}) == (0.0, 0.0)


def test_s3_request_classes() -> None:
    assert s3_request_class("PutObject") == "put"
    assert s3_request_class("ListObjectsV2") == "put"
    assert s3_request_class("GetObject") == "get"
    assert s3_request_class("HeadObject") == "get"
    assert s3_request_class("DeleteObject") == "free"


def test_mean_sum_and_scale_of_usages() -> None:
    other = Usage(lambda_requests={"arm64": 1}, lambda_gb_seconds={"arm64": 0.03}, dynamodb_write_units=3)
    mean = mean_usage([USAGE, other])
    assert mean.lambda_requests == {"arm64": 3}
    assert mean.lambda_gb_seconds["arm64"] == pytest.approx(0.1)
    assert mean.dynamodb_write_units == 5
    assert mean.state_transitions == 1.5
    assert sum_usage(USAGE, other).dynamodb_write_units == 10
    assert scaled(USAGE, 0.5).http_api_requests == 2
    with pytest.raises(ValueError):
        mean_usage([])


def test_the_price_file_has_its_date_region_sources_and_every_price_used() -> None:
    document = load_prices()
    assert datetime.date.fromisoformat(document["read_on"]) <= datetime.date.today()
    assert document["region"] == "us-east-1"
    assert all(url.startswith("https://aws.amazon.com/") for url in document["sources"].values())
    assert set(price_keys()) <= set(document["prices_usd"])
    assert document["metering"]["http_api_request_increment_bytes"] == 512 * KB
    # every price the calculation uses is one of the file's: nothing else holds a price
    assert {c.price_key for c in components(Usage(lambda_requests={"x86_64": 1}), document["prices_usd"])} \
        == set(price_keys())


def test_the_readme_quotes_the_price_file_for_the_nat_gateway() -> None:
    """README "Network" prices the NAT gateway the VPC functions need; its figures are the price file's."""
    prices = load_prices()["prices_usd"]
    network = (ROOT / "README.md").read_text().split("### Network", 1)[1].split("\n### ", 1)[0]
    assert f"${prices['nat_gateway_per_hour']:g} an hour" in network
    assert f"${prices['nat_gateway_per_gb_processed']:g} per GB" in network
    monthly = prices["nat_gateway_per_hour"] * 730  # AWS prices a month as 730 hours
    assert f"some ${monthly:.0f} a month" in network
    assert f"about ${2 * monthly:.0f} a month for the two subnets" in network


def test_a_price_file_missing_a_price_is_refused(tmp_path: Path) -> None:
    document = json.loads(PRICES_FILE.read_text())
    del document["prices_usd"]["step_functions_standard_per_1000_state_transitions"]
    broken = tmp_path / "prices.json"
    broken.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="step_functions_standard_per_1000_state_transitions"):
        load_prices(broken)
