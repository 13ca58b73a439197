"""Browser softphones on the local carrier: what ``Twilio.Device`` is to Twilio.

In simulator mode the agent's page (console/static/softphone.js, ``SimDevice``) has no
WebRTC to talk to, so it speaks this small HTTP API instead, with the same short-lived
access token the app hands out for Twilio (the simulator checks it as Twilio would:
tokens.py; a device acts as exactly one ``client:<identity>`` and only on calls to or from
it):

    POST /simulator/softphone/register            → {"identity", "address", "cursor"}
    POST /simulator/softphone/unregister
    GET  /simulator/softphone/events?after=N&wait=S   long-poll → {"events": [...], "cursor"}
    POST /simulator/softphone/calls               {"params": {"To": "+1…", …}} = Device.connect
    POST /simulator/softphone/calls/<sid>/accept | reject | hangup
    POST /simulator/softphone/calls/<sid>/digits  {"digits": "12#"}
    POST /simulator/softphone/calls/<sid>/mute    {"muted": true}

Every request carries ``Authorization: Bearer <token>`` (so a long-poll, not EventSource,
which cannot set headers); answers are CORS-open because the token, not a cookie, is the
credential. Errors are Twilio's JSON (``{"code", "message", "more_info", "status"}``).

A call to a ``client:`` address nobody scripted (``sim.phone``) rings as before, for its
timeout, then is no-answer; the engine tells this module it rang (``rang``), and a registered
device learns of it on its next poll. The device's actions are scheduled on the simulator's
event heap (``after(0, …)``), as the carrier would do them a moment later: the HTTP request
never runs a webhook while holding ``sim.lock``, so the embedded simulator cannot deadlock
on the app it is calling. Events are found by comparing each call with what the device was
last told (status, what its party heard), so nothing in the engine has to remember devices.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, g, jsonify, request

from telephony.simulator import tokens
from telephony.simulator.errors import InvalidToken
from telephony.simulator.model import SimCall, sid
from telephony.simulator.parties import Party, Phone

if TYPE_CHECKING:
    from telephony.simulator.engine import Simulator

PREFIX = "/simulator/softphone"
WAIT_DEFAULT, WAIT_MAX = 20.0, 25.0  # seconds a long-poll may hold (under proxies' 30 s)
POLL_SECONDS = 0.05  # how often a held poll looks again
KEEP_EVENTS = 200  # per device; a page that falls further behind only misses old news
DIGITS = re.compile(r"^[0-9*#w]{1,32}$")  # what Call.sendDigits accepts ("w": half a second)
PARAM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
MAX_PARAMS, MAX_VALUE = 20, 512
HEARD = ("heard say", "heard play")


@dataclass
class Device:
    """One registered ``client:<identity>``: every tab of that agent shares it."""

    address: str
    seq: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    calls: dict[str, SimCall] = field(default_factory=dict)  # live calls to or from it
    told: dict[str, tuple[str, int]] = field(default_factory=dict)  # sid → (status, heard)
    muted: set[str] = field(default_factory=set)
    rejected: set[str] = field(default_factory=set)
    accepted: set[str] = field(default_factory=set)  # answering: a second accept is a 409


class Softphones:
    """The simulator's registry of browser devices (``sim.softphones``)."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.devices: dict[str, Device] = {}
        self.rung: dict[str, list[SimCall]] = {}  # client address → calls that rang it
        self.app_url: str | None = None  # the TwiML App's Voice URL (/twilio/client)
        self.app_status_callback: str | None = None

    def configure(self, *, app_url: str, status_callback: str | None = None) -> None:
        self.app_url, self.app_status_callback = app_url, status_callback

    # ------------------------------------------------------------------ engine side
    def rang(self, call: SimCall) -> None:
        """The engine rang ``call.to`` with no scripted phone there: a browser may answer."""
        if call.to.startswith("client:"):
            live = [c for c in self.rung.get(call.to, []) if not c.ended]
            self.rung[call.to] = [*live, call]

    # ------------------------------------------------------------------ device side
    def register(self, address: str) -> tuple[Device, int]:
        """The device, and the cursor to poll from: calls ringing now are announced anew,
        so a page reloaded while its phone rings still sees the call."""
        device = self.devices.setdefault(address, Device(address))
        cursor = device.seq
        for call in device.calls.values():
            if not call.ended and not call.answered and call.to == address:
                self._emit(device, "incoming", call)
        return device, cursor

    def track(self, device: Device, call: SimCall) -> None:
        """Follow ``call`` for ``device`` from now on (acting on it before a poll saw it)."""
        if not call.ended and call.sid not in device.calls:
            device.calls[call.sid] = call
            device.told[call.sid] = (call.status, 0)

    def sync(self, device: Device) -> None:
        """Tell ``device`` what changed since it was last told (under ``sim.lock``)."""
        for call in self.rung.get(device.address, []):
            if call.sid not in device.calls and not call.ended and not call.answered:
                device.calls[call.sid] = call
                device.told[call.sid] = (call.status, 0)
                self._emit(device, "incoming", call)
        for call_sid, call in list(device.calls.items()):
            status, heard = device.told.get(call_sid, ("", 0))
            party = call.party
            transcript = party.transcript if party is not None else []
            for _, kind, text in transcript[heard:]:
                if kind in HEARD:
                    self._emit(device, "heard", call, kind=kind.split()[1], text=text)
            if call.status != status:
                self._emit(device, "status", call)
            device.told[call_sid] = (call.status, len(transcript))
            if call.ended:
                del device.calls[call_sid]
                device.told.pop(call_sid, None)
                for marks in (device.muted, device.rejected, device.accepted):
                    marks.discard(call_sid)

    def _emit(self, device: Device, event_type: str, call: SimCall, **extra: Any) -> None:
        device.seq += 1
        event = {
            "seq": device.seq,
            "type": event_type,
            "call": self.call_json(device, call),
            **extra,
        }
        device.events = [*device.events[-(KEEP_EVENTS - 1) :], event]

    def call_json(self, device: Device, call: SimCall) -> dict[str, Any]:
        return {
            "sid": call.sid,
            "status": call.status,
            "direction": "incoming" if call.to == device.address else "outgoing",
            "from": call.from_,
            "to": call.to,
            "muted": call.sid in device.muted,
            "rejected": call.sid in device.rejected,
        }

    # ------------------------------------------------------------------ actions
    def accept(self, device: Device, call: SimCall) -> None:
        device.accepted.add(call.sid)
        phone = Phone(device.address, answer_after=None)  # the person is the browser
        self.sim.after(0, self.sim._answered_out, call, call.token, phone)

    def reject(self, device: Device, call: SimCall) -> None:
        device.rejected.add(call.sid)  # Twilio reports a rejected client leg as busy
        self.sim.after(0, self.sim._ring_out, call, call.token, "busy")

    def hang_up(self, call: SimCall) -> None:
        self.sim.after(0, self.sim.hang_up_by_party, call)

    def connect(self, device: Device, params: dict[str, str]) -> SimCall:
        """Device.connect: a call from the client to the TwiML App's Voice URL, which gets
        what Twilio sends it: the call's parameters with ``From=Caller=client:<identity>``,
        ``Direction=inbound``, the ``ApplicationSid``, and each connect param as a field."""
        sim = self.sim
        call = SimCall(
            sid=sid("CA"),
            account_sid=sim.account_sid,
            from_=device.address,
            to=params.get("To", ""),
            direction="inbound",
            created_at=sim.clock.now(),
            status="ringing",
            url=self.app_url,
            status_callback=self.app_status_callback,
        )
        sim.calls[call.sid] = call
        party = Party(sim, f"softphone {device.address}")
        party.call, call.party = call, party
        device.calls[call.sid] = call
        device.told[call.sid] = ("", 0)
        sim.after(0, self._start_outgoing, call, dict(params))
        return call

    def _start_outgoing(self, call: SimCall, params: dict[str, str]) -> None:
        if call.ended:
            return
        extra = {**params, "ApplicationSid": tokens.app_sid(self.sim.auth_token)}
        self.sim._fetch(call, call.url, extra)
        self.sim._answer(call)
        self.sim._run(call)


# ---------------------------------------------------------------------------- HTTP


def error(status: int, code: int, message: str):
    body = {
        "code": code,
        "message": message,
        "status": status,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
    }
    return jsonify(body), status


def make_api(sim: Simulator) -> Flask:
    """The device API as its own WSGI app (bearer tokens, not the REST API's basic auth)."""
    app = Flask("simulator-softphones")
    phones: Softphones = sim.softphones

    @app.before_request
    def authenticate():
        if request.method == "OPTIONS":
            return Response(status=204)  # a CORS preflight: the headers are added below
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            return error(401, 20101, "send the softphone's access token as a Bearer token")
        try:
            g.address = tokens.verify(
                auth[7:].strip(),
                account_sid=sim.account_sid,
                auth_token=sim.auth_token,
                now=sim.clock.now(),
            )
        except InvalidToken as exc:
            return error(401, exc.code, exc.message)
        return None

    @app.after_request
    def cors(response: Response) -> Response:
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Cache-Control"] = "no-store"
        return response

    def registered():
        return phones.devices.get(g.address)

    def body() -> dict[str, Any] | None:
        data = request.get_json(silent=True)
        return data if isinstance(data, dict) else None

    def own_call(call_sid: str):
        """(device, call) or an error answer: unknown 404, someone else's 403."""
        device = registered()
        if device is None:
            return None, error(409, 31000, "register the device first")
        call = sim.calls.get(call_sid)
        if call is None:
            return None, error(404, 20404, f"no call {call_sid}")
        if g.address not in (call.to, call.from_):
            return None, error(403, 20403, "that call is not this softphone's")
        phones.track(device, call)
        return (device, call), None

    @app.post(f"{PREFIX}/register")
    def register():
        with sim.lock:
            device, cursor = phones.register(g.address)
            return jsonify(
                {"address": device.address, "identity": device.address[7:], "cursor": cursor}
            )

    @app.post(f"{PREFIX}/unregister")
    def unregister():
        with sim.lock:
            phones.devices.pop(g.address, None)
        return jsonify({"address": g.address, "registered": False})

    @app.get(f"{PREFIX}/events")
    def events():
        try:
            after = int(request.args.get("after", "0"))
            wait = float(request.args.get("wait", WAIT_DEFAULT))
        except ValueError:
            return error(400, 20001, "after is an event number, wait a number of seconds")
        if after < 0 or not 0 <= wait <= WAIT_MAX:
            return error(400, 20001, f"after >= 0 and 0 <= wait <= {WAIT_MAX:g}")
        deadline = time.monotonic() + wait
        while True:
            with sim.lock:
                device = registered()
                if device is None:
                    return error(409, 31000, "the device is not registered")
                phones.sync(device)
                news = [e for e in device.events if e["seq"] > after]
                cursor = device.seq
            if news or time.monotonic() >= deadline:
                return jsonify({"events": news, "cursor": cursor})
            time.sleep(POLL_SECONDS)

    @app.post(f"{PREFIX}/calls")
    def connect():
        data = body()
        params = data.get("params", {}) if data is not None else None
        if not isinstance(params, dict) or len(params) > MAX_PARAMS:
            return error(400, 20001, f'give {{"params": {{name: value}}}}, {MAX_PARAMS} at most')
        for name, value in params.items():
            if not PARAM_NAME.match(name) or not isinstance(value, str) or len(value) > MAX_VALUE:
                return error(
                    400, 20001, f"param {name[:64]!r}: a name of letters, digits and _, a text"
                )
        if phones.app_url is None:
            return error(503, 31000, "the simulator has no TwiML App URL for softphones")
        with sim.lock:
            device = registered()
            if device is None:
                return error(409, 31000, "register the device first")
            call = phones.connect(device, params)
            return jsonify(phones.call_json(device, call)), 201

    @app.post(f"{PREFIX}/calls/<call_sid>/<action>")
    def act(call_sid: str, action: str):
        if action not in ("accept", "reject", "hangup", "digits", "mute"):
            return error(404, 20404, f"no action {action!r}")
        data = body() if action in ("digits", "mute") else {}
        if data is None:
            return error(400, 20001, "send a JSON object")
        with sim.lock:
            found, failure = own_call(call_sid)
            if failure is not None:
                return failure
            device, call = found
            ringing_in = (
                call.to == g.address
                and not call.answered
                and not call.ended
                and call.sid not in device.accepted | device.rejected
            )
            if action in ("accept", "reject"):
                if not ringing_in:
                    return error(409, 31000, f"call {call_sid} is not ringing this softphone")
                getattr(phones, action)(device, call)
            elif action == "hangup":
                if ringing_in:
                    return error(409, 31000, "a ringing call is rejected, not hung up")
                if not call.ended:
                    phones.hang_up(call)
            elif call.ended or not call.answered:
                return error(409, 31000, f"call {call_sid} is not in progress")
            elif action == "digits":
                digits = data.get("digits")
                if not isinstance(digits, str) or not DIGITS.match(digits):
                    return error(400, 13223, "digits are 1 to 32 of 0-9, *, # and w")
                sim.after(0, sim.dtmf, call, digits.replace("w", ""))
            else:
                muted = data.get("muted")
                if not isinstance(muted, bool):
                    return error(400, 20001, "muted is true or false")
                (device.muted.add if muted else device.muted.discard)(call.sid)
            return jsonify(phones.call_json(device, call) | {"action": action})

    return app


def with_softphones(sim: Simulator, wsgi_app):
    """``wsgi_app`` with the device API in front of it under ``/simulator/softphone``."""
    api = make_api(sim)

    def dispatch(environ, start_response):
        path = environ.get("PATH_INFO", "")
        target = api if path.startswith(PREFIX + "/") else wsgi_app
        return target(environ, start_response)

    return dispatch
