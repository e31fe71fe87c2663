"""One set of pins: pyproject.toml, the dev lock and the core layer's requirements agree; and the layer `sam build`
makes runs on the template's Lambda runtime (Python 3.11, glibc 2.26, arm64)."""

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


# --- the built layer (`make build`, which `make test` runs before pytest) -------------------------------------------

LAYER_BUILD = ROOT / ".aws-sam" / "build" / "CoreLayer" / "python"
# Lambda's python3.11 runtime: CPython 3.11 on Amazon Linux 2, glibc 2.26; the template's architecture.
GLIBC = (2, 26)
_MANYLINUX = re.compile(r"^manylinux(?:2014|_(\d+)_(\d+))_(\w+)$")
EM_AARCH64, EM_X86_64 = 183, 62  # ELF e_machine


def _architecture() -> str:
    from local.template import load_template

    [architecture] = load_template()["Globals"]["Function"]["Architectures"]
    return {"arm64": "aarch64", "x86_64": "x86_64"}[architecture]


def _runs_on_lambda(tag: str, machine: str) -> bool:
    python, abi, platform = tag.split("-")
    if platform == "any":
        return python.startswith("py3") or python == "py2.py3" or python.startswith("py2")
    match = _MANYLINUX.match(platform)
    if not match or match.group(3) != machine or python not in ("cp311", "cp3", "py3"):
        return False
    glibc = (int(match.group(1)), int(match.group(2))) if match.group(1) else (2, 17)
    return glibc <= GLIBC and abi in ("cp311", "abi3", "none")


def _built_layer():
    import pytest

    if not LAYER_BUILD.is_dir():
        pytest.fail("the layer is not built: run `make build` (make test does, before pytest)")
    return LAYER_BUILD


def test_every_wheel_in_the_built_layer_runs_on_the_templates_lambda_runtime():
    machine = _architecture()
    wheels = sorted(_built_layer().glob("*.dist-info/WHEEL"))

    assert len(wheels) >= 30, wheels  # the whole layer, not a stray folder
    for wheel in wheels:
        tags = [line.split(":", 1)[1].strip() for line in wheel.read_text().splitlines() if line.startswith("Tag:")]
        assert any(_runs_on_lambda(tag, machine) for tag in tags), f"{wheel.parent.name}: {tags}"


def test_every_native_library_in_the_built_layer_is_for_the_templates_architecture():
    machine = _architecture()
    expected = {"aarch64": EM_AARCH64, "x86_64": EM_X86_64}[machine]
    libraries = sorted(_built_layer().rglob("*.so*"))

    assert libraries, "no native library at all: pydantic-core, Pillow and cryptography ship some"
    for library in libraries:
        header = library.read_bytes()[:20]
        assert header[:4] == b"\x7fELF", library
        assert int.from_bytes(header[18:20], "little") == expected, f"{library.relative_to(LAYER_BUILD)}"
        assert "cpython-" not in library.name or "cpython-311" in library.name, library.name


def test_the_layer_and_the_functions_share_one_architecture():
    from local.template import load_template

    template = load_template()
    layer = template["Resources"]["CoreLayer"]
    architecture = template["Globals"]["Function"]["Architectures"]

    assert architecture == ["arm64"]  # Graviton: cheaper per GB-second (README: Deploy)
    assert layer["Properties"]["CompatibleArchitectures"] == architecture
    assert [layer["Metadata"]["BuildArchitecture"]] == architecture
    assert not [name for name, resource in template["Resources"].items()
                if resource["Type"] == "AWS::Serverless::Function"
                and resource["Properties"].get("Architectures", architecture) != architecture]
