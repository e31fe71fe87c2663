"""Applies pending SQL migrations to the database (SQLite on EFS or Aurora PostgreSQL) and checks the schema.

Two callers, never API Gateway:
- the deploy: the template's `SchemaMigrations` custom resource, on every deploy that changes the code, the
  layer (where the migrations are) or the store; a post-condition missing fails the deploy, the problems in
  the stack events;
- an operator (`aws lambda invoke`): `{"apply": false}` only checks; no payload applies.
"""

from typing import Any

from pydantic import BaseModel, StrictBool

from enhancer.adapters.sql import migrate_and_check
from enhancer.config import get_settings
from enhancer.domain.errors import AppError, ServiceUnavailable
from enhancer.entrypoints import custom_resource_handler, is_custom_resource_request, task_handler
from enhancer.observability import logger


class MigrateInput(BaseModel):
    apply: StrictBool = True


def _migrate(apply: bool) -> dict[str, Any]:
    report = migrate_and_check(get_settings().database_url, apply=apply)
    logger.info("schema_migration", extra={"applied": report.applied, "problems": report.problems})
    return {"ok": report.ok, "applied": report.applied, "problems": report.problems}


@task_handler
def operator(event: MigrateInput, context: Any) -> dict[str, Any]:
    return _migrate(event.apply)


@custom_resource_handler
def deploy(properties: dict[str, Any]) -> dict[str, Any]:
    try:
        result = _migrate(apply=True)
    except ServiceUnavailable as error:  # what the stack events should say, where the log has the reason
        raise AppError(f"the database at {get_settings().database_url.where} cannot be reached") from error
    if not result["ok"]:
        raise AppError("schema check failed after migrating: " + "; ".join(result["problems"]))
    return {"Applied": len(result["applied"])}


def handler(event: Any, context: Any) -> Any:
    return (deploy if is_custom_resource_request(event) else operator)(event, context)
