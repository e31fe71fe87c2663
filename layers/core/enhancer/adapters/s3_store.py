"""Images in S3: read for the proxy, presigned for large bodies."""

from __future__ import annotations

from typing import Any

from enhancer.services.ports import ObjectInfo, StoredObject


def _is_missing(error: Exception) -> bool:
    code = getattr(error, "response", {}).get("Error", {}).get("Code")
    return code in ("NoSuchKey", "404", "NotFound")


class S3ImageStore:
    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def head(self, key: str) -> ObjectInfo | None:
        response = self._unless_missing(self._client.head_object, key)
        return self._info(response) if response else None

    def get(self, key: str) -> StoredObject | None:
        """Opens the object; the body is streamed, so a large one can be discarded unread."""
        response = self._unless_missing(self._client.get_object, key)
        return StoredObject(info=self._info(response), body=response["Body"]) if response else None

    def _unless_missing(self, operation: Any, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            response: dict[str, Any] = operation(Bucket=self._bucket, Key=key)
            return response
        except ClientError as error:
            if _is_missing(error):
                return None
            raise

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._client.put_object(Bucket=self._bucket, Key=key, Body=data, ContentType=content_type)

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self._bucket, Key=key)

    def delete_prefix(self, prefix: str) -> int:
        """Every object under `prefix` removed (a page of up to 1000 per call); how many there were."""
        removed = 0
        for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                answer = self._client.delete_objects(Bucket=self._bucket, Delete={"Objects": keys, "Quiet": True})
                if answer.get("Errors"):
                    raise RuntimeError(f"S3 kept {len(answer['Errors'])} objects under the prefix")
                removed += len(keys)
        return removed

    def presigned_post(self, key: str, content_type: str, max_bytes: int, expires_in: int) -> dict[str, Any]:
        """A browser form upload of exactly this key and type, at most `max_bytes` long."""
        post: dict[str, Any] = self._client.generate_presigned_post(
            Bucket=self._bucket, Key=key, Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
            ExpiresIn=expires_in)
        return post

    def presigned_get_url(self, key: str, expires_in: int) -> str:
        url: str = self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=expires_in)
        return url

    @staticmethod
    def _info(response: dict[str, Any]) -> ObjectInfo:
        return ObjectInfo(size=int(response.get("ContentLength", 0)), etag=response.get("ETag", ""),
                          content_type=response.get("ContentType"))
