"""Task tokens of waiting job executions, in the table (`ai:job-token:<jobId>`), behind the `TaskTokens` port:
the webhook function resumes an execution from DynamoDB alone, without the SQL store."""

from __future__ import annotations

from typing import Any

from enhancer.adapters.dynamo_keys import job_token_key


class DynamoTaskTokens:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def put(self, job_id: str, token: str, expires_at: int) -> None:
        self._client.put_item(TableName=self._table, Item={
            "pk": {"S": job_token_key(job_id)}, "token": {"S": token}, "expiresAt": {"N": str(expires_at)}})

    def get(self, job_id: str) -> str | None:
        item = self._client.get_item(TableName=self._table, Key={"pk": {"S": job_token_key(job_id)}},
                                     ConsistentRead=True).get("Item")
        return item["token"]["S"] if item else None

    def remove(self, job_id: str) -> None:
        self._client.delete_item(TableName=self._table, Key={"pk": {"S": job_token_key(job_id)}})
