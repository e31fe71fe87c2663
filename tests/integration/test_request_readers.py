"""The readers routes use instead of FastAPI's own parameter parsing (http/requests.py: `path_parameter`,
`json_body`, which keep `pydantic.v1` out of a cold start): the same values and the same 400s as
`job_id: str` and `body: Model`, compared on one app through the real pipeline."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from enhancer.http.app import create_app
from enhancer.http.envelope import success
from enhancer.http.requests import json_body, path_parameter


class Order(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    plan: Literal["pro", "premium"]
    seats: int = Field(default=1, ge=1, le=10)
    return_to: str | None = Field(default=None, alias="returnTo", max_length=8)


router = APIRouter()


@router.get("/read/{item_id}")
async def read_item(item_id: Annotated[str, path_parameter("item_id")]) -> Response:
    return success({"id": item_id})


@router.get("/fastapi/{item_id}")
async def fastapi_item(item_id: str) -> Response:
    return success({"id": item_id})


@router.post("/read/order")
async def read_order(body: Annotated[Order, json_body(Order)]) -> Response:
    return success(body.model_dump(by_alias=True))


@router.post("/fastapi/order")
async def fastapi_order(body: Order) -> Response:
    return success(body.model_dump(by_alias=True))


@pytest.fixture
def http(settings_env) -> TestClient:
    with TestClient(create_app(router, verify_origin=False), base_url="https://api.example.com") as client:
        yield client


@pytest.mark.parametrize("item_id", ["j-1", "3c2b1a09-8f7e-4d6c-9b5a-4f3e2d1c0b9a", "with%20space", "%C3%A9t%C3%A9"])
def test_a_path_parameter_is_the_string_fastapi_would_give(http: TestClient, item_id: str) -> None:
    ours, theirs = http.get(f"/read/{item_id}"), http.get(f"/fastapi/{item_id}")

    assert ours.status_code == theirs.status_code == 200
    assert ours.json() == theirs.json()


def _issue_paths(reply: Any) -> list[list[str]]:
    return [issue["path"] for issue in reply.json()["error"]["details"]["issues"]]


@pytest.mark.parametrize(("content", "content_type"), [
    (b'{"plan": "pro"}', "application/json"),
    (b'{"plan": "premium", "seats": 3, "returnTo": "/a", "extra": 1}', "application/json; charset=utf-8"),
    (b'{"plan": "pro"}', "application/merge-patch+json"),
    (b'{"plan": "gold", "seats": 0, "returnTo": "/far/too/long"}', "application/json"),
    (b'{"seats": "many"}', "application/json"),
    (b'{"plan": ', "application/json"),
    (b"[1, 2]", "application/json"),
    (b"", "application/json"),
    (b'{"plan": "pro"}', "text/plain"),
    (b'{"plan": "pro"}', None),
])
def test_a_json_body_is_accepted_and_refused_as_fastapi_would(http: TestClient, content: bytes,
                                                               content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}

    ours = http.post("/read/order", content=content, headers=headers)
    theirs = http.post("/fastapi/order", content=content, headers=headers)

    assert ours.status_code == theirs.status_code
    if ours.status_code == 200:
        assert ours.json() == theirs.json()
    else:
        assert ours.status_code == 400 and ours.json()["error"]["type"] == "validation_error"
        assert ours.json()["error"]["message"] == theirs.json()["error"]["message"] == "Invalid parameters"
        assert all(path[0] == "body" for path in _issue_paths(ours))
        assert {tuple(p) for p in _issue_paths(ours)} == {tuple(p) for p in _issue_paths(theirs)} or \
            content == b'{"plan": '  # FastAPI names the offset of bad JSON; pydantic's parser names none


def test_every_problem_of_a_body_is_named_at_once(http: TestClient) -> None:
    reply = http.post("/read/order", json={"plan": "gold", "seats": 0, "returnTo": "/far/too/long"})

    assert reply.status_code == 400
    assert sorted(_issue_paths(reply)) == [["body", "plan"], ["body", "returnTo"], ["body", "seats"]]
