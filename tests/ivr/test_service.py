"""The auto-attendant's plain-Python decisions: which option a caller chose, yes or no, and
opening hours as a person says them."""

from __future__ import annotations

import pytest

from ivr import choices, service
from scripts import Library

SCRIPT = Library().get("auto_attendant")


def phrases(lang: str, options=SCRIPT.menu):
    return [
        (o, [SCRIPT.text(f"menu.{o.id}", lang), *(o.keywords.get(lang) or ())]) for o in options
    ]


def pick(digits=None, speech=None, lang="en-US", options=SCRIPT.menu):
    chosen = choices.choose(options, phrases(lang, options), digits, speech)
    return chosen.id if chosen else None


@pytest.mark.parametrize(
    ("digits", "speech", "lang", "expected"),
    [
        ("1", None, "en-US", "sales"),
        ("0", None, "en-US", "operator"),
        ("7", None, "en-US", None),  # not on the menu
        ("12", None, "en-US", "sales"),  # the first key counts
        (None, "two", "en-US", "service"),  # a digit said aloud
        (None, "cuatro", "es-MX", "roadside"),
        (None, "Sales, please", "en-US", "sales"),
        (None, "I need to make a payment", "en-US", "payments"),
        (None, "my car broke down on the highway", "en-US", "roadside"),
        (None, "can I talk to a real person", "en-US", "operator"),
        (None, "Quiero hablar con SERVICIO", "es-MX", "service"),  # accents and case
        (None, "necesito una grúa", "es-MX", "roadside"),
        (None, "mi cita", "es-MX", "appointment"),
        (None, "español", "en-US", "spanish"),
        (None, "banana bread", "en-US", None),
        (None, "", "en-US", None),
        (None, None, "en-US", None),
    ],
)
def test_choose(digits, speech, lang, expected):
    assert pick(digits, speech, lang) == expected


def test_choose_in_a_sub_menu():
    sales = SCRIPT.option("sales")
    assert pick("2", options=sales.options) == "pre_owned"
    assert pick(None, "new vehicles", options=sales.options) == "new_vehicles"
    assert pick(None, "vehículos seminuevos", "es-MX", options=sales.options) == "pre_owned"


def test_an_ambiguous_answer_is_no_answer():
    # "service" and "sales" both heard, neither as the stronger match.
    assert pick(None, "sales or service") is None


@pytest.mark.parametrize(
    ("digits", "speech", "expected"),
    [
        ("1", None, True),
        ("2", None, False),
        ("5", None, None),
        (None, "yes", True),
        (None, "Sí, claro", True),
        (None, "no", False),
        (None, "yes no", None),
        (None, "maybe", None),
    ],
)
def test_yes_or_no(digits, speech, expected):
    assert choices.yes_or_no(digits, speech) is expected


def test_hours_as_a_person_says_them():
    hours = {day: [["09:00", "20:00"]] for day in ("mon", "tue", "wed", "thu", "fri")} | {
        "sat": [["09:30", "13:00"], ["14:00", "18:00"]]
    }
    assert service.describe_hours(hours, "en-US") == (
        "Monday to Friday, 9 AM to 8 PM; Saturday, 9:30 AM to 1 PM and 2 PM to 6 PM"
    )
    assert service.describe_hours(hours, "es-MX") == (
        "lunes a viernes, de 9 a. m. a 8 p. m.; "
        "sábado, de 9:30 a. m. a 1 p. m. y de 2 p. m. a 6 p. m."
    )
    assert service.describe_hours({"mon": [["00:00", "24:00"]]}, "en-US") == (
        "Monday, midnight to midnight"
    )
    assert service.describe_hours({"sun": [["12:00", "17:00"]]}, "es-MX") == (
        "domingo, de mediodía a 5 p. m."
    )
    assert service.describe_hours({}, "en-US") is None


def test_words_are_plain():
    assert choices.words("¡Sí, SERVICIO!") == ["si", "servicio"]
    assert service.parse_stamp("2026-01-05T07:30-05:00") is not None
    assert service.parse_stamp("2026-01-05T07:30") is None  # no zone: not ours
    assert service.parse_stamp("x" * 100) is None
