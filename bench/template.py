"""The functions of template.yaml (logical id, code directory, handler), read without the SAM CLI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class _CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that turns the short intrinsic tags (!Ref, !Sub, !GetAtt …) into their long form."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str  # "module.attribute", as the runtime resolves it from the code directory

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]


def functions(template_path: Path) -> list[FunctionSpec]:
    """Every zip-packaged AWS::Serverless::Function, with Globals.Function applied, in template order."""
    template = load_template(template_path)
    defaults = (template.get("Globals") or {}).get("Function") or {}
    specs = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = {**defaults, **(resource.get("Properties") or {})}
        code_uri, handler = properties.get("CodeUri"), properties.get("Handler")
        if properties.get("PackageType") == "Image" or not isinstance(code_uri, str) or not handler:
            continue
        specs.append(FunctionSpec(logical_id, (template_path.parent / code_uri).resolve(), handler))
    return specs
