"""The result's format (README "Output format"): `outputFormat` and `quality` parsed on every model, refused by
field name when invalid, and the pure choice of the format — the input's kind when none is asked for."""

from __future__ import annotations

import pytest

from enhancer.domain.enhancement import EnhanceOptions, parse_options
from enhancer.domain.errors import ValidationFailed
from enhancer.domain.models import MODELS, ModelSpec, find_model
from enhancer.domain.output_format import (
    DEFAULT_QUALITY,
    OutputFormat,
    choose_output,
    default_format,
    parse_output_format,
    parse_quality,
)
from enhancer.http.envelope import http_status


def esrgan() -> ModelSpec:
    found = find_model("real-esrgan")
    assert found is not None
    return found


def refused(fields: dict[str, object]) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        parse_options(esrgan(), fields)
    return caught.value


# --- parsing ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "name"), [("png", "png"), ("jpeg", "jpeg"), ("webp", "webp"), ("WEBP", "webp"),
                                           (" Jpeg ", "jpeg"), ("jpg", "jpeg"), ("JPG", "jpeg"), ("", None),
                                           ("  ", None), (None, None)])
def test_output_format_names_parse_in_any_case_and_blank_is_absent(raw: object, name: str | None) -> None:
    assert parse_output_format(raw) == name


@pytest.mark.parametrize("raw", ["gif", "jpe", "image/png", "png ; x", "tiff", 1, True, ["png"], {"f": "png"}])
def test_other_output_formats_are_refused_naming_the_field(raw: object) -> None:
    error = refused({"outputFormat": raw})

    assert error.details == {"field": "outputFormat"} and http_status(error) == 400
    assert "png, jpeg or webp" in error.message


@pytest.mark.parametrize(("raw", "quality"), [("1", 1), ("100", 100), (" 85 ", 85), (85, 85), (85.0, 85),
                                              ("90.0", 90), ("", None), (None, None)])
def test_quality_is_a_whole_number_from_1_to_100_as_text_or_json(raw: object, quality: int | None) -> None:
    assert parse_quality(raw) == quality


@pytest.mark.parametrize("raw", ["0", "101", "-5", "85.5", 0, 101, 12.5, "high", "nan", "inf", "1e400", True,
                                 False, [90], {"q": 90}])
def test_other_qualities_are_refused_naming_the_field(raw: object) -> None:
    error = refused({"quality": raw})

    assert error.details == {"field": "quality"} and http_status(error) == 400
    assert "1 to 100" in error.message


@pytest.mark.parametrize("spec", MODELS, ids=lambda m: m.slug)
def test_every_model_takes_the_format_and_quality(spec: ModelSpec) -> None:
    options = parse_options(spec, {"outputFormat": "webp", "quality": "70"})

    assert (options.output_format, options.quality) == ("webp", 70)
    assert options.as_dict() == {"output_format": "webp", "quality": 70}


def test_the_snake_case_names_are_not_request_fields() -> None:
    """The request speaks `outputFormat`; the option's own name only travels inside a job's stored options."""
    assert parse_options(esrgan(), {"output_format": "webp"}) == EnhanceOptions()


def test_a_model_option_is_checked_before_the_format() -> None:
    assert refused({"scale": "3", "outputFormat": "gif"}).details == {"field": "scale"}


# --- the choice -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("content_type", "name"), [("image/jpeg", "jpeg"), ("image/png", "png"),
                                                    ("image/webp", "webp"), ("image/gif", "png"),
                                                    ("image/tiff", "png"), (None, "png"), ("", "png")])
def test_without_a_format_the_result_takes_the_inputs_kind_and_anything_else_is_png(content_type: str | None,
                                                                                    name: str) -> None:
    assert default_format(content_type) == name
    assert choose_output(None, None, content_type).name == name


def test_a_jpeg_photo_comes_back_as_a_jpeg_at_the_default_quality() -> None:
    chosen = choose_output(None, None, "image/jpeg")

    assert chosen == OutputFormat("jpeg", DEFAULT_QUALITY)
    assert (chosen.content_type, chosen.extension, chosen.keeps_alpha) == ("image/jpeg", "jpg", False)


def test_the_format_asked_for_wins_over_the_inputs_kind() -> None:
    chosen = choose_output("webp", 60, "image/jpeg")

    assert chosen == OutputFormat("webp", 60)
    assert (chosen.content_type, chosen.extension, chosen.keeps_alpha) == ("image/webp", "webp", True)


@pytest.mark.parametrize("requested", ["png", None])
def test_png_is_lossless_so_a_quality_sent_with_it_is_ignored(requested: str | None) -> None:
    chosen = choose_output(requested, 40, "image/png")

    assert chosen == OutputFormat("png", None)
    assert (chosen.content_type, chosen.extension, chosen.keeps_alpha) == ("image/png", "png", True)


def test_the_decision_is_kept_with_the_options_so_a_job_carries_it() -> None:
    options = parse_options(esrgan(), {"scale": "4", "quality": "75"})
    decided = options.with_output(options.output("image/jpeg"))

    assert decided.as_dict() == {"scale": 4, "output_format": "jpeg", "quality": 75}
    # What a job row gives back decides the same, whatever the stored input's type says.
    restored = EnhanceOptions(**decided.as_dict())
    assert restored.output("image/png") == OutputFormat("jpeg", 75)


def test_a_png_decision_keeps_no_quality() -> None:
    options = parse_options(esrgan(), {"quality": "75"})

    assert options.with_output(options.output("image/png")).as_dict() == {"output_format": "png"}
