"""What every dialect's migrator shares: the numbered migration files of a dialect, and the post-conditions the
go-live checklist names (the tables the routes read, the columns the repositories use and the indexes the job
queries need), proved by `problems` from a `Catalogue` each dialect reads out of its own system tables."""

from __future__ import annotations

import re
from dataclasses import field
from importlib import resources

from enhancer.domain.values import value_class

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@value_class
class Migration:
    version: str
    name: str
    sql: str


def migrations(dialect: str = "sqlite") -> list[Migration]:
    """The files of `migrations/<dialect>/`, in version order."""
    folder = resources.files("enhancer.adapters.sql") / "migrations" / dialect
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(version=match.group(1), name=entry.name, sql=entry.read_text()))
    return sorted(found, key=lambda m: m.version)


@value_class
class MigrationReport:
    applied: list[str]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


# The post-conditions of the go-live checklist (§4), plus the tables the routes read.
REQUIRED_TABLES = ("users", "sessions", "ai_jobs", "stripe_customers", "subscriptions", "api_keys")
REQUIRED_INDEXES: dict[str, tuple[str, tuple[str, ...]]] = {
    "idx_ai_jobs_user_created_at": ("ai_jobs", ("user_id", "created_at")),
    "idx_ai_jobs_owner_created_at": ("ai_jobs", ("owner_type", "owner_ref", "created_at")),
    "idx_ai_jobs_provider_job_id": ("ai_jobs", ("provider_job_id",)),
    "idx_ai_jobs_status": ("ai_jobs", ("status",)),
    "idx_ai_jobs_created_at": ("ai_jobs", ("created_at",)),
    "idx_ai_jobs_status_deadline": ("ai_jobs", ("status", "deadline_at")),
    "idx_subscriptions_user": ("subscriptions", ("user_id",)),
    "idx_subscriptions_customer": ("subscriptions", ("customer_id",)),
    "idx_subscriptions_status": ("subscriptions", ("status",)),
    "idx_users_cognito_sub": ("users", ("cognito_sub",)),
    "idx_api_keys_key_hash": ("api_keys", ("key_hash",)),
    "idx_api_keys_user_created_at": ("api_keys", ("user_id", "created_at")),
}
# The columns the repositories read and write, per table (`jobs.COLUMNS` for ai_jobs; a test keeps them equal).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "ai_jobs": ("id", "owner_type", "owner_ref", "user_id", "provider", "mode", "model", "params_json",
                "reservation_json", "cost_tenths", "input_r2_key", "input_content_type", "input_size",
                "output_r2_key", "provider_job_id", "execution_arn", "status", "error_type", "error_message",
                "created_at", "updated_at", "started_at", "completed_at", "canceled_at", "deadline_at",
                "callback_url", "callback_attempts"),
    "stripe_customers": ("user_id", "customer_id", "created_at"),
    "subscriptions": ("id", "user_id", "customer_id", "plan", "status", "current_period_end",
                      "cancel_at_period_end", "last_event_at", "price_id", "created_at", "updated_at"),
    "api_keys": ("id", "user_id", "name", "prefix", "key_hash", "scopes", "created_at", "last_used_at",
                 "revoked_at"),
}


@value_class
class Column:
    nullable: bool
    default: str | None  # as SQL text, e.g. 'free' (quotes included); None when there is none


@value_class
class Catalogue:
    """What a database holds, as far as the post-conditions ask, read by a dialect from its system tables."""

    applied: set[str]
    tables: set[str]
    indexes: dict[str, tuple[str, tuple[str, ...]]]  # name: (table, columns in order)
    columns: dict[str, dict[str, Column]]  # table: {column: Column}
    problems: list[str] = field(default_factory=list)  # what only this dialect checks


def problems(catalogue: Catalogue, dialect: str) -> list[str]:
    """Every post-condition `catalogue` breaks, as a sentence; an empty list means the schema is ready."""
    found = []
    pending = [m.name for m in migrations(dialect) if m.version not in catalogue.applied]
    if pending:
        found.append("migrations not applied: " + ", ".join(pending))
    found += [f"table {table} is missing" for table in REQUIRED_TABLES if table not in catalogue.tables]
    for index, (table, columns) in REQUIRED_INDEXES.items():
        if index not in catalogue.indexes:
            found.append(f"index {index} on {table}({', '.join(columns)}) is missing")
            continue
        actual_table, actual = catalogue.indexes[index]
        if (actual_table, actual) != (table, columns):
            found.append(f"index {index} covers {actual_table}({', '.join(actual)}), "
                         f"expected {table}({', '.join(columns)})")
    if "users" in catalogue.tables:
        plan = catalogue.columns.get("users", {}).get("plan")
        if plan is None:
            found.append("column users.plan is missing")
        elif plan.default != "'free'" or plan.nullable:
            found.append(f"column users.plan must be NOT NULL DEFAULT 'free' (default is {plan.default})")
    for table, names in REQUIRED_COLUMNS.items():
        if table in catalogue.tables:
            present = catalogue.columns.get(table, {})
            found += [f"column {table}.{name} is missing" for name in names if name not in present]
    user_id = catalogue.columns.get("ai_jobs", {}).get("user_id")
    if user_id is not None and not user_id.nullable:
        found.append("column ai_jobs.user_id must be nullable (guest jobs have no user)")
    return found + catalogue.problems
