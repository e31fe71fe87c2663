"""Read template.yaml the way the local stack needs it: routes, the table and the bucket definitions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags turned into their long forms (`!Ref x` → {"Ref": x})."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


@cache
def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open() as handle:
        return yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass


@dataclass(frozen=True, slots=True)
class HttpRoute:
    function_id: str
    method: str  # upper case, or ANY
    path: str  # as in the template, or $default
    code_uri: Path
    handler: str  # module.attribute

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"


def http_routes(template: dict[str, Any] | None = None) -> list[HttpRoute]:
    template = template or load_template()
    globals_ = template.get("Globals", {}).get("Function", {})
    routes = []
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties", {})
        code_uri = ROOT / str(props.get("CodeUri", globals_.get("CodeUri", ".")))
        handler = str(props.get("Handler", globals_.get("Handler", "app.handler")))
        for event in props.get("Events", {}).values():
            if event.get("Type") != "HttpApi":
                continue
            event_props = event.get("Properties") or {}
            path = str(event_props.get("Path", "$default"))
            method = str(event_props.get("Method", "ANY")).upper()
            routes.append(HttpRoute(logical_id, "ANY" if method in ("*", "X-AMAZON-APIGATEWAY-ANY-METHOD") else method,
                                    path, code_uri, handler))
    return routes


PSEUDO_PARAMETERS = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::StackName": "enhancer-local"}


def parameter_values(template: dict[str, Any] | None = None,
                     parameters: dict[str, str] | None = None) -> dict[str, str]:
    """What `Ref` and `Sub` resolve to locally: each parameter's Default (or the value given in `parameters`)
    and the pseudo parameters."""
    template = template or load_template()
    values = {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}
    values.update(parameters or {})
    values.update(PSEUDO_PARAMETERS)
    return values


def resolve(node: Any, values: dict[str, str]) -> Any:
    """`node` with every `Ref` to a name in `values` and every string `Sub` of them resolved; other intrinsics
    (and names not in `values`) are left as they are."""
    return _resolve(node, values)


def resource_properties(logical_id: str, template: dict[str, Any] | None = None,
                        parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """A resource's Properties with `Ref` to parameters and `Sub` of parameters resolved."""
    template = template or load_template()
    return _resolve(template["Resources"][logical_id].get("Properties", {}), parameter_values(template, parameters))


def _resolve(node: Any, values: dict[str, str]) -> Any:
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in values:
            return values[node["Ref"]]
        if set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], str):
            return re.sub(r"\$\{([^}!]+)\}", lambda m: values.get(m.group(1), m.group(0)), node["Fn::Sub"])
        return {key: _resolve(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(item, values) for item in node]
    return node
