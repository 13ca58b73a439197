"""The simulator's core: calls in simulated time (their TwiML runs in verbs.py).

Everything happens on the injected clock through one event heap, so a test can run a
twenty-minute call in milliseconds with ``advance()``, and the demo can run in real time.
TwiML is fetched with signed webhooks through a Transport and executed as Twilio documents
it; status callbacks carry SequenceNumber, Timestamp and CallbackSource.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Callable
from email.utils import format_datetime
from typing import Any, cast

from telephony.simulator.clock import Clock, SettableClock
from telephony.simulator.conference import Conferences
from telephony.simulator.dial import Dial
from telephony.simulator.dial_queue import DialQueue
from telephony.simulator.errors import SimulationError
from telephony.simulator.messaging import Messaging
from telephony.simulator.model import (
    EVENT_OF_STATUS,
    TERMINAL,
    Notification,
    Number,
    Recording,
    SimCall,
    SimConference,
    SimQueue,
    Transcription,
    sid,
)
from telephony.simulator.model import delta as _delta
from telephony.simulator.parties import Party, Phone
from telephony.simulator.queues import Queues
from telephony.simulator.recordings import Recordings
from telephony.simulator.softphones import Softphones
from telephony.simulator.transport import SimulatorLock, Transport
from telephony.simulator.verbs import Verbs

log = logging.getLogger("callcenter.simulator")


class Simulator(Verbs, Queues, Dial, DialQueue, Conferences, Recordings, Messaging):
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
        self.lock = SimulatorLock()  # let go while a webhook is out (transport.py)
        self.calls: dict[str, SimCall] = {}
        self.recordings: dict[str, Recording] = {}
        self.transcriptions: dict[str, Transcription] = {}
        self.messages: dict[str, dict[str, Any]] = {}
        self._opt_outs: set[tuple[str, str]] = set()  # (number, recipient) after STOP
        self.numbers: dict[str, Number] = {}
        self.queues: dict[str, SimQueue] = {}
        self.conferences: dict[str, SimConference] = {}
        self.phones: dict[str, Phone] = {}
        self.softphones = Softphones(self)  # browser devices (the page's SimDevice)
        self.errors: list[str] = []
        self.notifications: list[Notification] = []  # Twilio's debugger: 11200, 12100, 12200…
        self._events: list[tuple[float, int, Callable[..., None], tuple]] = []
        self._order = itertools.count()

    # ------------------------------------------------------------------ time
    def elapsed(self) -> float:
        return (self.clock.now() - self.started).total_seconds()

    def at(self, t: float, fn: Callable[..., None], *args: Any) -> None:
        with self.lock:
            heapq.heappush(self._events, (t, next(self._order), fn, args))

    def after(self, seconds: float, fn: Callable[..., None], *args: Any) -> None:
        self.at(self.elapsed() + max(seconds, 0.0), fn, *args)

    def advance(self, seconds: float) -> None:
        """Run everything due in the next ``seconds`` of simulated time (needs a clock that
        can be set, such as a ManualClock)."""
        clock = cast(SettableClock, self.clock)
        target = self.elapsed() + seconds
        while True:
            with self.lock:
                if not self._events or self._events[0][0] > target:
                    break
                t, _, fn, args = heapq.heappop(self._events)
                if t > self.elapsed():
                    clock.set(self.started + _delta(t))
                fn(*args)
        if target > self.elapsed():
            clock.set(self.started + _delta(target))

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
                sid=sid("CA"),
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
                sid=sid("CA"),
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
                call.program = self._parse(twiml, call) or []
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
        if phone is None:
            self.softphones.rang(call)  # a browser softphone may answer before the timeout
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
        party = Party(self, f"callee {call.to}", steps=list(phone.steps))
        party.call = call
        call.party = party
        phone.answered.append(party)
        self._answer(call)
        self.wake(party)
        if call.joins is not None:  # a participant added through the REST API
            conference, attrs = call.joins
            self._join(call, conference, attrs)
            return
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
            if call.queued is not None:
                self._leave_queue(call, "redirected")
            call.token += 1
            call.gather = call.record = None
            call.program = []
            self._drop_dial(call)
            self.after(0, self._redirect_now, call, call.token, url, method)

    def _drop_dial(self, call: SimCall) -> None:
        """A redirected call stops its <Dial> as Twilio does: it leaves its conference (the
        others are told; end-conference-on-exit applies), its other legs hang up, and the
        Dial's action is not requested (the new TwiML replaces the document)."""
        if call.conference is not None:
            self._leave(call, call.conference)
        dialing, call.dialing = call.dialing, None
        if dialing is not None:
            self._drop_legs(call, dialing)

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
            # Either status hangs up a call that is still queued or ringing: it was canceled.
            self._end(call, "completed" if call.answered else "canceled")

    def replace_twiml(self, call: SimCall, twiml: str) -> None:
        """Calls resource update with Twiml: run this document instead, now."""
        program = self._parse(twiml, call)
        if program is None:
            raise SimulationError("invalid TwiML")
        if call.queued is not None:
            self._leave_queue(call, "redirected")
        call.token += 1
        call.gather = call.record = None
        call.program = program
        self.after(0, self._continue, call, call.token)

    # ------------------------------------------------------------------ party input
    def hang_up_by_party(self, call: SimCall) -> None:
        with self.lock:
            if call.ended:
                return
            if call.record is not None:
                self._finish_record(call, "hangup")
            self._end(call, "completed" if call.answered else "canceled")

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
        if call.queued is not None:
            self._leave_queue(call, "hangup")
        call.token += 1
        was_dialing = call.dialing is not None
        call.gather = None
        call.program = []
        call.end_time = self.clock.now()
        for recording in self.recordings.values():
            if recording.call_sid == call.sid and recording.status in ("in-progress", "paused"):
                self.set_recording_status(recording, "stopped", "skip")
        self._set_status(call, status)
        if call.party is not None:
            call.party.did("call ended", status)
            self.wake(call.party)
        if call.conference is not None or (call.dialing is not None and call.dialing.conference):
            self._left_by_hangup(call)
        if was_dialing and call.dialing is not None:
            self._abort_dial(call)
        if call.dequeued is not None:  # taken from a queue by <Dial><Queue>
            self._release_dequeued(call)
        if call.dial_parent is not None:
            self._leg_ended(call)
