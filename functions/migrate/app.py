"""Applies pending SQL migrations to the EFS database and checks the schema; invoked by the operator after a
deploy (`aws lambda invoke`), never by API Gateway. `{"apply": false}` only checks."""

from typing import Any

from enhancer.adapters.sql.migrate import migrate_and_check
from enhancer.adapters.sql.sqlite import connect
from enhancer.config import get_settings
from enhancer.observability import logger


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    conn = connect(get_settings().sqlite_path)
    try:
        report = migrate_and_check(conn, apply=bool((event or {}).get("apply", True)))
    finally:
        conn.close()
    logger.info("schema_migration", extra={"applied": report.applied, "problems": report.problems})
    return {"ok": report.ok, "applied": report.applied, "problems": report.problems}
