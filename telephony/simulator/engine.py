"""The simulator's core: calls in simulated time, and their TwiML executed verb by verb.

Everything happens on the injected clock through one event heap, so a test can run a
twenty-minute call in milliseconds with ``advance()``, and the demo can run in real time.
TwiML is fetched with signed webhooks through a Transport and executed as Twilio documents
it; status callbacks carry SequenceNumber, Timestamp and CallbackSource.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import urljoin

from crm_core.clock import Clock
from telephony.simulator.parties import Party, Phone
from telephony.simulator.transport import Transport

log = logging.getLogger("callcenter.simulator")

API_VERSION = "2010-04-01"
SECONDS_PER_WORD = 0.4  # how long <Say> takes: about 150 words a minute
PLAY_SECONDS = 3.0  # the length assumed for a <Play> file
TERMINAL = {"completed", "busy", "failed", "no-answer", "canceled"}
EVENT_OF_STATUS = {"initiated": "initiated", "ringing": "ringing", "in-progress": "answered"}
HTTP_RETRIEVAL_FAILURE = "11200"
DOCUMENT_PARSE_FAILURE = "12100"


class SimulationError(Exception):
    pass


def sid(prefix: str, counter: itertools.count) -> str:
    return f"{prefix}{next(counter):032x}"


@dataclass
class Gather:
    attrs: dict[str, str]
    nested: list[ET.Element]
    digits: str = ""


@dataclass
class Record:
    attrs: dict[str, str]
    started: float
    audio: float = 0.0  # seconds of speech recorded so far
    last_audio_end: float | None = None


@dataclass
class Recording:
    sid: str
    account_sid: str
    call_sid: str
    duration: int
    channels: int
    source: str
    created_at: datetime
    status: str = "completed"
    deleted: bool = False


@dataclass
class SimCall:
    sid: str
    account_sid: str
    from_: str
    to: str
    direction: str
    created_at: datetime
    status: str = "queued"
    parent_sid: str | None = None
    url: str | None = None
    method: str = "POST"
    fallback_url: str | None = None
    status_callback: str | None = None
    events: set[str] = field(default_factory=lambda: {"completed"})
    timeout: float = 60.0
    start_time: datetime | None = None
    end_time: datetime | None = None
    party: Party | None = None
    program: list[ET.Element] = field(default_factory=list)
    doc_url: str | None = None
    sequence: int = 0
    token: int = 0
    gather: Gather | None = None
    record: Record | None = None
    in_fallback: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def ended(self) -> bool:
        return self.status in TERMINAL

    @property
    def answered(self) -> bool:
        return self.start_time is not None

    def duration(self) -> int:
        if self.start_time is None or self.end_time is None:
            return 0
        return int((self.end_time - self.start_time).total_seconds())


@dataclass
class Number:
    """An incoming phone number's configuration, as in the IncomingPhoneNumbers resource."""

    number: str
    voice_url: str
    voice_method: str = "POST"
    fallback_url: str | None = None
    status_callback: str | None = None


class Simulator:
    def __init__(
        self,
        *,
        clock: Clock,
        transport: Transport,
        account_sid: str,
        auth_token: str,
        api_base_url: str = "https://api.twilio.com",
    ) -> None:
        self.clock = clock
        self.transport = transport
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.api_base_url = api_base_url.rstrip("/")
        self.started = clock.now()
        self.lock = threading.RLock()
        self.calls: dict[str, SimCall] = {}
        self.recordings: dict[str, Recording] = {}
        self.messages: dict[str, dict[str, Any]] = {}
        self.numbers: dict[str, Number] = {}
        self.phones: dict[str, Phone] = {}
        self.errors: list[str] = []
        self._events: list[tuple[float, int, Callable[..., None], tuple]] = []
        self._order = itertools.count()
        self._sids = itertools.count(1)

    # ------------------------------------------------------------------ time
    def elapsed(self) -> float:
        return (self.clock.now() - self.started).total_seconds()

    def at(self, t: float, fn: Callable[..., None], *args: Any) -> None:
        with self.lock:
            heapq.heappush(self._events, (t, next(self._order), fn, args))

    def after(self, seconds: float, fn: Callable[..., None], *args: Any) -> None:
        self.at(self.elapsed() + max(seconds, 0.0), fn, *args)

    def advance(self, seconds: float) -> None:
        """Run everything due in the next ``seconds`` of simulated time (needs a ManualClock)."""
        target = self.elapsed() + seconds
        while True:
            with self.lock:
                if not self._events or self._events[0][0] > target:
                    break
                t, _, fn, args = heapq.heappop(self._events)
                if t > self.elapsed():
                    self.clock.set(self.started + _delta(t))
                fn(*args)
        if target > self.elapsed():
            self.clock.set(self.started + _delta(target))

    def run_due(self) -> None:
        """Run what is due now (real-time mode: a thread calls this with a SystemClock)."""
        while True:
            with self.lock:
                if not self._events or self._events[0][0] > self.elapsed():
                    return
                _, _, fn, args = heapq.heappop(self._events)
                fn(*args)

    def wake(self, party: Party, after: float = 0.0) -> None:
        self.after(after, party.resume)

    # ------------------------------------------------------------------ configuration
    def add_number(self, number: str, voice_url: str, **settings: Any) -> Number:
        self.numbers[number] = Number(number, voice_url, **settings)
        return self.numbers[number]

    def phone(self, address: str, **behaviour: Any) -> Phone:
        """How ``address`` (a number or ``client:identity``) answers calls placed to it."""
        self.phones[address] = Phone(address, **behaviour)
        return self.phones[address]

    # ------------------------------------------------------------------ calls
    def call(self, from_: str, to: str) -> Party:
        """An inbound call from a scripted caller to one of the configured numbers."""
        number = self.numbers.get(to)
        if number is None:
            raise SimulationError(f"{to} is not a configured number")
        with self.lock:
            call = SimCall(
                sid=sid("CA", self._sids),
                account_sid=self.account_sid,
                from_=from_,
                to=to,
                direction="inbound",
                created_at=self.clock.now(),
                status="ringing",
                url=number.voice_url,
                method=number.voice_method,
                fallback_url=number.fallback_url,
                status_callback=number.status_callback,
            )
            self.calls[call.sid] = call
            party = Party(self, f"caller {from_}")
            party.call = call
            call.party = party
            self.after(0, self._start_inbound, call)
            self.wake(party)
        return party

    def create_call(
        self,
        *,
        to: str,
        from_: str,
        url: str | None,
        twiml: str | None = None,
        method="POST",
        status_callback: str | None = None,
        events: set[str] | None = None,
        fallback_url: str | None = None,
        timeout: float = 60.0,
        parent_sid: str | None = None,
    ) -> SimCall:
        """An outbound call (the Calls resource): rings ``to`` and runs its TwiML on answer."""
        with self.lock:
            call = SimCall(
                sid=sid("CA", self._sids),
                account_sid=self.account_sid,
                from_=from_,
                to=to,
                direction="outbound-api" if parent_sid is None else "outbound-dial",
                created_at=self.clock.now(),
                url=url,
                method=method,
                fallback_url=fallback_url,
                status_callback=status_callback,
                events=events or {"completed"},
                timeout=timeout,
                parent_sid=parent_sid,
            )
            if twiml is not None:
                call.program = self._parse(twiml) or []
            self.calls[call.sid] = call
            self.after(0, self._dial_out, call)
        return call

    def _start_inbound(self, call: SimCall) -> None:
        if call.ended:
            return
        if self._fetch(call, call.url, {}) and call.program and call.program[0].tag == "Reject":
            reason = call.program[0].get("reason", "rejected")
            call.party and call.party.heard("reject", reason)
            self._end(call, "busy" if reason == "busy" else "no-answer")
            return
        self._answer(call)
        self._run(call)

    def _dial_out(self, call: SimCall) -> None:
        self._set_status(call, "initiated")
        self._set_status(call, "ringing")
        phone = self.phones.get(call.to)
        if phone is None or (phone.answer_after is None and not phone.reject):
            self.after(call.timeout, self._ring_out, call, call.token, "no-answer")
        elif phone.reject:
            self.after(min(1.0, call.timeout), self._ring_out, call, call.token, "busy")
        elif phone.answer_after > call.timeout:
            self.after(call.timeout, self._ring_out, call, call.token, "no-answer")
        else:
            self.after(phone.answer_after, self._answered_out, call, call.token, phone)

    def _ring_out(self, call: SimCall, token: int, status: str) -> None:
        if call.token == token and not call.ended:
            self._end(call, status)

    def _answered_out(self, call: SimCall, token: int, phone: Phone) -> None:
        if call.token != token or call.ended:
            return
        party = Party(self, f"callee {call.to}", steps=list(phone.script))
        party.call = call
        call.party = party
        self._answer(call)
        self.wake(party)
        if not call.program and call.url:
            self._fetch(call, call.url, {})
        self._run(call)

    def _answer(self, call: SimCall) -> None:
        call.start_time = self.clock.now()
        self._set_status(call, "in-progress")

    # ------------------------------------------------------------------ REST-side actions
    def redirect(self, call: SimCall, url: str, method: str = "POST") -> None:
        """Calls resource update with Url: stop what the call is doing, fetch new TwiML."""
        with self.lock:
            if call.ended:
                raise SimulationError("call is not in progress")
            call.token += 1
            call.gather = call.record = None
            call.program = []
            self.after(0, self._redirect_now, call, call.token, url, method)

    def _redirect_now(self, call: SimCall, token: int, url: str, method: str) -> None:
        if call.token == token and not call.ended:
            call.method = method
            self._fetch(call, url, {})
            self._run(call)

    def end_call(self, call: SimCall, status: str) -> None:
        """Calls resource update with Status: canceled (not yet answered) or completed."""
        with self.lock:
            if call.ended:
                return
            if status == "canceled" and call.answered:
                raise SimulationError("an answered call can only be completed")
            self._end(call, status if not call.answered else "completed")

    # ------------------------------------------------------------------ party input
    def dtmf(self, call: SimCall, digits: str) -> None:
        with self.lock:
            for digit in digits:
                if call.ended:
                    return
                if call.record is not None:
                    if digit in call.record.attrs.get("finishOnKey", "1234567890*#"):
                        self._finish_record(call, digit)
                    continue
                gather = call.gather
                if gather is None or "dtmf" not in gather.attrs.get("input", "dtmf"):
                    continue  # outside <Gather> key presses are not collected
                call.token += 1  # stops the prompt (barge-in) and restarts the timeout
                gather.nested = []
                if digit == gather.attrs.get("finishOnKey", "#"):
                    self._submit_gather(call, finished_on_key=digit)
                    return
                gather.digits += digit
                wanted = gather.attrs.get("numDigits")
                if wanted and wanted.isdigit() and len(gather.digits) >= int(wanted):
                    self._submit_gather(call)
                    return
                self.after(
                    _number(gather.attrs.get("timeout"), 5), self._gather_timeout, call, call.token
                )

    def speech(self, call: SimCall, text: str) -> None:
        with self.lock:
            gather = call.gather
            if call.ended or gather is None or "speech" not in gather.attrs.get("input", "dtmf"):
                return
            call.token += 1
            self._submit_gather(call, speech=text)

    def talking(self, call: SimCall, seconds: float) -> None:
        with self.lock:
            record = call.record
            if record is None or call.ended:
                return
            limit = _number(record.attrs.get("maxLength"), 3600)
            spoken = min(seconds, limit - record.audio)
            record.audio += spoken
            record.last_audio_end = self.elapsed() + spoken
            call.token += 1
            if record.audio >= limit:
                self.after(spoken, self._finish_record_if, call, call.token, None)
            else:  # after speech, `timeout` seconds of silence end the recording
                silence = _number(record.attrs.get("timeout"), 5)
                self.after(spoken + silence, self._finish_record_if, call, call.token, None)

    def hang_up_by_party(self, call: SimCall) -> None:
        with self.lock:
            if call.ended:
                return
            if call.record is not None:
                self._finish_record(call, "hangup")
            self._end(call, "completed" if call.answered else "canceled")

    # ------------------------------------------------------------------ TwiML
    def _params(self, call: SimCall) -> dict[str, str]:
        params = {
            "CallSid": call.sid,
            "AccountSid": call.account_sid,
            "From": call.from_,
            "To": call.to,
            "Caller": call.from_,
            "Called": call.to,
            "CallStatus": call.status,
            "ApiVersion": API_VERSION,
            "Direction": call.direction,
        }
        if call.parent_sid:
            params["ParentCallSid"] = call.parent_sid
        return params

    def _post(self, url: str, params: dict[str, str]):
        return self.transport.post(url, params, self.auth_token)

    def _parse(self, body: bytes | str) -> list[ET.Element] | None:
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            return None
        return list(root) if root.tag == "Response" else None

    def _fetch(self, call: SimCall, url: str | None, extra: dict[str, str]) -> bool:
        """Fetch TwiML into the call's program; on failure, the fallback URL, then an error."""
        if url is None:
            call.program = []
            return False
        reply = self._post(url, self._params(call) | extra)
        program = self._parse(reply.body) if reply.status == 200 else None
        if program is not None:
            call.program, call.doc_url = program, url
            return True
        code = HTTP_RETRIEVAL_FAILURE if reply.status != 200 else DOCUMENT_PARSE_FAILURE
        message = f"{code} on {url}: HTTP {reply.status} {reply.body[:200]!r}"
        call.errors.append(message)
        self.errors.append(f"{call.sid}: {message}")
        log.warning("call %s: %s", call.sid, message)
        if call.fallback_url and not call.in_fallback:
            call.in_fallback = True
            return self._fetch(call, call.fallback_url, {"ErrorCode": code, "ErrorUrl": url})
        call.program = self._parse(
            "<Response><Say>An application error has occurred. Goodbye.</Say><Hangup/></Response>"
        )  # what Twilio plays when nothing else can be done
        return False

    def _run(self, call: SimCall) -> None:
        while call.program and not call.ended:
            verb = call.program.pop(0)
            handler = getattr(self, f"_verb_{verb.tag.lower()}", None)
            if handler is None:
                call.errors.append(f"unsupported verb <{verb.tag}> skipped")
                continue
            if handler(call, verb):
                return  # the verb continues later (a timer, input, or a new document)
        if not call.ended and call.record is None and call.gather is None:
            self._end(call, "completed")  # no more verbs: Twilio hangs up

    def _continue(self, call: SimCall, token: int) -> None:
        if call.token == token and not call.ended:
            self._run(call)

    def _hear(self, call: SimCall, kind: str, text: str, seconds: float = 0.0) -> None:
        if call.party is not None:
            call.party.heard(kind, text, seconds)

    def _speak_seconds(self, verb: ET.Element) -> tuple[str, float]:
        text = " ".join((verb.text or "").split())
        loops = int(_number(verb.get("loop"), 1)) or 1
        return text, max(1.0, len(text.split()) * SECONDS_PER_WORD) * loops

    def _verb_say(self, call: SimCall, verb: ET.Element) -> bool:
        text, seconds = self._speak_seconds(verb)
        self._hear(call, "say", text, seconds)
        self.after(seconds, self._continue, call, call.token)
        return True

    def _verb_play(self, call: SimCall, verb: ET.Element) -> bool:
        loops = int(_number(verb.get("loop"), 1)) or 1
        self._hear(call, "play", (verb.text or "").strip(), PLAY_SECONDS * loops)
        self.after(PLAY_SECONDS * loops, self._continue, call, call.token)
        return True

    def _verb_pause(self, call: SimCall, verb: ET.Element) -> bool:
        self.after(_number(verb.get("length"), 1), self._continue, call, call.token)
        return True

    def _verb_hangup(self, call: SimCall, verb: ET.Element) -> bool:
        self._end(call, "completed")
        return True

    def _verb_reject(self, call: SimCall, verb: ET.Element) -> bool:
        self._end(call, "completed" if call.answered else "busy")
        return True

    def _verb_redirect(self, call: SimCall, verb: ET.Element) -> bool:
        url = _absolute((verb.text or "").strip(), call.doc_url)
        call.token += 1
        self.after(0, self._redirect_now, call, call.token, url, verb.get("method", "POST"))
        return True

    # <Gather>: nested Say/Play/Pause play in turn; input stops them; then `timeout` seconds.
    def _verb_gather(self, call: SimCall, verb: ET.Element) -> bool:
        call.gather = Gather(dict(verb.attrib), list(verb))
        self._gather_step(call, call.token)
        return True

    def _gather_step(self, call: SimCall, token: int) -> None:
        gather = call.gather
        if call.token != token or call.ended or gather is None:
            return
        if gather.nested:
            nested = gather.nested.pop(0)
            if nested.tag == "Say":
                text, seconds = self._speak_seconds(nested)
                self._hear(call, "say", text, seconds)
            elif nested.tag == "Play":
                seconds = PLAY_SECONDS
                self._hear(call, "play", (nested.text or "").strip(), seconds)
            else:
                seconds = _number(nested.get("length"), 1)
            self.after(seconds, self._gather_step, call, token)
            return
        self.after(_number(gather.attrs.get("timeout"), 5), self._gather_timeout, call, token)

    def _gather_timeout(self, call: SimCall, token: int) -> None:
        if call.token == token and not call.ended and call.gather is not None:
            self._submit_gather(call)

    def _submit_gather(
        self, call: SimCall, *, speech: str | None = None, finished_on_key: str | None = None
    ) -> None:
        gather, call.gather = call.gather, None
        call.token += 1
        empty = not gather.digits and speech is None
        if empty and gather.attrs.get("actionOnEmptyResult", "false") != "true":
            self.after(0, self._continue, call, call.token)  # no input: the next verb
            return
        extra = {"Digits": gather.digits}
        if finished_on_key is not None:
            extra["FinishedOnKey"] = finished_on_key
        if speech is not None:
            extra = {"SpeechResult": speech, "Confidence": "0.92"}
        url = _absolute(gather.attrs.get("action") or call.doc_url or "", call.doc_url)
        self.after(0, self._action, call, call.token, url, extra)

    def _action(self, call: SimCall, token: int, url: str, extra: dict[str, str]) -> None:
        if call.token == token and not call.ended:
            call.status = "in-progress"
            self._fetch(call, url, extra)
            self._run(call)

    # <Record>: a beep, then audio until silence, a finish key, maxLength or hang-up.
    def _verb_record(self, call: SimCall, verb: ET.Element) -> bool:
        if verb.get("playBeep", "true") == "true":
            self._hear(call, "beep", "")
        call.record = Record(dict(verb.attrib), started=self.elapsed())
        silence = _number(verb.get("timeout"), 5)
        self.after(silence, self._finish_record_if, call, call.token, None)
        return True

    def _finish_record_if(self, call: SimCall, token: int, digits: str | None) -> None:
        if call.token == token and call.record is not None and not call.ended:
            self._finish_record(call, digits)

    def _finish_record(self, call: SimCall, digits: str | None) -> None:
        record, call.record = call.record, None
        call.token += 1
        if record.audio <= 0:
            self.after(0, self._continue, call, call.token)  # nothing recorded: next verb
            return
        recording = Recording(
            sid=sid("RE", self._sids),
            account_sid=call.account_sid,
            call_sid=call.sid,
            duration=max(1, round(record.audio)),
            channels=1,
            source="RecordVerb",
            created_at=self.clock.now(),
        )
        self.recordings[recording.sid] = recording
        url = self.recording_url(recording)
        extra = {
            "RecordingUrl": url,
            "RecordingSid": recording.sid,
            "RecordingDuration": str(recording.duration),
        }
        if digits is not None:
            extra["Digits"] = digits
        callback = record.attrs.get("recordingStatusCallback")
        if callback:
            self.after(
                0,
                self._post_quietly,
                _absolute(callback, call.doc_url),
                {
                    "AccountSid": call.account_sid,
                    "CallSid": call.sid,
                    "RecordingSid": recording.sid,
                    "RecordingUrl": url,
                    "RecordingStatus": "completed",
                    "RecordingDuration": str(recording.duration),
                    "RecordingChannels": "1",
                    "RecordingSource": "RecordVerb",
                    "RecordingStartTime": format_datetime(recording.created_at, usegmt=True),
                },
            )
        action = _absolute(record.attrs.get("action") or call.doc_url or "", call.doc_url)
        if digits == "hangup":  # the action is requested, its TwiML ignored
            self._post_quietly(action, self._params(call) | extra)
        else:
            self.after(0, self._action, call, call.token, action, extra)

    def recording_url(self, recording: Recording) -> str:
        """Where the media is served (the REST API), without extension, as Twilio sends it."""
        base = f"{self.api_base_url}/{API_VERSION}/Accounts/{recording.account_sid}"
        return f"{base}/Recordings/{recording.sid}"

    def _post_quietly(self, url: str, params: dict[str, str]) -> None:
        reply = self._post(url, params)
        if reply.status >= 400 or reply.status == 0:
            self.errors.append(f"callback {url} answered {reply.status}")

    # ------------------------------------------------------------------ status
    def _set_status(self, call: SimCall, status: str) -> None:
        call.status = status
        event = "completed" if status in TERMINAL else EVENT_OF_STATUS.get(status)
        if not call.status_callback or event not in call.events:
            return
        params = self._params(call) | {
            "SequenceNumber": str(call.sequence),
            "Timestamp": format_datetime(self.clock.now().replace(microsecond=0), usegmt=True),
            "CallbackSource": "call-progress-events",
        }
        call.sequence += 1
        if status in TERMINAL:
            params["CallDuration"] = str(call.duration())
            params["Duration"] = str((call.duration() + 59) // 60)
        self.after(0, self._post_quietly, call.status_callback, params)

    def _end(self, call: SimCall, status: str) -> None:
        if call.ended:
            return
        call.token += 1
        call.gather = None
        call.program = []
        call.end_time = self.clock.now()
        self._set_status(call, status)
        if call.party is not None:
            call.party.did("call ended", status)
            self.wake(call.party)


def _number(value: str | None, default: float) -> float:
    try:
        number = float(value) if value not in (None, "") else float(default)
    except ValueError:
        return float(default)
    return number if number >= 0 else float(default)


def _absolute(url: str, base: str | None) -> str:
    return urljoin(base or "", url)


def _delta(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)
