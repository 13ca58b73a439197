"""Recording consent: whether a call may be recorded, decided before anything is recorded.

The rule, first match wins (``decide``):

1. ``RECORDING_ENABLED`` is false: not recorded.
2. The queue's ``recording_consent`` is ``off``: not recorded.
3. The queue's ``recording_consent`` is ``explicit``: the caller must say yes.
4. The caller's US state (from the area code of their number) is one of
   ``RECORDING_ALL_PARTY_STATES`` (all-party consent): the caller must say yes.
5. Otherwise the "may be recorded" notice is enough (one-party consent, or a state we cannot
   tell: a toll-free or foreign number), and continuing the call is consent.

A yes asked for and not given (a no, silence, a hang-up) is ``declined``: the call is not
recorded but still reaches an agent. An emergency caller (roadside) is never asked a
question before help: where a yes would be needed, the call is not recorded.

What was decided, and why in words ("state CA: all-party consent"), is stored on the Call
(``recording_consent``, ``recording_consent_rule``) before the recording would start, so an
auditor can see why a call was or was not recorded. Nothing here knows HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import phonenumbers
from phonenumbers import geocoder
from sqlalchemy import update
from sqlalchemy.orm import Session

from crm_core.models import SHORT_LEN, Call, RecordingConsent
from crm_core.settings import Settings

QUEUE_RULES = ("notice", "explicit", "off")
FALSE_WORDS = {"0", "false", "no", "off"}

# Full names as the phonenumbers geocoder writes a state ("Florida", "Washington State"),
# and the two-letter codes it writes after a city ("Los Angeles, CA").
STATE_NAMES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "District of Columbia": "DC",
    "Washington D.C.": "DC", "Washington DC": "DC", "Florida": "FL", "Georgia": "GA",
    "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL", "Indiana": "IN", "Iowa": "IA",
    "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME", "Maryland": "MD",
    "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN", "Mississippi": "MS",
    "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV",
    "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY",
    "North Carolina": "NC", "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK",
    "Oregon": "OR", "Pennsylvania": "PA", "Rhode Island": "RI", "South Carolina": "SC",
    "South Dakota": "SD", "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT",
    "Virginia": "VA", "Washington": "WA", "Washington State": "WA", "West Virginia": "WV",
    "Wisconsin": "WI", "Wyoming": "WY",
}  # fmt: skip
STATE_CODES = set(STATE_NAMES.values())


@dataclass(frozen=True)
class Decision:
    """What the call needs before it may be recorded.

    ``consent`` is what goes on the Call now: ``notified`` (the notice is enough) or
    ``not_recorded``; ``None`` while a yes is still to be asked (``ask``)."""

    consent: RecordingConsent | None
    rule: str
    ask: bool = False

    @property
    def recorded(self) -> bool:
        return self.consent in (RecordingConsent.NOTIFIED, RecordingConsent.GRANTED)


def enabled(config: Settings | Mapping[str, Any]) -> bool:
    """``RECORDING_ENABLED``: the typed settings' (parsed once at start-up), or from a
    mapping by name, a bool or a string ("false", "0")."""
    if isinstance(config, Settings):
        return config.recording_enabled
    value = config.get("RECORDING_ENABLED", True)
    if isinstance(value, str):
        return value.strip().lower() not in FALSE_WORDS
    return bool(value)


def all_party_states(config: Settings | Mapping[str, Any]) -> frozenset[str]:
    """``RECORDING_ALL_PARTY_STATES`` as a set of codes: the typed settings' (parsed and
    checked once at start-up), or from a mapping by name ("CA,FL" or a list), where words
    that are not a state's two-letter code are ignored."""
    if isinstance(config, Settings):
        return config.recording_all_party_states
    raw = config.get("RECORDING_ALL_PARTY_STATES") or ""
    if isinstance(raw, (list, tuple, set, frozenset)):
        parts = [str(p) for p in raw]
    else:
        parts = str(raw).split(",")
    return frozenset(p.strip().upper() for p in parts if p.strip().upper() in STATE_CODES)


def state_of(phone: str | None) -> str | None:
    """The US state of a number's area code ("CA"), or None: not a US geographic number
    (toll-free, foreign, a client identity, withheld) or not one the geocoder knows."""
    if not phone or not phone.startswith("+1") or len(phone) > 20:
        return None
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.region_code_for_number(number) != "US":
        return None
    place = geocoder.description_for_number(number, "en").strip()
    if not place:
        return None
    if place in STATE_NAMES:
        return STATE_NAMES[place]
    _, _, code = place.rpartition(", ")
    return code if code in STATE_CODES else None


def decide(
    config: Settings | Mapping[str, Any],
    *,
    phone: str | None,
    queue: str | None = None,
    queue_rule: str | None = "notice",
    emergency: bool = False,
) -> Decision:
    """The rule of the module docstring, for a caller (or called party) at ``phone``."""
    if not enabled(config):
        return Decision(RecordingConsent.NOT_RECORDED, "RECORDING_ENABLED is off")
    where = f"queue {queue}" if queue else "the call"
    rule = queue_rule if queue_rule in QUEUE_RULES else "notice"
    if rule == "off":
        return Decision(RecordingConsent.NOT_RECORDED, f"{where}: recording off")
    state = state_of(phone)
    if rule == "explicit":
        why = f"{where}: explicit consent"
    elif state is not None and state in all_party_states(config):
        why = f"state {state}: all-party consent"
    else:
        told = f"state {state}" if state else "state unknown"
        return Decision(RecordingConsent.NOTIFIED, f"{told}: notice played")
    if emergency:
        return Decision(RecordingConsent.NOT_RECORDED, f"{why}, emergency: not asked")
    return Decision(None, why, ask=True)


def answered(decision_rule: str, yes: bool) -> Decision:
    """The caller's answer to "press 1 to agree to recording"."""
    if yes:
        return Decision(RecordingConsent.GRANTED, f"{decision_rule}: said yes")
    return Decision(RecordingConsent.DECLINED, f"{decision_rule}: no yes")


def store(session: Session, call_sid: str | None, decision: Decision) -> None:
    """The decision on the Call (nothing while the yes is still to be asked)."""
    if not call_sid or decision.consent is None:
        return
    session.execute(
        update(Call)
        .where(Call.call_sid == call_sid[:64])
        .values(
            recording_consent=decision.consent, recording_consent_rule=decision.rule[:SHORT_LEN]
        )
    )
