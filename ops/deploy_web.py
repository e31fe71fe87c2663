"""Publish the page in `web/` to the stack's CloudFront distribution (template.yaml, WebDistribution=true).

    python -m ops.deploy_web [--stack NAME | --config-env dev|staging|prod] [--profile P] [--region R]
                             [--web-dir web] [--keep-stale] [--dry-run]

Uploads every file under the web directory to the stack's web bucket (the `WebBucketName` output) with its content
type and a cache header — HTML `no-cache` (the browser and CloudFront revalidate it, so a deploy shows at once),
everything else `public, max-age=300`, since file names carry no content hash — then deletes the bucket's objects
that are no longer in the directory (as `aws s3 sync --delete`) and invalidates `/*` on the `WebDistributionId`
output. Assets go up before HTML, so a new page never names a file that is not there yet. Dotfiles and dot
directories are skipped; a file that resolves outside the web directory (a symlink out of it) stops the deploy.

The stack: `--stack`, else `STACK`, else the `stack_name` of `--config-env` (`CONFIG_ENV`, default `default`) in
samconfig.toml. Credentials and Region come from the environment as for any AWS client (`AWS_PROFILE`,
`AWS_REGION` or `AWS_DEFAULT_REGION`), or `--profile` / `--region`. `--dry-run` prints the plan and calls no AWS API.
"""

from __future__ import annotations

import argparse
import mimetypes
import os
import sys
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WEB_ROOT = ROOT / "web"
SAMCONFIG = ROOT / "samconfig.toml"

HTML_CACHE = "no-cache"
ASSET_CACHE = "public, max-age=300"
# The headers policy sends `X-Content-Type-Options: nosniff`, so a script or a style sheet with another type is
# refused by the browser: the types are fixed here rather than left to the machine's mime.types.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain; charset=utf-8",
    ".xml": "application/xml",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/x-icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
}
INVALIDATION_PATHS = ("/*",)  # one path: a deploy costs one of the month's 1,000 free invalidation paths


class DeployError(Exception):
    """Why the page cannot be published; the message says what to do."""


@dataclass(frozen=True, slots=True)
class Upload:
    path: Path
    key: str
    content_type: str
    cache_control: str


def content_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def cache_control(name: str) -> str:
    return HTML_CACHE if Path(name).suffix.lower() in (".html", ".htm") else ASSET_CACHE


def plan(web_root: Path = WEB_ROOT) -> list[Upload]:
    """What a deploy uploads: every file under `web_root` but dotfiles and dot directories, keyed by its path
    relative to it, assets first and HTML last."""
    if not web_root.is_dir():
        raise DeployError(f"no web directory at {web_root}")
    root = web_root.resolve()
    uploads = []
    for directory, subdirectories, files in os.walk(root, followlinks=False):
        here = Path(directory)
        for name in list(subdirectories):
            path = here / name
            if name.startswith("."):
                subdirectories.remove(name)
            elif path.is_symlink():
                _refuse_outside(path, root)
                subdirectories.remove(name)  # it points inside the root, which is walked anyway
        for name in files:
            if name.startswith("."):
                continue
            path = here / name
            _refuse_outside(path, root)
            uploads.append(Upload(path, path.relative_to(root).as_posix(), content_type(name), cache_control(name)))
    if not uploads:
        raise DeployError(f"nothing to publish in {web_root}")
    return sorted(uploads, key=lambda upload: (upload.cache_control == HTML_CACHE, upload.key))


def _refuse_outside(path: Path, root: Path) -> None:
    """A file or a symlinked directory that resolves outside the web directory is never published."""
    if not path.resolve().is_relative_to(root):
        raise DeployError(f"{path.relative_to(root).as_posix()} resolves outside {root}: refusing to publish it")


def describe(uploads: Iterable[Upload]) -> list[str]:
    return [f"upload  {upload.key:<32} {upload.content_type:<32} {upload.cache_control}" for upload in uploads]


def stack_name(explicit: str | None, environ: Mapping[str, str], config_env: str,
               samconfig: Path = SAMCONFIG) -> str:
    """--stack, else STACK, else the config environment's stack_name in samconfig.toml."""
    if explicit:
        return explicit
    if environ.get("STACK"):
        return environ["STACK"]
    config: dict[str, Any] = tomllib.loads(samconfig.read_text()) if samconfig.is_file() else {}
    section = config.get(config_env, {})
    for command in ("deploy", "global"):
        name = section.get(command, {}).get("parameters", {}).get("stack_name")
        if name:
            return str(name)
    raise DeployError(f"no stack name: samconfig.toml's [{config_env}] has none; pass --stack NAME (STACK=…) "
                      "or --config-env dev|staging|prod (CONFIG_ENV=…)")


def stack_targets(cloudformation: Any, stack: str) -> tuple[str, str]:
    """(bucket, distribution id) from the stack's outputs."""
    [described] = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in described.get("Outputs", [])}
    if "WebBucketName" not in outputs or "WebDistributionId" not in outputs:
        raise DeployError(f"stack {stack} has no web distribution (no WebBucketName / WebDistributionId output): "
                          "deploy it with WebDistribution=true first")
    return outputs["WebBucketName"], outputs["WebDistributionId"]


def publish(uploads: list[Upload], bucket: str, distribution_id: str, s3: Any, cloudfront: Any, *,
            delete_stale: bool = True, report: Callable[[str], None] = print) -> str:
    """Upload, delete what is gone, invalidate; returns the invalidation's id."""
    for upload, line in zip(uploads, describe(uploads), strict=True):
        s3.put_object(Bucket=bucket, Key=upload.key, Body=upload.path.read_bytes(),
                      ContentType=upload.content_type, CacheControl=upload.cache_control)
        report(line)
    if delete_stale:
        keep = {upload.key for upload in uploads}
        stale = [item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                 for item in page.get("Contents", []) if item["Key"] not in keep]
        for start in range(0, len(stale), 1000):  # DeleteObjects takes up to 1,000 keys
            batch = stale[start:start + 1000]
            s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True})
        for key in stale:
            report(f"delete  {key}")
    invalidation = cloudfront.create_invalidation(DistributionId=distribution_id, InvalidationBatch={
        "Paths": {"Quantity": len(INVALIDATION_PATHS), "Items": list(INVALIDATION_PATHS)},
        "CallerReference": f"deploy-web-{time.time_ns()}"})
    invalidation_id = str(invalidation["Invalidation"]["Id"])
    report(f"invalidate {' '.join(INVALIDATION_PATHS)} on {distribution_id}: {invalidation_id}")
    return invalidation_id


def main(argv: list[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.deploy_web", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", help="stack name (default: STACK, else samconfig.toml's stack_name)")
    parser.add_argument("--config-env", default=environ.get("CONFIG_ENV") or "default",
                        help="samconfig.toml environment to take the stack name from (default: CONFIG_ENV or default)")
    parser.add_argument("--profile", help="AWS profile (default: AWS_PROFILE)")
    parser.add_argument("--region",
                        help="AWS Region of the stack (default: AWS_REGION, AWS_DEFAULT_REGION or the profile's)")
    parser.add_argument("--web-dir", type=Path, default=WEB_ROOT, help="directory to publish (default: web/)")
    parser.add_argument("--keep-stale", action="store_true", help="do not delete objects missing from the directory")
    parser.add_argument("--dry-run", action="store_true", help="print what would be uploaded; call no AWS API")
    args = parser.parse_args(argv)
    try:
        uploads = plan(args.web_dir)
        if args.dry_run:
            print("\n".join(describe(uploads)))
            print(("keep" if args.keep_stale else "delete") + " objects not in the directory; invalidate "
                  + " ".join(INVALIDATION_PATHS) + " (dry run: nothing sent)")
            return 0
        stack = stack_name(args.stack, environ, args.config_env)
        import boto3

        # botocore reads AWS_DEFAULT_REGION (and the profile's region), not AWS_REGION: take either.
        region = args.region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None
        session = boto3.Session(profile_name=args.profile or None, region_name=region)
        bucket, distribution_id = stack_targets(session.client("cloudformation"), stack)
        print(f"stack {stack}: bucket {bucket}, distribution {distribution_id}")
        publish(uploads, bucket, distribution_id, session.client("s3"), session.client("cloudfront"),
                delete_stale=not args.keep_stale)
    except DeployError as error:
        print(f"deploy-web: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # botocore's: no credentials, no such stack, access denied
        if not type(error).__module__.startswith(("botocore", "boto3")):
            raise
        print(f"deploy-web: AWS refused: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
