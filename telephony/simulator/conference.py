"""<Dial><Conference> and conference participants, as Twilio documents them.

A conference is created by its friendly name on first join and starts when a participant
with ``startConferenceOnEnter`` (the default) is in; until then participants hear the
``waitUrl`` TwiML, requested again when it runs out. It ends when a participant with
``endConferenceOnExit`` leaves, when the last one leaves, or through the REST API; then
each TwiML participant goes on after its <Dial> (the action gets DialCallStatus
completed) and each participant added through the REST API is hung up. Participants can
be muted, held (hearing ``HoldUrl``), or coach another participant (heard only by that
participant). Conference status callbacks carry StatusCallbackEvent and SequenceNumber.
The audio itself is not mixed: who could hear whom is state, reported, not sound.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from email.utils import format_datetime
from typing import TYPE_CHECKING

from telephony.simulator.model import Dialing, Participant, SimCall, SimConference, sid
from telephony.simulator.model import absolute as _absolute

if TYPE_CHECKING:
    from telephony.simulator.engine import Simulator

DEFAULT_MUSIC = "<Response><Play>http://twimlets.com/holdmusic?Bucket=com.twilio.music.classical</Play></Response>"
EVENT_TOKEN = {
    "conference-start": "start",
    "conference-end": "end",
    "participant-join": "join",
    "participant-leave": "leave",
    "participant-mute": "mute",
    "participant-unmute": "mute",
    "participant-hold": "hold",
    "participant-unhold": "hold",
    "participant-modify": "modify",
}


def _flag(value: str | None, default: bool) -> bool:
    return default if value is None else value.strip().lower() == "true"


class Conferences:
    """Mixed into Simulator."""

    def conference(
        self: Simulator, name_or_sid: str, *, create: bool = True
    ) -> SimConference | None:
        for conf in self.conferences.values():
            if conf.status != "completed" and name_or_sid in (conf.sid, conf.name):
                return conf
        if not create or name_or_sid.startswith("CF"):
            return None
        conf = SimConference(sid("CF"), name_or_sid, self.clock.now())
        self.conferences[conf.sid] = conf
        return conf

    def _verb_dial_conference(
        self: Simulator, call: SimCall, verb: ET.Element, noun: ET.Element
    ) -> bool:
        conf = self.conference((noun.text or "").strip() or call.sid)
        if not conf.participants and noun.get("statusCallback"):
            conf.status_callback = _absolute(noun.get("statusCallback"), call.doc_url)
            conf.events = set((noun.get("statusCallbackEvent") or "start end").split())
        call.dialing = Dialing(dict(verb.attrib), call.doc_url, list(call.program), self.elapsed())
        call.dialing.conference = conf
        call.program = []
        wait = noun.get("waitUrl")
        self._join(
            call,
            conf,
            {
                "Muted": noun.get("muted"),
                "StartConferenceOnEnter": noun.get("startConferenceOnEnter"),
                "EndConferenceOnExit": noun.get("endConferenceOnExit"),
                "CallSidToCoach": noun.get("coach"),
                "WaitUrl": _absolute(wait, call.doc_url) if wait else None,
            },
        )
        self._dial_record(call, "answer")  # in the conference: the <Dial> is answered
        return True

    def _join(self: Simulator, call: SimCall, conf: SimConference, attrs: dict) -> Participant:
        coach = attrs.get("CallSidToCoach") or None
        participant = Participant(
            call=call,
            joined_at=self.clock.now(),
            muted=_flag(attrs.get("Muted"), False),
            start_on_enter=_flag(attrs.get("StartConferenceOnEnter"), True),
            end_on_exit=_flag(attrs.get("EndConferenceOnExit"), False),
            coaching=coach is not None or _flag(attrs.get("Coaching"), False),
            call_sid_to_coach=coach,
            wait_url=attrs.get("WaitUrl"),
            label=attrs.get("Label"),
        )
        conf.participants[call.sid] = participant
        call.conference = conf
        if call.party is not None:
            call.party.did("joined conference", conf.name)
        self._conference_event(conf, "participant-join", participant)
        if conf.status != "in-progress" and participant.start_on_enter:
            conf.status = "in-progress"
            self._conference_event(conf, "conference-start")
            for other in conf.participants.values():
                self._stop_music(other.call)
                self._hear(other.call, "beep", "")
        elif conf.status != "in-progress":
            self._music(call, call.token, participant.wait_url)
        else:
            self._hear(call, "beep", "")
        return participant

    def _music(self: Simulator, call: SimCall, token: int, url: str | None) -> None:
        """Wait or hold music: the TwiML at ``url`` (or Twilio's), over and over."""
        if call.token != token or call.ended or call.conference is None:
            return
        if url:
            self._fetch(call, url, {"ConferenceSid": call.conference.sid})
        else:
            call.program = self._parse(DEFAULT_MUSIC)
        self._run(call)

    def _stop_music(self: Simulator, call: SimCall) -> None:
        call.token += 1
        call.program = []
        call.gather = None

    def _music_ended(self: Simulator, call: SimCall) -> None:
        """Called by ``_run`` when a conference participant's program runs out."""
        conf = call.conference
        participant = conf.participants.get(call.sid) if conf else None
        if participant is None:
            return
        if participant.hold:
            self.after(1.0, self._music, call, call.token, participant.hold_url)
        elif conf.status != "in-progress":
            self.after(1.0, self._music, call, call.token, participant.wait_url)

    def update_participant(
        self: Simulator, conf: SimConference, participant: Participant, form
    ) -> None:
        """The Participants resource update: Muted, Hold/HoldUrl, EndConferenceOnExit,
        AnnounceUrl, Coaching/CallSidToCoach."""
        if "Muted" in form and _flag(form["Muted"], False) != participant.muted:
            participant.muted = not participant.muted
            event = "participant-mute" if participant.muted else "participant-unmute"
            self._conference_event(conf, event, participant)
        if "Hold" in form and _flag(form["Hold"], False) != participant.hold:
            participant.hold = not participant.hold
            participant.hold_url = form.get("HoldUrl") or None
            call = participant.call
            self._stop_music(call)
            if participant.hold:
                self._music(call, call.token, participant.hold_url)
            self._conference_event(
                conf, "participant-hold" if participant.hold else "participant-unhold", participant
            )
        if "EndConferenceOnExit" in form:
            participant.end_on_exit = _flag(form["EndConferenceOnExit"], False)
            self._conference_event(conf, "participant-modify", participant)
        if form.get("AnnounceUrl"):  # fetched as Twilio does, a moment after the update
            self.after(0, self._announce, participant, form["AnnounceUrl"])
        if "Coaching" in form or "CallSidToCoach" in form:
            participant.coaching = _flag(form.get("Coaching"), participant.coaching)
            participant.call_sid_to_coach = form.get("CallSidToCoach") or (
                participant.call_sid_to_coach if participant.coaching else None
            )
            self._conference_event(conf, "participant-modify", participant)

    def _announce(self: Simulator, participant: Participant, url: str) -> None:
        """The participant alone hears the announcement's <Play> (``digits``: DTMF tones),
        <Say> and <Pause> in turn; the conference and the participant's state go on."""
        call = participant.call
        if call.ended or call.conference is None:
            return
        params = self._params(call) | {"ConferenceSid": call.conference.sid}
        reply = self._post(url, params)
        verbs = self._parse(reply.body, call, url) if reply.status == 200 else None
        if verbs is None:
            self.errors.append(f"{call.sid}: announcement {url} answered {reply.status}")
            return
        self._announce_next(call, verbs)

    def _announce_next(self: Simulator, call: SimCall, verbs: list[ET.Element]) -> None:
        if not verbs or call.ended:
            return
        verb, rest = verbs[0], verbs[1:]
        if verb.tag == "Play" and verb.get("digits"):
            digits = verb.get("digits", "")
            seconds = 0.1 * len(digits) + 0.5 * digits.count("w")
            end = self._hear(call, "digits", digits, seconds)
        elif verb.tag == "Say":
            text, seconds = self._speak_seconds(verb)
            end = self._hear(call, "say", text, seconds)
        elif verb.tag == "Play":
            end = self._hear(call, "play", (verb.text or "").strip(), 1.0)
        else:
            end = self.elapsed() + float(verb.get("length") or 1)
        self.at(end, self._announce_next, call, rest)

    def remove_participant(self: Simulator, conf: SimConference, call: SimCall) -> None:
        """Kicked through the REST API: a TwiML participant goes on after its <Dial>."""
        self._leave(call, conf)
        if call.dialing is not None and call.dialing.conference is conf:
            self._dial_done(call, "completed")
        elif not call.ended:
            self._end(call, "completed")

    def end_conference(self: Simulator, conf: SimConference, reason: str, by: str | None) -> None:
        if conf.status == "completed":
            return
        conf.status = "completed"
        conf.reason_ended, conf.call_sid_ending = reason, by
        for participant in list(conf.participants.values()):
            self.remove_participant(conf, participant.call)
        self._conference_event(conf, "conference-end")

    def _leave(self: Simulator, call: SimCall, conf: SimConference) -> None:
        participant = conf.participants.pop(call.sid, None)
        call.conference = None
        if participant is None:
            return
        participant.status = "complete"
        self._stop_music(call) if not call.ended else None
        self._conference_event(conf, "participant-leave", participant)
        if conf.status == "completed":
            return
        if participant.end_on_exit and conf.status == "in-progress":
            self.end_conference(conf, "participant-with-end-conference-on-exit-left", call.sid)
        elif not conf.participants:
            self.end_conference(conf, "last-participant-left", call.sid)

    def _left_by_hangup(self: Simulator, call: SimCall) -> None:
        """Called by ``_end``: a participant's call ended."""
        conf = call.conference
        if conf is not None:
            self._leave(call, conf)
        if call.dialing is not None and call.dialing.conference is not None:
            self._dial_done(call, "completed")

    def _conference_event(
        self: Simulator, conf: SimConference, event: str, participant: Participant | None = None
    ) -> None:
        if not conf.status_callback or EVENT_TOKEN[event] not in conf.events:
            return
        params = {
            "AccountSid": self.account_sid,
            "ConferenceSid": conf.sid,
            "FriendlyName": conf.name,
            "StatusCallbackEvent": event,
            "SequenceNumber": str(conf.sequence),
            "Timestamp": format_datetime(self.clock.now().replace(microsecond=0), usegmt=True),
        }
        conf.sequence += 1
        if participant is not None:
            params |= {
                "CallSid": participant.call.sid,
                "Muted": str(participant.muted).lower(),
                "Hold": str(participant.hold).lower(),
                "Coaching": str(participant.coaching).lower(),
                "EndConferenceOnExit": str(participant.end_on_exit).lower(),
                "StartConferenceOnEnter": str(participant.start_on_enter).lower(),
            }
            if participant.call_sid_to_coach:
                params["CallSidToCoach"] = participant.call_sid_to_coach
        if event == "conference-end":
            params["ReasonConferenceEnded"] = conf.reason_ended or ""
            if conf.call_sid_ending:
                params["CallSidEndingConference"] = conf.call_sid_ending
        self.after(0, self._post_quietly, conf.status_callback, params)
