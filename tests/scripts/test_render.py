"""Rendering: fallbacks in the caller's language, escaping per target, never a raw placeholder."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from scripts import VARIABLES, Library, load_script
from scripts.render import compile_template, render_template
from tests.scripts.files import write

PLACEHOLDER = re.compile(r"\{[a-z_]+\.[a-z_]+")


@pytest.fixture(scope="module")
def library() -> Library:
    return Library()


def render(source: str, lang: str = "en-US", target: str = "text", **context) -> str:
    return render_template(compile_template(source), lang, context, target)


def test_values_from_dicts_objects_and_flat_keys():
    source = "Hi {customer.first_name}, this is {agent.name} from {dealer.name}."
    assert render(
        source,
        customer={"first_name": "Ana"},
        agent=SimpleNamespace(name="Luis"),
        **{"dealer.name": "Car Capital"},
    ) == ("Hi Ana, this is Luis from Car Capital.")


def test_missing_variables_fall_back_in_the_language():
    source_en = "Hi {customer.first_name}, thank you for calling {dealer.name}."
    source_es = "Hola {customer.first_name}, gracias por llamar a {dealer.name}."
    assert render(source_en) == "Hi there, thank you for calling our dealership."
    assert render(source_es, "es-MX") == "Hola, gracias por llamar a nuestra agencia."
    # None, "", whitespace and control characters say nothing: the fallback speaks.
    for nothing in (None, "", "   ", "\x00\x07"):
        assert render(source_en, customer={"first_name": nothing}).startswith("Hi there,")


def test_an_empty_fallback_leaves_tidy_punctuation():
    assert render("¡Hola {customer.first_name}!", "es-MX") == "¡Hola!"
    assert render("Hola {customer.first_name}:\n\nGracias.", "es-MX") == "Hola:\n\nGracias."
    assert render("{customer.first_name}, welcome", "es-MX") == "welcome"


def test_a_text_may_give_its_own_fallback():
    source = "May I speak with {customer.first_name|the person who called us}?"
    assert render(source) == "May I speak with the person who called us?"
    assert render(source, customer={"first_name": "Ana"}) == "May I speak with Ana?"


def test_a_value_that_cannot_be_read_is_missing():
    class Broken:
        def __str__(self):
            raise RuntimeError("boom")

        @property
        def first_name(self):
            raise RuntimeError("boom")

    assert render("Hi {customer.first_name}", customer=Broken()) == "Hi there"
    assert render("Hi {customer.first_name}", customer={"first_name": Broken()}) == "Hi there"


def test_times_are_said_as_people_say_them():
    when = datetime(2026, 1, 6, 15, 0, tzinfo=UTC)
    assert render("on {appointment.when}", appointment={"when": when}) == (
        "on Tuesday, January 6 at 3 PM"
    )
    assert render("del {appointment.when}", "es-MX", appointment={"when": when}) == (
        "del martes 6 de enero a las 3 p. m."
    )
    one_thirty = datetime(2026, 1, 6, 13, 30)
    assert render("{appointment.when}", "es-MX", appointment={"when": one_thirty}) == (
        "martes 6 de enero a la 1:30 p. m."
    )
    assert render("{appointment.when}", appointment={"when": date(2026, 3, 1)}) == (
        "Sunday, March 1"
    )
    assert render("on {appointment.when}") == "on the scheduled day"


def test_queue_position_and_wait():
    source = "Your place in line is {queue.position}. Your estimated wait is {queue.wait}."
    assert render(source, queue={"position": 3, "wait_minutes": 4.2}) == (
        "Your place in line is 3. Your estimated wait is about 5 minutes."
    )
    assert render(source, "es-MX", queue={"position": 1, "wait_minutes": 1}) == (
        "Your place in line is 1. Your estimated wait is alrededor de un minuto."
    )
    assert render(source, queue={"position": float("nan"), "wait_minutes": -3}) == (
        "Your place in line is next. Your estimated wait is a few minutes."
    )


def test_twiml_target_escapes_xml():
    dealer = {"name": "Smith & Sons <Autos>"}
    twiml = render("Thank you for calling {dealer.name}.", target="twiml", dealer=dealer)
    assert twiml == "Thank you for calling Smith &amp; Sons &lt;Autos&gt;."
    say = ET.fromstring(f"<Say>{twiml}</Say>")
    assert say.text == "Thank you for calling Smith & Sons <Autos>."
    plain = render("Thank you for calling {dealer.name}.", dealer=dealer)
    assert plain == "Thank you for calling Smith & Sons <Autos>."


def test_html_target_escapes_and_keeps_paragraphs():
    html = render(
        "Hi {customer.first_name},\n\nThanks for visiting.\n{dealer.name}",
        target="html",
        customer={"first_name": "<script>alert(1)</script>"},
        dealer={"name": "A & B"},
    )
    assert isinstance(html, Markup)
    assert html == (
        "<p>Hi &lt;script&gt;alert(1)&lt;/script&gt;,</p>\n"
        "<p>Thanks for visiting.<br>\nA &amp; B</p>"
    )


def test_values_never_bring_placeholders_or_control_characters():
    text = render(
        "Hi {customer.first_name}",
        customer={"first_name": "{dealer.name}\x00\ud800 Ana\n\tMaría"},
    )
    assert text == "Hi dealer.name Ana María"


def test_literal_braces():
    assert render("{{not a variable}} {dealer.name}") == "{not a variable} our dealership"


def test_library_text_and_render(library):
    assert library.text("auto_attendant", "greeting", "es-MX", dealer={"name": "Car Capital"}) == (
        "Gracias por llamar a Car Capital."
    )
    assert library.text("auto_attendant", "greeting", "fr-FR") == (
        "Thank you for calling our dealership."
    )
    assert library.text("auto_attendant", "greeting", "es-US").startswith("Gracias")
    assert library.text("auto_attendant", "greeting", None).startswith("Thank you")
    subject = library.render(
        "post_visit_email",
        "post_visit.subject",
        "en-US",
        {"dealer": {"name": "A&B Motors"}},
        target="html",
    )
    assert subject == "<p>Thank you for visiting A&amp;B Motors</p>"
    with pytest.raises(KeyError, match="no text 'nope'"):
        library.text("auto_attendant", "nope")
    with pytest.raises(KeyError, match="no script named 'nope'"):
        library.get("nope")
    with pytest.raises(ValueError, match="target"):
        library.render("auto_attendant", "greeting", target="pdf")


def test_a_script_file_loads_with_unicode(script_dir):
    path = write(
        script_dir / "hold.yaml",
        """
        name: hold
        version: 1
        kind: hold
        languages: [en-US, es-MX]
        texts:
          hi: {en-US: "Hi", es-MX: "¿Qué tal? Ñandú"}
        """,
    )
    assert load_script(path).text("hi", "es-MX") == "¿Qué tal? Ñandú"


# ---------------------------------------------------------------- hypothesis

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.datetimes(timezones=st.none() | st.timezones())
    | st.dates()
    | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)
contexts = st.dictionaries(
    st.sampled_from(sorted({name.split(".")[0] for name in VARIABLES} | {"junk"})),
    st.dictionaries(
        st.sampled_from(sorted({name.split(".")[1] for name in VARIABLES} | {"junk"})),
        values,
        max_size=8,
    )
    | values,
    max_size=6,
)
XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _all_texts(library):
    return [(s, key) for s in library.scripts() for key in s.text_keys()]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), context=contexts, lang=st.sampled_from(["en-US", "es-MX", "xx", ""]))
def test_arbitrary_context_never_raises_nor_leaves_a_placeholder(data, context, lang):
    library = _HYPOTHESIS_LIBRARY
    script, key = data.draw(st.sampled_from(_all_texts(library)))
    for target in ("text", "twiml", "html"):
        out = script.render(key, lang, context, target)
        assert isinstance(out, str) and out.strip()
        assert not PLACEHOLDER.search(out), out
        assert not XML_ILLEGAL.search(out)
    twiml = script.render(key, lang, context, "twiml")
    ET.fromstring(f"<Say>{twiml}</Say>")  # well-formed


_HYPOTHESIS_LIBRARY = Library()
