"""Applies pending SQL migrations to the EFS database and checks the schema; invoked by the operator after a
deploy (`aws lambda invoke`), never by API Gateway. `{"apply": false}` only checks; no payload applies."""

from typing import Any

from pydantic import BaseModel, StrictBool

from enhancer.adapters.sql import migrate_and_check
from enhancer.config import get_settings
from enhancer.entrypoints import task_handler
from enhancer.observability import logger


class MigrateInput(BaseModel):
    apply: StrictBool = True


@task_handler
def handler(event: MigrateInput, context: Any) -> dict[str, Any]:
    report = migrate_and_check(get_settings().database_url, apply=event.apply)
    logger.info("schema_migration", extra={"applied": report.applied, "problems": report.problems})
    return {"ok": report.ok, "applied": report.applied, "problems": report.problems}
