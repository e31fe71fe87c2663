"""`make deploy-web` (ops/deploy_web.py): which files of web/ go up, with which content type and cache header, how
the stack is found, and the upload, the stale objects' removal and the invalidation against moto's S3 and
CloudFront."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from ops import deploy_web
from ops.deploy_web import ASSET_CACHE, HTML_CACHE, DeployError, Upload, plan


def _site(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return _site(tmp_path / "web", {"index.html": "<!doctype html>", "style.css": "body{}", "js/main.js": "x()",
                                    "js/api.js": "y()", "favicon.svg": "<svg/>", "docs/index.html": "<p>",
                                    "data/models.json": "{}", "font.woff2": "w", "unknown.bin2": "?"})


# ---------------------------------------------------------------- the plan


def test_every_file_is_planned_with_its_key_relative_to_the_web_directory(site):
    keys = [upload.key for upload in plan(site)]

    assert sorted(keys) == ["data/models.json", "docs/index.html", "favicon.svg", "font.woff2", "index.html",
                            "js/api.js", "js/main.js", "style.css", "unknown.bin2"]


@pytest.mark.parametrize(("key", "content_type"), [
    ("index.html", "text/html; charset=utf-8"),
    ("docs/index.html", "text/html; charset=utf-8"),
    ("js/main.js", "text/javascript; charset=utf-8"),  # nosniff: a module with another type would not run
    ("style.css", "text/css; charset=utf-8"),
    ("favicon.svg", "image/svg+xml"),
    ("data/models.json", "application/json"),
    ("font.woff2", "font/woff2"),
    ("unknown.bin2", "application/octet-stream"),
])
def test_each_file_gets_its_content_type(site, key, content_type):
    assert {upload.key: upload.content_type for upload in plan(site)}[key] == content_type


def test_html_is_revalidated_and_assets_cached_briefly_since_their_names_are_not_hashed(site):
    caching = {upload.key: upload.cache_control for upload in plan(site)}

    assert HTML_CACHE == "no-cache" and ASSET_CACHE == "public, max-age=300"
    assert caching["index.html"] == caching["docs/index.html"] == "no-cache"
    assert {caching[key] for key in caching if not key.endswith(".html")} == {"public, max-age=300"}


def test_assets_go_up_before_the_html_that_names_them(site):
    kinds = [upload.key.endswith(".html") for upload in plan(site)]

    assert kinds == sorted(kinds) and kinds[-1] is True


def test_dotfiles_and_dot_directories_are_skipped(site):
    _site(site, {".env": "SECRET=1", ".DS_Store": "", "js/.eslintrc": "{}", ".git/config": "[core]",
                 ".well-known/x.txt": "x"})

    assert not [upload.key for upload in plan(site) if "/." in f"/{upload.key}"]


def test_a_file_that_resolves_outside_the_web_directory_stops_the_deploy(site, tmp_path):
    (tmp_path / "secret.txt").write_text("not for the bucket")
    (site / "leak.txt").symlink_to(tmp_path / "secret.txt")

    with pytest.raises(DeployError, match=r"leak\.txt resolves outside"):
        plan(site)


def test_a_symlinked_directory_out_of_it_stops_the_deploy_too(site, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "a.js").write_text("a")
    (site / "vendor").symlink_to(tmp_path / "elsewhere")

    with pytest.raises(DeployError, match="vendor resolves outside"):
        plan(site)


def test_a_symlink_inside_is_published_once_under_its_own_name(site):
    (site / "js" / "alias.js").symlink_to(site / "js" / "main.js")
    (site / "scripts").symlink_to(site / "js")

    keys = [upload.key for upload in plan(site)]

    assert "js/alias.js" in keys and not [key for key in keys if key.startswith("scripts/")]


def test_a_missing_or_empty_directory_is_refused(tmp_path):
    with pytest.raises(DeployError, match="no web directory"):
        plan(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DeployError, match="nothing to publish"):
        plan(tmp_path / "empty")


def test_the_repositorys_own_page_is_publishable():
    uploads = plan()

    assert "index.html" in {upload.key for upload in uploads}
    assert all(upload.content_type != "application/octet-stream" for upload in uploads), uploads


def test_the_dry_run_lists_the_plan_and_calls_no_aws(site, capsys, monkeypatch):
    monkeypatch.setattr(boto3, "Session", lambda **_: pytest.fail("a dry run created an AWS session"))

    assert deploy_web.main(["--dry-run", "--web-dir", str(site)], environ={}) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[-2].split() == ["upload", "index.html", "text/html;", "charset=utf-8", "no-cache"]
    assert ["upload", "js/main.js", "text/javascript;", "charset=utf-8", "public,", "max-age=300"] in [
        line.split() for line in lines]
    assert "invalidate /*" in lines[-1] and "nothing sent" in lines[-1]


# ---------------------------------------------------------------- the stack


def test_the_stack_is_the_option_then_stack_then_samconfigs_environment(tmp_path):
    samconfig = tmp_path / "samconfig.toml"
    samconfig.write_text('version = 0.1\n[dev.deploy.parameters]\nstack_name = "enhancer-dev"\n'
                         '[staging.global.parameters]\nstack_name = "enhancer-staging"\n')

    assert deploy_web.stack_name("mine", {"STACK": "env"}, "dev", samconfig) == "mine"
    assert deploy_web.stack_name(None, {"STACK": "env"}, "dev", samconfig) == "env"
    assert deploy_web.stack_name(None, {}, "dev", samconfig) == "enhancer-dev"
    assert deploy_web.stack_name(None, {}, "staging", samconfig) == "enhancer-staging"
    with pytest.raises(DeployError, match=r"\[default\] has none"):
        deploy_web.stack_name(None, {}, "default", samconfig)


def test_the_repositorys_samconfig_names_a_stack_per_environment_and_none_by_default():
    for environment in ("dev", "staging", "prod"):
        assert deploy_web.stack_name(None, {}, environment) == f"enhancer-{environment}"
    # No stack name: refused before any AWS call.
    assert deploy_web.main(["--web-dir", str(deploy_web.WEB_ROOT)], environ={}) == 1


# ---------------------------------------------------------------- against moto


def _distribution(cloudfront, bucket: str) -> str:
    origin = {"Id": "web-bucket", "DomainName": f"{bucket}.s3.us-east-1.amazonaws.com",
              "S3OriginConfig": {"OriginAccessIdentity": ""}}
    created = cloudfront.create_distribution(DistributionConfig={
        "CallerReference": "test", "Comment": "", "Enabled": True, "Origins": {"Quantity": 1, "Items": [origin]},
        "DefaultCacheBehavior": {"TargetOriginId": "web-bucket", "ViewerProtocolPolicy": "redirect-to-https",
                                 "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"}})
    return str(created["Distribution"]["Id"])


@mock_aws
def test_publish_uploads_with_the_headers_deletes_what_is_gone_and_invalidates(site):
    s3, cloudfront = boto3.client("s3"), boto3.client("cloudfront")
    s3.create_bucket(Bucket="web")
    s3.put_object(Bucket="web", Key="old.js", Body=b"gone")
    s3.put_object(Bucket="web", Key="index.html", Body=b"old page")
    distribution = _distribution(cloudfront, "web")
    lines: list[str] = []

    invalidation = deploy_web.publish(plan(site), "web", distribution, s3, cloudfront, report=lines.append)

    keys = sorted(item["Key"] for item in s3.list_objects_v2(Bucket="web")["Contents"])
    assert keys == sorted(upload.key for upload in plan(site))
    page = s3.get_object(Bucket="web", Key="index.html")
    assert page["Body"].read() == b"<!doctype html>"
    assert page["ContentType"] == "text/html; charset=utf-8" and page["CacheControl"] == "no-cache"
    script = s3.head_object(Bucket="web", Key="js/main.js")
    assert script["ContentType"] == "text/javascript; charset=utf-8" and script["CacheControl"] == ASSET_CACHE
    batch = cloudfront.get_invalidation(DistributionId=distribution, Id=invalidation)["Invalidation"]
    assert batch["InvalidationBatch"]["Paths"] == {"Quantity": 1, "Items": ["/*"]}
    assert "delete  old.js" in lines and lines[-1].startswith("invalidate /*")


@mock_aws
def test_keep_stale_leaves_other_objects(site):
    s3, cloudfront = boto3.client("s3"), boto3.client("cloudfront")
    s3.create_bucket(Bucket="web")
    s3.put_object(Bucket="web", Key="old.js", Body=b"kept")

    deploy_web.publish([Upload(site / "index.html", "index.html", "text/html; charset=utf-8", HTML_CACHE)], "web",
                       _distribution(cloudfront, "web"), s3, cloudfront, delete_stale=False, report=lambda _: None)

    assert sorted(item["Key"] for item in s3.list_objects_v2(Bucket="web")["Contents"]) == ["index.html", "old.js"]


@mock_aws
def test_main_finds_the_bucket_and_distribution_in_the_stacks_outputs(site):
    cloudfront = boto3.client("cloudfront")
    distribution = _distribution(cloudfront, "web")
    template = {"Resources": {"WebBucket": {"Type": "AWS::S3::Bucket"}},
                "Outputs": {"WebBucketName": {"Value": {"Ref": "WebBucket"}},
                            "WebDistributionId": {"Value": distribution}}}
    boto3.client("cloudformation").create_stack(StackName="enhancer-test", TemplateBody=json.dumps(template))

    assert deploy_web.main(["--stack", "enhancer-test", "--web-dir", str(site)], environ={}) == 0

    bucket, found = deploy_web.stack_targets(boto3.client("cloudformation"), "enhancer-test")
    assert found == distribution
    assert "index.html" in {item["Key"] for item in boto3.client("s3").list_objects_v2(Bucket=bucket)["Contents"]}
    assert cloudfront.list_invalidations(DistributionId=distribution)["InvalidationList"]["Quantity"] == 1


@mock_aws
def test_a_stack_without_the_distribution_is_refused_with_what_to_do(site, capsys):
    template = {"Resources": {"B": {"Type": "AWS::S3::Bucket"}}, "Outputs": {"BucketName": {"Value": {"Ref": "B"}}}}
    boto3.client("cloudformation").create_stack(StackName="no-web", TemplateBody=json.dumps(template))

    assert deploy_web.main(["--stack", "no-web", "--web-dir", str(site)], environ={}) == 1
    assert "WebDistribution=true" in capsys.readouterr().err


@mock_aws
def test_an_unknown_stack_is_reported_not_raised(site, capsys):
    assert deploy_web.main(["--stack", "nowhere", "--web-dir", str(site)], environ={}) == 1
    assert "AWS refused" in capsys.readouterr().err
