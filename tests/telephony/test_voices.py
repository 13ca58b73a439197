"""Every <Say> the app answers carries the TWILIO_VOICES voice of its language (without one,
Twilio reads every language with its default voice). Asserted on the XML's structure."""

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.twiml.voice_response import VoiceResponse

from app import create_app, load_config
from crm_core.settings import DEFAULT_VOICES, parse_voices
from telephony.twiml import voiced
from tests.telephony.test_webhooks import INBOUND

SPANISH = INBOUND | {"CallSid": "CA" + "e" * 32}


def _says(response) -> list[ET.Element]:
    assert response.status_code == 200 and response.mimetype == "text/xml"
    return list(ET.fromstring(response.data).iter("Say"))


def test_the_default_covers_every_language_the_bundled_scripts_speak(deps):
    voices = parse_voices(DEFAULT_VOICES)
    for script in deps.scripts.scripts():
        if script.kind.value in ("auto_attendant", "voicemail", "hold", "outbound", "pitch"):
            assert set(script.languages) <= set(voices), script.name
    assert voices == {"en-US": "Polly.Joanna-Neural", "es-MX": "Polly.Mia-Neural"}


def test_the_greeting_menu_and_apology_say_each_language_in_its_voice(twilio, deps):
    for say in _says(twilio.post("/twilio/voice", INBOUND)):
        assert (say.get("language"), say.get("voice")) == ("en-US", "Polly.Joanna-Neural")
    menu = twilio.post("/twilio/ivr/menu?lang=es-MX&tries=0", SPANISH | {"Digits": "9"})
    said = _says(menu)
    assert said and all(
        (s.get("language"), s.get("voice")) == ("es-MX", "Polly.Mia-Neural") for s in said
    )
    failed = _says(twilio.post("/twilio/voice?lang=es-MX", {"From": "+13135550101"}))
    assert failed and all(s.get("voice") == "Polly.Mia-Neural" for s in failed)


def test_a_setting_of_its_own_is_used(database_url, redis_url, clock, tmp_path):
    from tests.telephony.conftest import twilio_app

    app = next(
        gen := twilio_app(
            database_url, redis_url, clock, tmp_path, TWILIO_VOICES="en-US=Polly.Matthew-Neural"
        )
    )
    try:
        with app.test_client() as client:
            from tests.telephony.conftest import Twilio

            said = _says(Twilio(client).post("/twilio/voice", INBOUND))
            assert said and {s.get("voice") for s in said} == {"Polly.Matthew-Neural"}
    finally:
        next(gen, None)  # the fixture's teardown: rows emptied, connections closed


@pytest.mark.parametrize(
    "raw",
    [
        "en-US",  # no voice
        "en-US=",  # an empty voice
        "english=Polly.Joanna",  # not a language tag
        "en-US=Polly.Joanna;es-MX=Mia",  # not a Twilio voice
        "es-MX=Polly.Mia Neural",
    ],
)
def test_a_malformed_setting_is_refused_at_start_up_naming_it(raw, tmp_path):
    with pytest.raises(ValueError, match="TWILIO_VOICES"):
        load_config({"TWILIO_VOICES": raw, "SECRET_KEY": "x"}, str(tmp_path))
    with pytest.raises(ValueError, match="TWILIO_VOICES"):
        create_app({"TWILIO_VOICES": raw, "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x"})


def test_the_setting_is_parsed_once_into_a_mapping(tmp_path):
    config = load_config(
        {"TWILIO_VOICES": " es-MX=Polly.Andres-Neural ; en-US=woman ;", "SECRET_KEY": "x"},
        str(tmp_path),
    )
    assert config["TWILIO_VOICES"] == {"es-MX": "Polly.Andres-Neural", "en-US": "woman"}


LANGUAGES = st.sampled_from(["en-US", "es-MX", "es-US", "fr-FR", None])
VOICES = {"en-US": "Polly.Joanna-Neural", "es-MX": "Polly.Mia-Neural"}
EXPECTED = {"en-US": "Polly.Joanna-Neural", None: "Polly.Joanna-Neural"}
EXPECTED |= {"es-MX": "Polly.Mia-Neural", "es-US": "Polly.Mia-Neural", "fr-FR": None}


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            LANGUAGES,
            st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=40),
            st.booleans(),  # inside a <Gather>
            st.sampled_from([None, "man"]),  # a voice the view chose itself
        ),
        max_size=6,
    )
)
def test_every_say_gets_its_languages_voice_and_nothing_else_changes(says):
    response = VoiceResponse()
    gather = response.gather(action="/next", num_digits=1)
    for language, text, nested, voice in says:
        (gather if nested else response).say(text, language=language, voice=voice)
    response.hangup()
    before = ET.fromstring(str(response))
    after = ET.fromstring(voiced(str(response), tuple(sorted(VOICES.items()))))
    assert [e.tag for e in after.iter()] == [e.tag for e in before.iter()]
    for old, new in zip(before.iter(), after.iter(), strict=True):
        assert (new.text or "") == (old.text or "")
        if new.tag != "Say":
            assert new.attrib == old.attrib
            continue
        wanted = old.get("voice") or EXPECTED[old.get("language")]
        assert new.get("voice") == wanted
        assert {k: v for k, v in new.attrib.items() if k != "voice"} == {
            k: v for k, v in old.attrib.items() if k != "voice"
        }


def _customer(deps, clock, phone: str, language: str) -> None:
    from crm_core import customers
    from crm_core.schemas import CustomerIn, parse

    with deps.session_factory.begin() as s:
        customers.create_customer(
            s,
            parse(CustomerIn, {"first_name": "Lupe", "phones": [phone], "language": language}),
            clock,
        )


@pytest.mark.parametrize(
    ("phone", "heard"),
    [
        ("+12135550142", ["Esta llamada puede ser grabada", "Para aceptar"]),  # CA: asked
        ("+13135550142", ["Esta llamada puede ser grabada"]),  # MI: told
    ],
)
def test_a_called_customer_hears_the_recording_notice_in_their_language(
    twilio, deps, clock, phone, heard
):
    _customer(deps, clock, phone, "es-MX")
    leg = {"CallSid": "CA" + "c" * 32, "ParentCallSid": "CA" + "d" * 32, "To": phone}
    notice = twilio.post(f"/twilio/recording-consent/notice?call={'CA' + 'd' * 32}", leg)
    said = _says(notice)
    assert [s.text[: len(h)] for s, h in zip(said, heard, strict=True)] == heard
    assert all((s.get("language"), s.get("voice")) == ("es-MX", "Polly.Mia-Neural") for s in said)
    gathers = list(ET.fromstring(notice.data).iter("Gather"))
    if gathers:  # the answer comes back in the same language
        action = gathers[0].get("action")
        assert "lang=es-MX" in action
        path = action.split("://", 1)[1].split("/", 1)[1]
        answered = _says(twilio.post("/" + path, leg | {"Digits": "2"}))
        assert [s.text for s in answered] == ["Esta llamada no será grabada."]
