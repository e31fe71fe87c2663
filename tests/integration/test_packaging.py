"""One set of pins: pyproject.toml, the dev lock and the core layer's requirements agree."""

from __future__ import annotations

import re
import tomllib

from local.template import ROOT

_PIN = re.compile(r"^([A-Za-z0-9_.\-]+(?:\[[a-z0-9,_\-]+\])?)==([^\s;]+)")


def _pins(path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = _PIN.match(line.strip())
        if match:
            pins[re.sub(r"\[.*\]", "", match.group(1)).lower().replace("_", "-")] = match.group(2)
    return pins


def test_every_dependency_is_pinned_exactly():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"].values()
    for requirement in [*project["dependencies"], *(r for extra in extras for r in extra)]:
        assert _PIN.match(requirement), f"not pinned exactly: {requirement}"


def test_the_layer_requirements_come_from_the_same_resolution_as_the_lock():
    lock = _pins(ROOT / "requirements" / "dev.lock")
    layer = _pins(ROOT / "layers" / "core" / "requirements.txt")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    assert layer, "the layer has no requirements"
    for name, version in layer.items():
        assert lock.get(name) == version, f"{name}: layer {version}, lock {lock.get(name)}"
    for requirement in project["dependencies"]:
        name, version = _PIN.match(requirement).groups()
        name = name.split("[", 1)[0]  # an extra's packages are pinned on their own lines
        assert layer.get(name.lower()) == version, f"runtime dependency {name} missing from the layer"
    assert "boto3" not in layer and "moto" not in layer  # the runtime provides boto3; moto is dev-only
