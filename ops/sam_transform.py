"""template.yaml as CloudFormation receives it: the SAM transform run offline (code locations replaced by an S3
placeholder; no AWS call), written as JSON for `cfn-lint`. Linting the SAM template alone misses what only the
generated resources show — a dependency cycle through the HTTP API's generated routes above all, which
CloudFormation refuses at deploy.

Run by `make lint-template` with the tools environment's Python (it has samtranslator):
    .venv-tools/bin/python ops/sam_transform.py template.yaml .aws-sam/transformed.json
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from unittest import mock


def main(source: str, target: str) -> int:
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # the pseudo parameters need a region, not AWS
    template = yaml_parse(Path(source).read_text())
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for name in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(properties.get(name), str):
                properties[name] = "s3://placeholder-bucket/placeholder-key"
    # No managed policy is named by ARN lookup here, so the loader is never asked for one.
    transformed = transform(template, {}, mock.Mock(load=lambda: {}, get=lambda *_: None))
    _drop_consumed_parameters(transformed)
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    Path(target).write_text(json.dumps(transformed, indent=1))
    return 0


def _drop_consumed_parameters(transformed: dict) -> None:
    """The transform resolves some parameters into what it generates (DeploymentPreference's Type becomes the
    deployment group's config name), from the values a deploy passes — here their defaults. Such a parameter
    is used, though nothing in the output names it any more; cfn-lint of template.yaml still sees its use."""
    text = json.dumps(transformed["Resources"]) + json.dumps(transformed.get("Outputs", {})) \
        + json.dumps(transformed.get("Conditions", {})) + json.dumps(transformed.get("Rules", {}))
    for name in list(transformed.get("Parameters", {})):
        if f'"Ref": "{name}"' not in text and "${" + name + "}" not in text:
            del transformed["Parameters"][name]


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
