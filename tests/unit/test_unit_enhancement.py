"""One enhancement's options (README "Enhancing an image", docs/architecture.md §4 and §6): parsed and
range-checked against the model, checked against the plan, and priced in tenths of a credit."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pytest

from enhancer.domain.enhancement import EnhanceOptions, check_entitlements, cost_tenths, parse_options
from enhancer.domain.errors import Forbidden, ValidationFailed
from enhancer.domain.models import ALL_OPTION_NAMES, MODELS, ModelSpec, find_model
from enhancer.domain.plans import GUEST_ENTITLEMENTS, PLAN_ENTITLEMENTS, Entitlements, Plan
from enhancer.http.envelope import http_status

# A value each option would accept on a model that takes it.
VALID_VALUE: dict[str, object] = {
    "scale": "2", "face_enhance": "false", "fidelity": "0.5", "prompt": "restore", "negative_prompt": "blur",
    "strength": "0.5", "guidance": "5", "steps": "20",
}

# (model, option, lowest, highest, just below, just above) — the ranges in the README table.
NUMBER_RANGES = [
    ("codeformer", "fidelity", 0, 1, -0.01, 1.01),
    ("sdxl-img2img", "strength", 0, 1, -0.001, 1.001),
    ("sdxl-img2img", "guidance", 1, 12, 0.99, 12.01),
    ("sdxl-img2img", "steps", 1, 60, 0, 61),
]
NUMBER_OPTIONS = [("real-esrgan", "scale"), *((slug, name) for slug, name, *_ in NUMBER_RANGES)]
TEXT_OPTIONS = ["prompt", "negative_prompt"]


def model(slug: str) -> ModelSpec:
    found = find_model(slug)
    assert found is not None
    return found


def refusal(slug: str, fields: Mapping[str, object]) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        parse_options(model(slug), fields)
    return caught.value


def forbidden(options: EnhanceOptions, entitlements: Entitlements) -> Forbidden:
    with pytest.raises(Forbidden) as caught:
        check_entitlements(options, entitlements)
    return caught.value


# --- parse_options: absent, blank and unknown fields ----------------------------------------------------------

@pytest.mark.parametrize("spec", MODELS, ids=lambda m: m.slug)
def test_no_fields_give_no_options(spec: ModelSpec) -> None:
    options = parse_options(spec, {})

    assert options == EnhanceOptions()
    assert options.as_dict() == {}


@pytest.mark.parametrize("blank", ["", " ", "   ", "\t", "\n", " \r\n ", None])
@pytest.mark.parametrize("spec", MODELS, ids=lambda m: m.slug)
def test_blank_values_count_as_absent_even_for_options_the_model_does_not_take(spec: ModelSpec,
                                                                                blank: str | None) -> None:
    assert parse_options(spec, dict.fromkeys(ALL_OPTION_NAMES, blank)) == EnhanceOptions()


def test_fields_that_are_not_options_are_ignored() -> None:
    fields = {"model": "real-esrgan", "uploadKey": "k", "image": b"\x89PNG", "scale_factor": "9", "Scale": "9"}

    assert parse_options(model("real-esrgan"), fields) == EnhanceOptions()


@pytest.mark.parametrize("spec", MODELS, ids=lambda m: m.slug)
def test_each_models_defaults_are_accepted_as_values(spec: ModelSpec) -> None:
    options = parse_options(spec, {o.name: o.default for o in spec.options})

    assert options.as_dict() == {o.name: o.default for o in spec.options}


def test_absent_options_stay_absent_rather_than_taking_the_default() -> None:
    options = parse_options(model("sdxl-img2img"), {"steps": "30"})

    assert options.as_dict() == {"steps": 30}
    assert options.prompt is None
    assert options.strength is None


def test_as_dict_keeps_an_explicit_false_and_the_parsed_values() -> None:
    options = parse_options(model("real-esrgan"), {"scale": " 4 ", "face_enhance": "no"})

    assert options.as_dict() == {"scale": 4, "face_enhance": False}


# --- parse_options: options a model does not take --------------------------------------------------------------

UNSUPPORTED = [(m.slug, name) for m in MODELS for name in ALL_OPTION_NAMES if m.option(name) is None]


@pytest.mark.parametrize("slug, name", UNSUPPORTED, ids=[f"{s}-{n}" for s, n in UNSUPPORTED])
def test_an_option_the_model_does_not_take_is_refused_by_name(slug: str, name: str) -> None:
    error = refusal(slug, {name: VALID_VALUE[name]})

    assert http_status(error) == 400
    assert error.type == "validation_error"
    assert error.details == {"field": name}
    assert name in error.message
    assert slug in error.message


@pytest.mark.parametrize("slug", ["gfpgan", "codeformer", "topaz-upscale", "sdxl-img2img"])
def test_face_enhance_false_is_refused_too_on_models_without_face_restoration(slug: str) -> None:
    assert refusal(slug, {"face_enhance": False}).details == {"field": "face_enhance"}


def test_every_option_is_taken_by_some_model() -> None:
    assert set(ALL_OPTION_NAMES) == {o.name for m in MODELS for o in m.options}
    assert [name for _, name in UNSUPPORTED if name not in VALID_VALUE] == []


# --- parse_options: scale ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("2", 2), ("4", 4), (2, 2), (4, 4), (2.0, 2), ("4.0", 4), (" 4 ", 4), ("\t2\n", 2),
])
def test_scale_takes_2_or_4(raw: object, expected: int) -> None:
    scale = parse_options(model("real-esrgan"), {"scale": raw}).scale

    assert scale == expected
    assert type(scale) is int


@pytest.mark.parametrize("raw", ["1", "3", "6", "8", "0", "-2", "-4", 1, 3, 6, 8, 0, 16, 10**20])
def test_scale_other_than_2_or_4_is_refused(raw: object) -> None:
    error = refusal("real-esrgan", {"scale": raw})

    assert error.details == {"field": "scale"}
    assert "2 or 4" in error.message


@pytest.mark.parametrize("raw", ["2.5", 3.5, "4.1", 2.000001])
def test_fractional_scale_is_refused_as_not_whole(raw: object) -> None:
    error = refusal("real-esrgan", {"scale": raw})

    assert error.details == {"field": "scale"}
    assert "whole number" in error.message


# --- parse_options: number ranges -------------------------------------------------------------------------------

@pytest.mark.parametrize("slug, name, low, high, below, above", NUMBER_RANGES, ids=[r[1] for r in NUMBER_RANGES])
def test_both_ends_of_a_range_are_accepted(slug: str, name: str, low: float, high: float, below: float,
                                           above: float) -> None:
    for raw, expected in ((low, low), (high, high), (str(low), low), (str(high), high), (f" {high} ", high)):
        assert getattr(parse_options(model(slug), {name: raw}), name) == expected, raw


@pytest.mark.parametrize("slug, name, low, high, below, above", NUMBER_RANGES, ids=[r[1] for r in NUMBER_RANGES])
def test_just_outside_a_range_is_refused_naming_the_field(slug: str, name: str, low: float, high: float,
                                                          below: float, above: float) -> None:
    for raw in (below, above, str(below), str(above), low - 1000, high + 1000, 1e300, -1e300):
        error = refusal(slug, {name: raw})
        assert error.details == {"field": name}, raw
        assert "between" in error.message
        assert f"{low:g}" in error.message and f"{high:g}" in error.message


@pytest.mark.parametrize("slug, name, low, high, below, above", NUMBER_RANGES, ids=[r[1] for r in NUMBER_RANGES])
def test_a_value_inside_a_range_is_accepted(slug: str, name: str, low: float, high: float, below: float,
                                            above: float) -> None:
    middle = (low + high) // 2 if name == "steps" else (low + high) / 2

    assert getattr(parse_options(model(slug), {name: str(middle)}), name) == middle


@pytest.mark.parametrize("name, raw, expected", [
    ("strength", "0.25", 0.25), ("strength", ".5", 0.5), ("strength", "1e-1", 0.1), ("guidance", "7.5", 7.5),
    ("guidance", 3, 3.0), ("steps", "30", 30), ("steps", 30.0, 30), ("steps", "  45 ", 45),
])
def test_numbers_parse_from_text_and_json_numbers(name: str, raw: object, expected: float) -> None:
    assert getattr(parse_options(model("sdxl-img2img"), {name: raw}), name) == expected


def test_float_options_come_back_as_float_and_steps_as_int() -> None:
    options = parse_options(model("sdxl-img2img"), {"strength": 1, "guidance": "12", "steps": "60.0"})

    assert type(options.strength) is float
    assert type(options.guidance) is float
    assert type(options.steps) is int
    assert type(parse_options(model("codeformer"), {"fidelity": 0}).fidelity) is float


@pytest.mark.parametrize("raw", ["1.5", 20.5, "59.99"])
def test_fractional_steps_are_refused_as_not_whole(raw: object) -> None:
    error = refusal("sdxl-img2img", {"steps": raw})

    assert error.details == {"field": "steps"}
    assert "whole number" in error.message


# --- parse_options: numbers of the wrong type -------------------------------------------------------------------

NOT_NUMBERS = [
    True, False, [], [2], ["2"], {}, {"value": 2}, (2,), {2}, b"2", object(),
    "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "-Infinity", "1e400", "-1e400",
    math.nan, math.inf, -math.inf, 10**400, -(10**400),
    "abc", "2x", "x2", "2 4", "0x2", "2,5", "true", "four",
]


@pytest.mark.parametrize("raw", NOT_NUMBERS, ids=repr)
@pytest.mark.parametrize("slug, name", NUMBER_OPTIONS, ids=[n for _, n in NUMBER_OPTIONS])
def test_anything_but_a_finite_number_is_refused_naming_the_field(slug: str, name: str, raw: object) -> None:
    error = refusal(slug, {name: raw})

    assert http_status(error) == 400
    assert error.details == {"field": name}
    assert "must be a number" in error.message


# --- parse_options: face_enhance --------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    (True, True), ("true", True), ("TRUE", True), ("True", True), ("1", True), ("on", True), ("yes", True),
    (" Yes ", True), (False, False), ("false", False), ("FALSE", False), ("0", False), ("off", False),
    ("no", False), ("\tNo\n", False),
])
def test_face_enhance_takes_booleans_and_boolean_words(raw: object, expected: bool) -> None:
    assert parse_options(model("real-esrgan"), {"face_enhance": raw}).face_enhance is expected


@pytest.mark.parametrize("raw", ["maybe", "2", "t", "f", "y", "n", "truee", "null", "none", 2, 0.5, [], [True],
                                 {}, {"value": True}, math.nan], ids=repr)
def test_face_enhance_other_values_are_refused_naming_the_field(raw: object) -> None:
    error = refusal("real-esrgan", {"face_enhance": raw})

    assert error.details == {"field": "face_enhance"}
    assert "true or false" in error.message


# --- parse_options: text ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", TEXT_OPTIONS)
def test_text_of_exactly_the_limit_is_accepted_and_one_more_is_refused(name: str) -> None:
    limit = model("sdxl-img2img").option(name).max_length  # type: ignore[union-attr]
    assert limit == 500

    assert getattr(parse_options(model("sdxl-img2img"), {name: "a" * limit}), name) == "a" * limit
    error = refusal("sdxl-img2img", {name: "a" * (limit + 1)})
    assert error.details == {"field": name}
    assert "500" in error.message


@pytest.mark.parametrize("name", TEXT_OPTIONS)
def test_text_limit_counts_characters_not_bytes(name: str) -> None:
    assert getattr(parse_options(model("sdxl-img2img"), {name: "é" * 500}), name) == "é" * 500
    assert getattr(parse_options(model("sdxl-img2img"), {name: "📷" * 500}), name) == "📷" * 500
    assert refusal("sdxl-img2img", {name: "📷" * 501}).details == {"field": name}


@pytest.mark.parametrize("text", [
    "a portrait", "café crème, naïve façade", "Ελληνικά και русский", "古い写真を復元する", "مرحبا بالعالم",
    "📷✨ sharp", "👩‍👩‍👧 family", "e\u0301", "line one\nline two", "tab\tseparated", "windows\r\nline",
    "  kept as given  ", "¡¿ quotes “like” these ‘too’ — and… ©®™", "\u00a0non-breaking",
])
@pytest.mark.parametrize("name", TEXT_OPTIONS)
def test_ordinary_unicode_text_is_accepted_unchanged(name: str, text: str) -> None:
    assert getattr(parse_options(model("sdxl-img2img"), {name: text}), name) == text


@pytest.mark.parametrize("text", [
    "a\ud800b", "\udfff", "tail\udc00", "\ud83d\ude00",  # lone surrogates (a pair not combined is two lone ones)
    "a\x00b", "\x00", "bell\x07", "esc\x1b[31m", "back\x08space", "form\x0cfeed", "vertical\x0btab", "unit\x1fsep",
])
@pytest.mark.parametrize("name", TEXT_OPTIONS)
def test_text_with_a_lone_surrogate_or_a_control_character_is_refused(name: str, text: str) -> None:
    error = refusal("sdxl-img2img", {name: text})

    assert http_status(error) == 400
    assert error.details == {"field": name}


@pytest.mark.parametrize("text", ["del\x7f", "csi\x9b31m", "c1\x80"])
@pytest.mark.parametrize("name", TEXT_OPTIONS)
def test_text_with_a_delete_or_c1_control_character_is_refused(name: str, text: str) -> None:
    # U+007F and U+0080–U+009F are control characters (Unicode category Cc) just like U+0000–U+001F.
    assert refusal("sdxl-img2img", {name: text}).details == {"field": name}


@pytest.mark.parametrize("raw", [5, 0.5, True, ["a prompt"], {"text": "a"}, b"bytes"], ids=repr)
@pytest.mark.parametrize("name", TEXT_OPTIONS)
def test_text_options_refuse_anything_but_a_string(name: str, raw: object) -> None:
    error = refusal("sdxl-img2img", {name: raw})

    assert error.details == {"field": name}
    assert "must be text" in error.message


def test_the_first_bad_option_is_named_when_several_are_wrong() -> None:
    error = refusal("sdxl-img2img", {"strength": "2", "prompt": 5})

    assert error.details is not None
    assert error.details["field"] in {"strength", "prompt"}


# --- check_entitlements -----------------------------------------------------------------------------------------

# (owner, entitlements, scale 4 allowed, face_enhance allowed) — docs/architecture.md §4.
PLAN_CAPABILITIES = [
    ("guest", GUEST_ENTITLEMENTS, False, False),
    ("free", PLAN_ENTITLEMENTS[Plan.FREE], False, False),
    ("pro", PLAN_ENTITLEMENTS[Plan.PRO], True, True),
    ("premium", PLAN_ENTITLEMENTS[Plan.PREMIUM], True, True),
    ("enterprise", PLAN_ENTITLEMENTS[Plan.ENTERPRISE], True, True),
]
PLAN_IDS = [row[0] for row in PLAN_CAPABILITIES]


@pytest.mark.parametrize("owner, entitlements, scale_4, face", PLAN_CAPABILITIES, ids=PLAN_IDS)
def test_every_plan_allows_no_options_scale_2_and_face_enhance_false(owner: str, entitlements: Entitlements,
                                                                     scale_4: bool, face: bool) -> None:
    for options in (EnhanceOptions(), EnhanceOptions(scale=2), EnhanceOptions(face_enhance=False),
                    EnhanceOptions(scale=2, face_enhance=False)):
        check_entitlements(options, entitlements)


@pytest.mark.parametrize("owner, entitlements, scale_4, face", PLAN_CAPABILITIES, ids=PLAN_IDS)
def test_scale_4_only_on_plans_whose_max_upscale_reaches_it(owner: str, entitlements: Entitlements,
                                                            scale_4: bool, face: bool) -> None:
    options = EnhanceOptions(scale=4)
    if scale_4:
        check_entitlements(options, entitlements)
        return
    error = forbidden(options, entitlements)
    assert http_status(error) == 403
    assert error.type == "forbidden"
    assert error.details == {"field": "scale", "maxUpscale": entitlements.max_upscale}
    assert "scale" in error.message


@pytest.mark.parametrize("owner, entitlements, scale_4, face", PLAN_CAPABILITIES, ids=PLAN_IDS)
def test_face_enhance_only_on_plans_with_face_restoration(owner: str, entitlements: Entitlements,
                                                          scale_4: bool, face: bool) -> None:
    options = EnhanceOptions(face_enhance=True)
    if face:
        check_entitlements(options, entitlements)
        return
    error = forbidden(options, entitlements)
    assert http_status(error) == 403
    assert error.details == {"field": "face_enhance"}
    assert "face_enhance" in error.message


@pytest.mark.parametrize("owner, entitlements, scale_4, face", PLAN_CAPABILITIES, ids=PLAN_IDS)
def test_scale_4_with_faces_passes_only_where_both_are_allowed(owner: str, entitlements: Entitlements,
                                                               scale_4: bool, face: bool) -> None:
    options = EnhanceOptions(scale=4, face_enhance=True)
    if scale_4 and face:
        check_entitlements(options, entitlements)
    else:
        assert forbidden(options, entitlements).details is not None


@pytest.mark.parametrize("max_upscale, scale, allowed", [(3, 4, False), (4, 4, True), (2, 2, True), (1, 2, False)])
def test_scale_is_compared_with_max_upscale_inclusively(max_upscale: int, scale: int, allowed: bool) -> None:
    entitlements = Entitlements(monthly_images=1, daily_burst_cap=1, max_upscale=max_upscale, face_enhance=False)
    if allowed:
        check_entitlements(EnhanceOptions(scale=scale), entitlements)
    else:
        assert forbidden(EnhanceOptions(scale=scale), entitlements).details == {
            "field": "scale", "maxUpscale": max_upscale}


def test_parsed_options_of_a_guest_asking_for_x4_are_refused_by_the_plan() -> None:
    options = parse_options(model("real-esrgan"), {"scale": "4", "face_enhance": "false"})

    assert forbidden(options, GUEST_ENTITLEMENTS).details == {"field": "scale", "maxUpscale": 2}


# --- cost_tenths ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("options, tenths", [
    (EnhanceOptions(), 10),
    (EnhanceOptions(scale=2), 10),
    (EnhanceOptions(face_enhance=False), 10),
    (EnhanceOptions(scale=2, face_enhance=False), 10),
    (EnhanceOptions(scale=4), 20),
    (EnhanceOptions(face_enhance=True), 15),
    (EnhanceOptions(scale=2, face_enhance=True), 15),
    (EnhanceOptions(scale=4, face_enhance=False), 20),
    (EnhanceOptions(scale=4, face_enhance=True), 25),
])
def test_cost_in_tenths(options: EnhanceOptions, tenths: int) -> None:
    cost = cost_tenths(options)

    assert cost == tenths
    assert type(cost) is int


def test_scale_4_costs_one_credit_more() -> None:
    assert cost_tenths(EnhanceOptions(scale=4)) - cost_tenths(EnhanceOptions(scale=2)) == 10


def test_face_enhance_costs_half_a_credit_more() -> None:
    assert cost_tenths(EnhanceOptions(face_enhance=True)) - cost_tenths(EnhanceOptions(face_enhance=False)) == 5


@pytest.mark.parametrize("spec", MODELS, ids=lambda m: m.slug)
def test_every_model_costs_one_credit_without_options_and_at_its_defaults(spec: ModelSpec) -> None:
    assert cost_tenths(parse_options(spec, {})) == 10
    assert cost_tenths(parse_options(spec, {o.name: o.default for o in spec.options})) == 10


def test_options_other_than_scale_and_faces_do_not_change_the_cost() -> None:
    options = parse_options(model("sdxl-img2img"), {"prompt": "x" * 500, "negative_prompt": "y", "strength": "1",
                                                    "guidance": "12", "steps": "60"})
    assert cost_tenths(options) == 10
    assert cost_tenths(parse_options(model("codeformer"), {"fidelity": "1"})) == 10


@pytest.mark.parametrize("fields, tenths", [
    ({"scale": "4", "face_enhance": "true"}, 25), ({"scale": "4"}, 20), ({"face_enhance": "yes"}, 15),
    ({"scale": "2", "face_enhance": "off"}, 10),
])
def test_real_esrgan_cost_from_request_fields(fields: dict[str, str], tenths: int) -> None:
    assert cost_tenths(parse_options(model("real-esrgan"), fields)) == tenths
