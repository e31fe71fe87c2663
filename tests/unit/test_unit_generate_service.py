"""The generate use case on in-memory fakes (tests/fakes.py): what happens in which order, and that every
failure after the reservation gives the charge back once and leaves nothing stored."""

from __future__ import annotations

import dataclasses
import struct
import zlib

import pytest

from enhancer.domain.errors import ProviderFailed, ProviderTimedOut, ServiceUnavailable, ValidationFailed
from enhancer.domain.identity import Identity, User
from enhancer.domain.plans import OwnerType, Plan
from enhancer.domain.quota import QuotaExceeded
from enhancer.services.generate import GenerateDeps, GenerateRequest, GuestBounds, generate
from tests.fakes import FakeConverter, FakeImageStore, FakeLedger, FakeProvider, Journal, header_checker

GUEST = Identity(owner_type=OwnerType.GUEST, owner_key="0123456789abcdef0123456789abcdef", user=None,
                 guest_key="0123456789abcdef0123456789abcdef")
USER = Identity(owner_type=OwnerType.USER, owner_key="user-1", user=User("user-1", "a@example.com", Plan.PRO),
                guest_key=None)


def png(width: int = 8, height: int = 8) -> bytes:
    """A valid RGB PNG built by hand (the unit tests load no Pillow)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"".join(bytes([x * 30 % 256, y * 30 % 256, 128]) for x in range(width))
                   for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


ORIGINAL, RESULT = png(8, 8), png(16, 16)


def setup(*, output: bytes = RESULT, error: BaseException | None = None, refuse=None, fail_puts=(),
          fail_deletes: bool = False, needs_source_url: bool = False, provider_unavailable: bool = False):
    journal = Journal()
    store = FakeImageStore(journal, fail_puts=fail_puts, fail_deletes=fail_deletes)
    ledger = FakeLedger(journal, refuse=refuse)
    provider = FakeProvider(journal, output=output, error=error, needs_source_url=needs_source_url)

    def provider_factory() -> FakeProvider:
        if provider_unavailable:
            raise ServiceUnavailable("Image enhancement is not configured")
        return provider

    deps = GenerateDeps(ledger=ledger, store=store, check_image=header_checker, provider=provider_factory,
                        max_pixels=1_000_000, guest_bounds=GuestBounds(per_ip_per_hour=20, per_day=100),
                        convert=FakeConverter(journal))
    return journal, store, ledger, provider, deps


def request(**fields) -> GenerateRequest:
    image = fields.pop("image", ORIGINAL)
    return GenerateRequest(model=fields.pop("model", "real-esrgan"), fields=fields, image=image,
                           client_ip="198.51.100.7")


def test_a_success_reserves_first_then_stores_runs_stores_and_settles():
    journal, store, ledger, provider, deps = setup()

    result = generate(request(), GUEST, deps, deadline=1e12)

    assert journal.names == ["ledger.reserve", "store.put", "provider.run", "store.put", "ledger.settle"]
    assert store.objects[result.original_key] == (ORIGINAL, "image/png")
    assert store.objects[result.result_key] == (RESULT, "image/png")
    assert result.original_key.startswith(f"ai-enhancer/uploads/guest/{GUEST.owner_key}/")
    assert result.result_key.startswith(f"ai-enhancer/results/guest/{GUEST.owner_key}/")
    assert ledger.settled == ledger.reserved and ledger.given_back == []
    assert provider.sources[0].url is None and provider.sources[0].width == 8


def test_a_provider_that_fetches_the_original_gets_a_presigned_url_of_the_stored_copy():
    _, _, _, provider, deps = setup(needs_source_url=True)

    result = generate(request(), GUEST, deps, deadline=1e12)

    assert provider.sources[0].url is not None and result.original_key in provider.sources[0].url


def test_a_guest_charge_takes_the_guest_caps_and_a_users_none():
    _, _, ledger, _, deps = setup()

    generate(request(), GUEST, deps, deadline=1e12)
    generate(request(), USER, deps, deadline=1e12)

    guest, user = ledger.reserved
    assert [cap.name for cap in guest.caps] == ["guestImagesIp", "guestImagesDay"]
    assert guest.caps[0].subject == "198.51.100.7" and guest.caps[0].limit == 20 and guest.caps[1].limit == 100
    assert user.caps == () and user.user_id == "user-1"


def test_the_cost_reserved_is_the_options_cost():
    _, _, ledger, _, deps = setup()

    generate(request(scale="4", face_enhance="true"), USER, deps, deadline=1e12)

    assert ledger.reserved[0].split.plan_tenths == 25


@pytest.mark.parametrize(("fields", "field"), [
    ({"model": ""}, "model"), ({"model": "no-such-model"}, "model"), ({"scale": "3"}, "scale"),
    ({"image": None}, "image"), ({"image": b"not an image"}, "image"),
])
def test_bad_input_is_refused_before_anything_is_charged_or_stored(fields, field):
    journal, store, _, _, deps = setup()

    with pytest.raises(ValidationFailed) as refused:
        generate(request(**fields), GUEST, deps, deadline=1e12)

    assert refused.value.details["field"] == field
    assert journal.names == [] and store.objects == {}


def test_an_unavailable_provider_is_found_before_the_charge():
    journal, _, _, _, deps = setup(provider_unavailable=True)

    with pytest.raises(ServiceUnavailable):
        generate(request(), GUEST, deps, deadline=1e12)

    assert journal.names == []


def test_a_quota_refusal_stores_nothing_and_gives_nothing_back():
    refusal = QuotaExceeded(scope="daily", used=3, limit=3, reset_at=2_000_000_000)
    journal, store, ledger, _, deps = setup(refuse=refusal)

    with pytest.raises(QuotaExceeded):
        generate(request(), GUEST, deps, deadline=1e12)

    assert journal.names == ["ledger.reserve"] and store.objects == {} and ledger.given_back == []


@pytest.mark.parametrize(("case", "kwargs", "raised", "runs"), [
    ("storing the original fails", {"fail_puts": (1,)}, OSError, False),
    ("the provider fails", {"error": ProviderFailed("upstream failed")}, ProviderFailed, True),
    ("the deadline passes", {"error": ProviderTimedOut()}, ProviderTimedOut, True),
    ("the provider returns no image", {"output": b"<html>"}, ProviderFailed, True),
    ("storing the result fails", {"fail_puts": (2,)}, OSError, True),
    ("the request is interrupted", {"error": KeyboardInterrupt()}, KeyboardInterrupt, True),
])
def test_every_failure_after_the_reservation_gives_it_back_once_and_leaves_nothing(case, kwargs, raised, runs):
    journal, store, ledger, _, deps = setup(**kwargs)

    with pytest.raises(raised):
        generate(request(), GUEST, deps, deadline=1e12)

    assert ledger.given_back == ledger.reserved and len(ledger.given_back) == 1, case
    assert ledger.settled == []
    assert store.objects == {}, case
    assert ("provider.run" in journal.names) is runs
    assert journal.names.index("ledger.give_back") > journal.names.index("ledger.reserve")


def test_a_clean_up_that_fails_does_not_hide_the_original_error():
    _, store, ledger, _, deps = setup(error=ProviderFailed("upstream failed"), fail_deletes=True)

    with pytest.raises(ProviderFailed):
        generate(request(), GUEST, deps, deadline=1e12)

    assert len(ledger.given_back) == 1
    assert len(store.objects) == 1  # the original the failed delete left, for the lifecycle rule to expire


# --- the result's format (README "Output format") -------------------------------------------------------------

def jpeg(width: int = 8, height: int = 8) -> bytes:
    """The structure the header checks walk (SOI, a baseline frame header, a scan, EOI); no pixels to decode."""
    frame = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return (b"\xff\xd8" + b"\xff\xc0" + struct.pack(">H", 2 + len(frame)) + frame
            + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" + b"\x12\x34" + b"\xff\xd9")


def test_a_result_in_the_format_asked_for_is_stored_as_it_came():
    journal, store, _, _, deps = setup()

    result = generate(request(outputFormat="png"), GUEST, deps, deadline=1e12)

    assert "image.convert" not in journal.names
    assert result.result_key.endswith(".png") and store.objects[result.result_key] == (RESULT, "image/png")


def test_a_result_in_another_format_is_converted_and_stored_under_its_type_and_extension():
    journal, store, _, provider, deps = setup()

    result = generate(request(outputFormat="webp", quality="70"), GUEST, deps, deadline=1e12)

    assert journal.names == ["ledger.reserve", "store.put", "provider.run", "image.convert", "store.put",
                             "ledger.settle"]
    assert deps.convert.calls[0][0] == RESULT and deps.convert.calls[0][1].quality == 70
    assert result.result_key.endswith(".webp")
    assert store.objects[result.result_key] == (b"converted-to-webp:" + RESULT, "image/webp")
    # The provider is told the format too, so one that can encode it (the local engine) spares the conversion.
    assert (provider.options[0].output_format, provider.options[0].quality) == ("webp", 70)


def test_a_jpeg_input_comes_back_as_a_jpeg_by_default():
    _, store, _, provider, deps = setup(output=png(16, 16))

    result = generate(request(image=jpeg()), GUEST, deps, deadline=1e12)

    assert provider.sources[0].content_type == "image/jpeg"
    assert (provider.options[0].output_format, provider.options[0].quality) == ("jpeg", 90)
    assert result.result_key.endswith(".jpg") and store.objects[result.result_key][1] == "image/jpeg"
    assert deps.convert.calls[0][1].name == "jpeg"


def test_a_jpeg_result_for_a_jpeg_input_is_not_re_encoded():
    journal, store, _, _, deps = setup(output=jpeg(16, 16))

    result = generate(request(image=jpeg(), quality="50"), GUEST, deps, deadline=1e12)

    assert "image.convert" not in journal.names
    assert store.objects[result.result_key] == (jpeg(16, 16), "image/jpeg")


@pytest.mark.parametrize(("fields", "field"), [({"outputFormat": "gif"}, "outputFormat"), ({"quality": "0"}, "quality"),
                                               ({"outputFormat": "webp", "quality": "101"}, "quality")])
def test_a_bad_format_or_quality_is_refused_before_anything_is_charged(fields, field):
    journal, store, _, _, deps = setup()

    with pytest.raises(ValidationFailed) as refused:
        generate(request(**fields), GUEST, deps, deadline=1e12)

    assert refused.value.details == {"field": field} and journal.names == [] and store.objects == {}


def test_a_conversion_that_fails_gives_the_charge_back_and_leaves_nothing():
    _, store, ledger, _, deps = setup()

    def broken(data, output):
        raise ProviderFailed("The model returned an image that cannot be read")

    deps = dataclasses.replace(deps, convert=broken)
    with pytest.raises(ProviderFailed):
        generate(request(outputFormat="jpeg"), GUEST, deps, deadline=1e12)

    assert ledger.given_back == ledger.reserved and ledger.settled == [] and store.objects == {}
