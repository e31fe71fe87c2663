"""The model registry (docs/architecture.md §6, README "Enhancing an image"): slugs, the old slugs as aliases,
pinned provider references and each model's options with their ranges."""

from __future__ import annotations

import json
import re

import pytest

from enhancer.domain.enhancement import OUTPUT_OPTION_NAMES, EnhanceOptions
from enhancer.domain.models import ALL_OPTION_NAMES, MODELS, ModelSpec, ReplicateRef, find_model

# slug -> the options the README table lists for it.
README_OPTIONS: dict[str, set[str]] = {
    "real-esrgan": {"scale", "face_enhance"},
    "gfpgan": set(),
    "codeformer": {"fidelity"},
    "topaz-upscale": set(),
    "sdxl-img2img": {"prompt", "negative_prompt", "strength", "guidance", "steps"},
}

# slug -> the start of its provider reference in the README table.
README_PROVIDER_REFS = {
    "real-esrgan": "nightmareai/real-esrgan:42fed1c4",
    "gfpgan": "tencentarc/gfpgan:0fbacf7a",
    "codeformer": "sczhou/codeformer:7de2ea26",
    "topaz-upscale": "topazlabs/image-upscale",
    "sdxl-img2img": "stability-ai/sdxl:39ed52f2",
}

# The old system's registry (reference §2) and the slug each entry now answers to.
OLD_SLUGS = {
    "nightmareai/real-esrgan:42fed1c4974146d4d2414e2be2c5277c7fcf05fcc3a73abf41610695738c1d7b": "real-esrgan",
    "nightmareai/real-esrgan:f0992969a94014d73864d08e6d9a39286868328e4263d9ce2da6fc4049d01a1a": "real-esrgan",
    "tencentarc/gfpgan:0fbacf7afc6c144e5be9767cff80f25aff23e52b0708f17e20f9879b2f21516c": "gfpgan",
    "topazlabs/image-upscale": "topaz-upscale",
    "@cf/runwayml/stable-diffusion-v1-5-img2img": "sdxl-img2img",
}

# (slug, option, minimum, maximum) — the ranges in the README table.
README_RANGES = [
    ("codeformer", "fidelity", 0, 1),
    ("sdxl-img2img", "strength", 0, 1),
    ("sdxl-img2img", "guidance", 1, 12),
    ("sdxl-img2img", "steps", 1, 60),
]

ALL_ALIASES = [(alias, m.slug) for m in MODELS for alias in m.aliases]


def model(slug: str) -> ModelSpec:
    found = find_model(slug)
    assert found is not None
    return found


# --- slugs and aliases ------------------------------------------------------------------------------------------

def test_the_registry_has_exactly_the_documented_slugs() -> None:
    assert sorted(m.slug for m in MODELS) == sorted(README_OPTIONS)


@pytest.mark.parametrize("slug", sorted(README_OPTIONS))
def test_every_slug_is_found_as_itself(slug: str) -> None:
    found = find_model(slug)

    assert found is not None
    assert found.slug == slug


@pytest.mark.parametrize("alias, slug", ALL_ALIASES, ids=[a for a, _ in ALL_ALIASES])
def test_every_alias_finds_its_model(alias: str, slug: str) -> None:
    assert model(alias).slug == slug
    assert model(alias) is model(slug)


@pytest.mark.parametrize("old, slug", OLD_SLUGS.items(), ids=list(OLD_SLUGS))
def test_the_old_systems_slugs_are_accepted(old: str, slug: str) -> None:
    assert model(old).slug == slug


def test_slugs_and_aliases_never_collide() -> None:
    names = [m.slug for m in MODELS] + [a for m in MODELS for a in m.aliases]

    assert len(names) == len(set(names))


@pytest.mark.parametrize("name", [" real-esrgan", "gfpgan ", "\tcodeformer\n", " topazlabs/image-upscale "])
def test_surrounding_whitespace_is_ignored(name: str) -> None:
    assert model(name).slug == model(name.strip()).slug


@pytest.mark.parametrize("name", [
    None, "", "   ", "Real-ESRGAN", "REAL-ESRGAN", "realesrgan", "real_esrgan", "esrgan", "sdxl", "stable-diffusion",
    "nightmareai/real-esrgan", "nightmareai/real-esrgan:latest", "nightmareai/real-esrgan:42fed1c4",
    "tencentarc/gfpgan", "sczhou/codeformer", "stability-ai/sdxl", "@cf/stabilityai/stable-diffusion-xl-base-1.0",
    "real-esrgan:42fed1c4974146d4d2414e2be2c5277c7fcf05fcc3a73abf41610695738c1d7b", "real-esrgan/", "../gfpgan",
    "gfpgan\x00", "codeformer,gfpgan",
])
def test_unknown_names_give_none(name: str | None) -> None:
    assert find_model(name) is None


# --- provider references ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("slug, ref", README_PROVIDER_REFS.items(), ids=list(README_PROVIDER_REFS))
def test_provider_reference_matches_the_readme(slug: str, ref: str) -> None:
    assert str(model(slug).replicate).startswith(ref)


@pytest.mark.parametrize("spec", [m for m in MODELS if m.slug != "topaz-upscale"], ids=lambda m: m.slug)
def test_community_models_are_pinned_to_a_full_version(spec: ModelSpec) -> None:
    assert spec.replicate.version is not None
    assert re.fullmatch(r"[0-9a-f]{64}", spec.replicate.version)


def test_the_official_topaz_model_has_no_version() -> None:
    assert model("topaz-upscale").replicate.version is None
    assert str(model("topaz-upscale").replicate) == "topazlabs/image-upscale"


def test_replicate_ref_text_is_owner_name_and_version() -> None:
    assert str(ReplicateRef("owner", "name", "abc")) == "owner/name:abc"
    assert str(ReplicateRef("owner", "name", None)) == "owner/name"


@pytest.mark.parametrize("spec", MODELS, ids=lambda m: m.slug)
def test_a_replicate_alias_names_the_same_model_as_the_reference(spec: ModelSpec) -> None:
    for alias in spec.aliases:
        if alias.startswith("@cf/"):  # the old Workers AI model, replaced by SDXL
            continue
        assert alias.split(":")[0] == f"{spec.replicate.owner}/{spec.replicate.name}"


# --- options ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("slug, names", README_OPTIONS.items(), ids=list(README_OPTIONS))
def test_each_model_takes_the_options_the_readme_lists(slug: str, names: set[str]) -> None:
    spec = model(slug)

    assert {o.name for o in spec.options} == names
    for name in ALL_OPTION_NAMES:
        assert (spec.option(name) is not None) is (name in names)


@pytest.mark.parametrize("spec", MODELS, ids=lambda m: m.slug)
def test_scale_and_face_support_follow_the_options(spec: ModelSpec) -> None:
    assert spec.supports_scale is (spec.slug == "real-esrgan")
    assert spec.supports_face_enhance is (spec.slug == "real-esrgan")


def test_option_names_are_unique_within_a_model() -> None:
    for spec in MODELS:
        names = [o.name for o in spec.options]
        assert len(names) == len(set(names)), spec.slug


def test_every_option_a_model_takes_is_one_the_request_parser_reads() -> None:
    assert {o.name for m in MODELS for o in m.options} <= set(ALL_OPTION_NAMES)
    # Beside the model options, the result's format, which every model takes (README "Output format").
    assert {*ALL_OPTION_NAMES, *OUTPUT_OPTION_NAMES} == set(EnhanceOptions.__dataclass_fields__)


def test_scale_is_2_or_4_and_defaults_to_2() -> None:
    scale = model("real-esrgan").option("scale")

    assert scale is not None
    assert scale.kind == "int"
    assert scale.choices == (2, 4)
    assert scale.default == 2


def test_face_enhance_is_a_boolean_off_by_default() -> None:
    face = model("real-esrgan").option("face_enhance")

    assert face is not None
    assert face.kind == "bool"
    assert face.default is False


@pytest.mark.parametrize("slug, name, minimum, maximum", README_RANGES, ids=[r[1] for r in README_RANGES])
def test_number_ranges_match_the_readme(slug: str, name: str, minimum: float, maximum: float) -> None:
    option = model(slug).option(name)

    assert option is not None
    assert option.kind == ("int" if name == "steps" else "float")
    assert (option.minimum, option.maximum) == (minimum, maximum)
    assert option.default is not None
    assert minimum <= option.default <= maximum  # type: ignore[operator]


@pytest.mark.parametrize("name", ["prompt", "negative_prompt"])
def test_prompts_are_text_of_at_most_500_characters_with_a_default(name: str) -> None:
    option = model("sdxl-img2img").option(name)

    assert option is not None
    assert option.kind == "text"
    assert option.max_length == 500
    assert isinstance(option.default, str)
    assert 0 < len(option.default) <= 500


# --- describe (GET /api/ai-image/models) ------------------------------------------------------------------------

@pytest.mark.parametrize("spec", MODELS, ids=lambda m: m.slug)
def test_describe_lists_slug_reference_support_options_and_aliases(spec: ModelSpec) -> None:
    described = spec.describe()

    assert described["slug"] == spec.slug
    assert described["label"] == spec.label and spec.label
    assert described["description"] == spec.description and spec.description
    assert described["provider"] == "replicate"
    assert described["providerRef"] == str(spec.replicate)
    assert described["supportsScale"] is spec.supports_scale
    assert described["supportsFaceEnhance"] is spec.supports_face_enhance
    assert described["options"] == {o.name: o.describe() for o in spec.options}
    assert described["aliases"] == list(spec.aliases)
    assert json.loads(json.dumps(described)) == described


def test_describe_scale_gives_its_choices_and_default() -> None:
    assert model("real-esrgan").option("scale").describe() == {  # type: ignore[union-attr]
        "type": "int", "choices": [2, 4], "default": 2}


def test_describe_keeps_a_false_default_and_a_zero_minimum() -> None:
    assert model("real-esrgan").option("face_enhance").describe() == {  # type: ignore[union-attr]
        "type": "bool", "default": False}
    fidelity = model("codeformer").option("fidelity").describe()  # type: ignore[union-attr]
    assert fidelity["min"] == 0
    assert fidelity["max"] == 1
    assert fidelity["type"] == "float"


@pytest.mark.parametrize("slug, name, minimum, maximum", README_RANGES, ids=[r[1] for r in README_RANGES])
def test_describe_gives_every_range(slug: str, name: str, minimum: float, maximum: float) -> None:
    described = model(slug).option(name).describe()  # type: ignore[union-attr]

    assert (described["min"], described["max"]) == (minimum, maximum)
    assert "choices" not in described


def test_describe_gives_the_text_limit() -> None:
    for name in ("prompt", "negative_prompt"):
        described = model("sdxl-img2img").option(name).describe()  # type: ignore[union-attr]
        assert described["type"] == "text"
        assert described["maxLength"] == 500
        assert "min" not in described and "max" not in described


def test_models_without_options_describe_none() -> None:
    for slug in ("gfpgan", "topaz-upscale"):
        assert model(slug).describe()["options"] == {}
