"""How one answer of the auto-attendant is built: the request's state (language, tries),
the ``Turn`` (script, language, variables, the TwiML being written), the prompts that
several steps share (the menus, the after-hours choices, the location question) and
``Route``, where a choice leads. The views (``ivr/views.py``) put them together.

Most answers are one of a few documents: the main menu for a caller the CRM cannot greet
by name, a sub-menu, in a language, at a try. ``constant`` builds such a document once and
answers the same string afterwards (see there for what keys it and when it is rebuilt).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import request
from twilio.twiml.voice_response import VoiceResponse

from crm_core.clock import Clock
from crm_core.db import Database
from crm_core.hours import HolidayCache, Openness
from crm_core.settings import Settings
from ivr import choices, service
from ivr.service import Caller
from recording import consent
from routing.service import Router
from scripts import Library, Script
from telephony.context import need
from telephony.events import CallEvent
from telephony.twiml import public

SCRIPT = "auto_attendant"
MAX_TRIES = 3  # unanswered or unknown answers to one question before a person takes over
LOCATION_TRIES = 2
GATHER_SECONDS = 6
BACK_KEY = "*"  # from a sub-menu, back to the main menu
OPERATOR_KEY = "0"
ENGLISH = "en-US"


def call_event() -> CallEvent:
    return CallEvent.from_request()


def auto_attendant() -> Script:
    return need(Library).get(SCRIPT)


def language_of(script: Script) -> str:
    return script.language(request.args.get("lang") or ENGLISH)


def tries_so_far() -> int:
    raw = request.args.get("tries", "")
    return min(int(raw), MAX_TRIES) if raw.isascii() and raw.isdigit() and len(raw) < 3 else 0


def step_url(step: str, **params: Any) -> str:
    return public(f"ivr.{step}", **{k: v for k, v in params.items() if v is not None})


@dataclass
class Turn:
    """One answer being built: the script, the language, the texts' variables, the TwiML."""

    script: Script
    lang: str
    context: dict[str, Any] = field(default_factory=dict)
    response: VoiceResponse = field(default_factory=VoiceResponse)

    def text(self, key: str) -> str:
        return self.script.text(key, self.lang, self.context)

    def say(self, key: str, target: Any = None) -> None:
        (target or self.response).say(self.text(key), language=self.lang)

    def gather(self, action: str, *, hints: list[str] | None = None, speech_only=False):
        return self.response.gather(
            input="speech" if speech_only else "dtmf speech",
            num_digits=None if speech_only else 1,
            action=action,
            method="POST",
            timeout=GATHER_SECONDS,
            speech_timeout="auto",
            action_on_empty_result=True,
            language=self.lang,
            hints=", ".join(hints) if hints else None,
        )

    def __str__(self) -> str:
        return str(self.response)


def new_turn(
    script: Script | None = None, caller: Caller | None = None, lang: str | None = None
) -> Turn:
    script = script or auto_attendant()
    settings = need(Settings)
    turn = Turn(script, script.language(lang) if lang else language_of(script))
    turn.context = {
        "dealer": {"name": settings.dealer_name, "website": settings.dealer_website},
    }
    if caller is not None:
        turn.context["customer"] = {"first_name": caller.first_name}
        if caller.appointment is not None:
            turn.context["appointment"] = {"when": caller.appointment.start}
        if caller.vehicle:
            turn.context["vehicle"] = {"description": caller.vehicle}
    return turn


# ``constant``'s documents; emptied whole when full (a handful are in use at any time).
_DOCUMENTS: dict[tuple, str] = {}
MAX_DOCUMENTS = 512


def constant(turn: Turn, build: Callable[..., None], *args: Any, **kwargs: Any) -> str:
    """The document ``build(turn, *args, **kwargs)`` writes on the fresh ``turn``, built
    once and then answered as the same string.

    What the document depends on is its key: the script object (the library replaces a
    script whose file changed by a new object, so an edited script is never answered from
    here), the language, the texts' variables (the dealer's name, the caller's first name),
    ``build`` and its arguments, and PUBLIC_BASE_URL (its action URLs). Nothing else goes
    into a document (no time, no call): a turn that has already said something is built
    as usual."""
    if turn.response.verbs:
        build(turn, *args, **kwargs)
        return str(turn)
    key = (
        turn.script,
        turn.lang,
        _frozen(turn.context),
        build,
        args,
        tuple(sorted(kwargs.items())),
        need(Settings).public_base_url,
    )
    document = _DOCUMENTS.get(key)
    if document is None:
        build(turn, *args, **kwargs)
        document = str(turn)
        if len(_DOCUMENTS) >= MAX_DOCUMENTS:
            _DOCUMENTS.clear()
        _DOCUMENTS[key] = document
    return document


def _frozen(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


def main_menu(turn: Turn, *lead_in: str, tries: int = 0) -> None:
    gather = turn.gather(
        step_url("menu", lang=turn.lang, tries=tries), hints=turn.script.speech_hints(turn.lang)
    )
    for key in lead_in:
        turn.say(key, gather)
    turn.say("main_menu", gather)


def phrases(turn: Turn, options) -> Iterator[tuple[Any, list[str]]]:
    """Each option with what a caller may say for it, rendered only when asked for:
    ``choices.choose`` needs them only for words, not for a key pressed."""
    lang = turn.lang
    return ((o, [turn.text(f"menu.{o.id}"), *(o.keywords.get(lang) or ())]) for o in options)


def label(script: Script, option) -> str:
    """An option's name in the path: its English label, the same whatever the language."""
    return script.text(f"menu.{option.id}", ENGLISH)


def lang_step(lang: str) -> str:
    return lang.split("-")[0]


def speech() -> str | None:
    return choices.clean(request.form.get("SpeechResult"))


def sub_menu(turn: Turn, option_id: str, tries: int = 0, lead_in: str | None = None) -> None:
    """The sub-menu of the main menu's option ``option_id``."""
    gather = turn.gather(
        step_url("submenu", lang=turn.lang, option=option_id, tries=tries),
        hints=turn.script.submenu_hints(option_id, turn.lang),
    )
    if lead_in:
        turn.say(lead_in, gather)
    turn.say(f"menu.{option_id}.prompt", gather)


@dataclass(frozen=True)
class Route:
    """Where a choice leads: a queue, at a priority, with skills, named in the path."""

    queue: str
    priority: str = "normal"
    needs: tuple[tuple[str, int], ...] = ()
    step: str | None = None
    notice: str | None = None  # the option's own text before the hand-off (payments)
    sensitive: bool = False

    @property
    def emergency(self) -> bool:
        return self.priority == "emergency"

    @classmethod
    def of(cls, script: Script, option, sub=None, *, step: str | None = "") -> Route:
        chosen = sub or option
        needs = {**option.needs, **(sub.needs if sub else {})}
        notice = f"{option.id}_notice" if f"{option.id}_notice" in script.text_keys() else None
        return cls(
            queue=(sub.queue if sub and sub.queue else None) or option.queue,
            priority=str((sub.priority if sub and sub.priority else None) or option.priority),
            needs=tuple(sorted(needs.items())),
            step=label(script, chosen) if step == "" else step,
            notice=notice,
            sensitive=option.sensitive,
        )


def openness_of(queues: list) -> dict[str, Openness]:
    """Which of ``queues`` are open now (holidays from the app's cache: no SQL on most
    calls, and never inside the write transaction)."""
    return service.queue_openness(
        need(HolidayCache), queues, need(Clock).now(), need(Settings).default_time_zone
    )


def queue_config(name: str | None):
    return need(Router).queues().get(name or "") if name else None


def language_needs(lang: str) -> dict[str, int]:
    """The skills a caller's language asks of the agent (``IVR_LANGUAGE_SKILLS``)."""
    return need(Settings).ivr_language_skills.get(lang) or {}


def enqueue(turn: Turn, route: Route, event: CallEvent) -> None:
    """Into the ACD; first, where the caller's state or the queue needs a yes to recording,
    "press 1 to agree" (``/twilio/ivr/consent``, which then goes on to the ACD). The
    recording consent decided here is stored on the Call (recording/consent.py)."""
    needs = {**language_needs(turn.lang), **dict(route.needs)}
    args = {
        "queue": route.queue,
        "priority": None if route.priority == "normal" else route.priority,
        "needs": ",".join(f"{k}:{v}" for k, v in sorted(needs.items())) or None,
        "lang": turn.lang,
    }
    decision = recording_consent(route.queue, event, emergency=route.emergency)
    with need(Database).session_factory.begin() as session:
        consent.store(session, event.call_sid, decision)
    if decision.ask:
        gather = turn.gather(step_url("consent_answer", **args), hints=["yes", "sí", "no"])
        turn.say("recording_consent_ask", gather)
        return
    turn.response.redirect(public("routing.enqueue", **args), method="POST")


def recording_consent(
    queue: str | None, event: CallEvent, *, emergency: bool = False
) -> consent.Decision:
    """What recording needs for this caller on ``queue`` (recording/consent.py)."""
    config = queue_config(queue)
    return consent.decide(
        need(Settings),
        phone=event.from_e164,
        queue=queue,
        queue_rule=config.recording_consent if config is not None else None,
        emergency=emergency,
    )


def ask_location(turn: Turn, route: Route, tries: int, key: str = "roadside_location") -> None:
    gather = turn.gather(
        step_url("roadside", lang=turn.lang, tries=tries, queue=route.queue), speech_only=True
    )
    turn.say(key, gather)


def closed_menu(
    turn: Turn,
    hours: dict,
    state: Openness,
    *,
    queue: str | None,
    tries: int = 0,
    again: str | None = None,
) -> None:
    """Closed now: why (a holiday, or the hours), then a message, a callback, or roadside."""
    described = service.describe_hours(hours, turn.lang)
    turn.context.setdefault("dealer", {})["hours"] = described
    gather = turn.gather(
        step_url("closed", lang=turn.lang, tries=tries, queue=queue, at=stamp(state))
    )
    if again:
        turn.say(again, gather)
    else:
        turn.say("holiday" if state.holiday else "after_hours", gather)
    turn.say("after_hours_options", gather)


def stamp(state: Openness) -> str | None:
    return state.next_open.isoformat(timespec="minutes") if state.next_open else None
