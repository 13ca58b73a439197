"""TwiML helpers: the response type, absolute callback URLs, the voices, and the safe answers.

Every TwiML document the app answers goes out through ``twiml()``, the one place a
``<Say>`` gets its voice: the ``TWILIO_VOICES`` voice of its language (Twilio's default
voice otherwise reads Spanish with an English voice's accent, or not at all). Views build
``<Say language=…>`` with twilio-python as usual and never name a voice.

The sentences of the safe answers (the apology, "we did not receive a message", the
thanks, the answer to a call that is already over, "please stay on the line") are the
``voicemail`` script's (``scripts/library/voicemail.yaml``), in the caller's language (the
``lang`` the flow's URLs carry).
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Response, request, url_for
from twilio.twiml.voice_response import VoiceResponse

from crm_core.settings import Settings
from telephony.context import need

log = logging.getLogger("callcenter.telephony")

TWIML_TYPE = "text/xml"
VOICEMAIL_SECONDS = 120
ENGLISH = "en-US"
# The hold loop while the live state is unreachable: this many rounds of a short prompt and
# a pause (about 30 s in all, many times a Redis restart), then the apology.
HOLD_ROUNDS = 5
HOLD_PAUSE_SECONDS = 3
HELD = "held"  # the query parameter that counts the rounds
VOICEMAIL_SCRIPT = "voicemail"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}-[A-Z]{2}$")


def twiml(body: str | VoiceResponse) -> Response:
    text = str(body)
    if "<Say" in text:
        voices = need(Settings).twilio_voices
        if voices:
            text = voiced(text, tuple(sorted(voices.items())))
    return Response(text, status=200, mimetype=TWIML_TYPE)


@lru_cache(maxsize=4096)
def voiced(document: str, voices: tuple[tuple[str, str], ...]) -> str:
    """``document`` with each ``<Say>`` that names no voice given its language's voice.

    A Say without ``language`` is en-US (Twilio's default); a language with no voice of its
    own takes one of the same family (es-US → es-MX's), else it is left to Twilio's default.
    Cached: most answers are a handful of the same documents."""
    by_language = dict(voices)
    root = ET.fromstring(document)
    changed = False
    for say in root.iter("Say"):
        if say.get("voice"):
            continue
        voice = voice_for(by_language, say.get("language") or ENGLISH)
        if voice:
            say.set("voice", voice)
            changed = True
    if not changed:
        return document
    return XML_DECLARATION + ET.tostring(root, encoding="unicode")


def voice_for(voices: Mapping[str, str], language: str) -> str | None:
    if language in voices:
        return voices[language]
    family = language.split("-")[0] + "-"
    return next((v for lang, v in sorted(voices.items()) if lang.startswith(family)), None)


def public(endpoint: str, **values) -> str:
    """An absolute URL under PUBLIC_BASE_URL, for TwiML action and callback attributes."""
    base = need(Settings).public_base_url.rstrip("/")
    return base + url_for(endpoint, **values)


def caller_language() -> str:
    """The caller's language as the flow's URLs carry it (``lang``), else en-US."""
    raw = request.args.get("lang") or ""
    return raw if LANGUAGE_TAG.match(raw) else ENGLISH


class ScriptTexts(Protocol):
    """What the safe answers need of the call-script library (scripts.Library, filed under
    this type by the app): one sentence of a script, in a language. A protocol, not the
    Library itself, so that telephony names nothing of scripts/ (which imports telephony)."""

    def text(
        self, name: str, key: str, lang: str | None = ..., context: Any = None, **values: Any
    ) -> str: ...


def sentence(key: str, language: str, script: str = VOICEMAIL_SCRIPT) -> str:
    """One of a script's sentences (the voicemail script's by default), in ``language``
    (the library picks the nearest it has)."""
    library = need(ScriptTexts)
    dealer = {"name": need(Settings).dealer_name}
    return library.text(script, key, language, {"dealer": dealer})


def voicemail(response: VoiceResponse, prompt: str, *, language: str = ENGLISH) -> VoiceResponse:
    """Prompt, beep, record up to two minutes; the recording goes to the voicemail task."""
    return _voicemail(
        response, prompt, language, _voicemail_action(language), sentence("no_message", language)
    )


def voicemail_document(prompt: str, *, language: str = ENGLISH) -> str:
    """``voicemail`` as a whole TwiML document, built once per prompt and action URL.

    The voice webhook answers a handful of prompts (the greeting, with or without the
    caller's first name) to every caller; building and serialising the XML tree each time
    cost as much as the database work.
    """
    return _voicemail_document(
        prompt, language, _voicemail_action(language), sentence("no_message", language)
    )


def _voicemail_action(language: str) -> str:
    return public("telephony.voicemail_recorded", lang=language)


@lru_cache(maxsize=1024)
def _voicemail_document(prompt: str, language: str, action: str, nothing: str) -> str:
    return str(_voicemail(VoiceResponse(), prompt, language, action, nothing))


def _voicemail(
    response: VoiceResponse, prompt: str, language: str, action: str, nothing: str
) -> VoiceResponse:
    response.say(prompt, language=language)
    record_voicemail(response, action)
    # Record falls through here only when nothing was recorded.
    response.say(nothing, language=language)
    response.hangup()
    return response


def record_voicemail(
    response: VoiceResponse, action: str, *, transcribe_callback: str | None = None
) -> VoiceResponse:
    """The one voicemail ``<Record>``: a beep, up to two minutes, ended by ``#`` or five
    seconds of silence, the recording POSTed to ``action``; transcribed when
    ``transcribe_callback`` says where the text goes. The safe answer and the
    auto-attendant take their messages the same way."""
    transcription = {"transcribe": True, "transcribe_callback": transcribe_callback}
    response.record(
        action=action,
        method="POST",
        max_length=VOICEMAIL_SECONDS,
        play_beep=True,
        finish_on_key="#",
        timeout=5,
        **(transcription if transcribe_callback else {}),
    )
    return response


def apology_then_voicemail(language: str | None = None) -> str:
    """What a caller hears when anything fails: never an error, always a way to be heard.

    In the caller's language (``language``, else the request's ``lang``)."""
    language = language or caller_language()
    return voicemail_document(sentence("apology", language), language=language)


def call_already_ended(language: str | None = None) -> str:
    """The answer to a voice request for a call that is over: a short apology, then hang up
    (the request cannot be a live caller's; it must not reopen the call)."""
    language = language or caller_language()
    response = VoiceResponse()
    response.say(sentence("call_ended", language), language=language)
    response.hangup()
    return str(response)


def hold_then_retry(url: str, language: str | None = None) -> str:
    """The answer while something the step needs is briefly unreachable (Redis restarting):
    "please stay on the line", a pause, then ``<Redirect>`` to ``url`` (the step's own URL)
    to try again, counting the rounds in its ``held`` parameter; after ``HOLD_ROUNDS`` of
    them, the apology and voicemail. Only Say, Pause and Redirect until then, the verbs a
    queue's wait URL may answer with too."""
    language = language or caller_language()
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != HELD]
    held = dict(parse_qsl(parts.query)).get(HELD, "")
    rounds = int(held) if held.isascii() and held.isdigit() and len(held) < 4 else 0
    if rounds >= HOLD_ROUNDS:
        return apology_then_voicemail(language)
    again = urlunsplit(parts._replace(query=urlencode([*query, (HELD, str(rounds + 1))])))
    response = VoiceResponse()
    response.say(sentence("hold_on", language), language=language)
    response.pause(length=HOLD_PAUSE_SECONDS)
    response.redirect(again, method="POST")
    return str(response)
