import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_core.errors import InvalidPhone
from crm_core.phones import normalize_phone, time_zone_of


@pytest.mark.parametrize(
    "raw",
    [
        "(313) 555-0123",
        "313.555.0123",
        "+1 313 555 0123",
        "1-313-555-0123",
        "tel:+13135550123",
        "  313 555 0123  ",
    ],
)
def test_formats_of_one_number_normalise_to_one_e164(raw):
    assert normalize_phone(raw) == "+13135550123"


def test_international_number_keeps_its_country():
    assert normalize_phone("+44 20 7946 0018") == "+442079460018"
    assert normalize_phone("55 1234 5678", region="MX") == "+525512345678"


@pytest.mark.parametrize(
    "raw", ["", "   ", "anonymous", "266696687", "12", "+1 555", "x" * 41, "+999 123 456"]
)
def test_invalid_input_names_the_field(raw):
    with pytest.raises(InvalidPhone) as err:
        normalize_phone(raw, field="from")
    assert err.value.field == "from"
    assert err.value.status == 400


def test_non_string_is_rejected():
    with pytest.raises(InvalidPhone):
        normalize_phone(3135550123)


@given(st.text(max_size=60))
def test_any_text_either_normalises_or_raises_invalid_phone(raw):
    try:
        e164 = normalize_phone(raw)
    except InvalidPhone:
        return
    assert e164.startswith("+") and e164[1:].isdigit() and len(e164) <= 16
    assert normalize_phone(e164) == e164  # idempotent
    assert phonenumbers.is_valid_number(phonenumbers.parse(e164))


@given(
    area=st.sampled_from(["313", "248", "312", "214", "305", "206"]),
    exchange=st.integers(200, 999),
    line=st.integers(0, 9999),
    style=st.sampled_from(["({a}) {e}-{l}", "{a}-{e}-{l}", "+1{a}{e}{l}", "1 {a} {e} {l}"]),
)
def test_every_formatting_of_a_valid_us_number_is_the_same_key(area, exchange, line, style):
    raw = style.format(a=area, e=exchange, l=f"{line:04d}")
    expected = f"+1{area}{exchange}{line:04d}"
    number = phonenumbers.parse(expected)
    if not phonenumbers.is_valid_number(number):
        with pytest.raises(InvalidPhone):
            normalize_phone(raw)
        return
    assert normalize_phone(raw) == expected


def test_time_zone_of_a_michigan_number():
    assert time_zone_of("+13135550123") == "America/New_York"  # phonenumbers data
    assert time_zone_of("+12065550123") == "America/Los_Angeles"
