"""The simulator running for real: wall-clock time, HTTP both ways, and a control API.

``callcenter simulator`` runs it as its own process (REST and control API on a port,
webhooks to ``PUBLIC_BASE_URL``); ``callcenter run`` and ``callcenter demo`` embed it in
the development server when ``CARRIER=simulator``, on the app's own port. The control
API places calls played by a script and reads back what each party heard:

    POST /simulator/calls   {"from": "+13135550101", "to": "+13135550100",
                             "steps": [["expect_say", "press 1"], ["press", "1"],
                                       ["wait", 30], ["hangup"]]}
    GET  /simulator/calls/<CallSid>   → status, transcript, failures

Both need the account SID and auth token as HTTP basic auth, like the REST API.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask, jsonify, request

from telephony.simulator.clock import SystemClock
from telephony.simulator.engine import Simulator
from telephony.simulator.errors import SimulationError
from telephony.simulator.rest import error, make_rest_app
from telephony.simulator.softphones import with_softphones
from telephony.simulator.transport import HttpTransport

# The simulated account's number when the app names none (TWILIO_CALLER_ID unset): the demo's
# line, which the app also dials from by default (tests/telephony/test_simulator_contract.py).
DEFAULT_NUMBER = "+13135550100"
STEPS = {"expect_say", "press", "speak", "wait", "talk", "hangup"}
TICK = 0.02  # seconds between runs of the event heap
STOP_WAIT = 1.0  # seconds a stopping ticker waits for the event it is running


def from_config(config: dict[str, Any]) -> Simulator:
    """A wall-clock simulator whose number sends its webhooks to the app's public URL."""
    base = config["PUBLIC_BASE_URL"].rstrip("/")
    sim = Simulator(
        clock=SystemClock(),
        transport=HttpTransport(),
        account_sid=config["TWILIO_ACCOUNT_SID"],
        auth_token=config["TWILIO_AUTH_TOKEN"],
        api_base_url=config["TWILIO_API_BASE_URL"],
    )
    sim.add_number(
        config.get("TWILIO_CALLER_ID") or DEFAULT_NUMBER,
        f"{base}/twilio/voice",
        status_callback=f"{base}/twilio/voice/status",
        fallback_url=f"{base}/twilio/voice/fallback",
        sms_url=f"{base}/twilio/sms",
    )
    # The TwiML App of the agents' softphones (Device.connect): routing/client.py.
    sim.softphones.configure(
        app_url=f"{base}/twilio/client", status_callback=f"{base}/twilio/voice/status"
    )
    return sim


class Ticker:
    """Runs the simulator's due events on a background thread until stopped."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="simulator", daemon=True)

    def _loop(self) -> None:
        while not self.stopped.wait(TICK):
            self.sim.run_due()

    def start(self) -> Ticker:
        self.thread.start()
        return self

    def stop(self, wait: float = STOP_WAIT) -> None:
        """Stop running events; wait a moment for the one running now. A webhook in flight
        can take Twilio's whole 15 s timeout (an app that does not answer): the thread is a
        daemon, so a process that is shutting down (SIGTERM with calls in progress) does not
        wait for it, and its socket closes with the process."""
        self.stopped.set()
        self.thread.join(timeout=wait)


def make_app(sim: Simulator) -> Flask:
    """The REST API plus the control API, as one WSGI app; the browser softphones' API
    (softphones.py, bearer tokens instead of basic auth) goes before both."""
    app = make_rest_app(sim)
    app.wsgi_app = with_softphones(sim, app.wsgi_app)

    @app.post("/simulator/calls")
    def place_call():
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not body.get("from") or not body.get("to"):
            return error(400, 21201, "give from and to")
        steps = body.get("steps", [])
        if not isinstance(steps, list) or not all(
            isinstance(s, list) and s and s[0] in STEPS for s in steps
        ):
            return error(400, 21218, f"steps are [name, value] with name one of {sorted(STEPS)}")
        with sim.lock:
            try:
                party = sim.call(str(body["from"]), str(body["to"]))
            except SimulationError as exc:
                return error(404, 21212, str(exc))
            for name, *args in steps:
                try:
                    getattr(party, name)(*args)
                except (TypeError, ValueError):
                    return error(400, 21218, f"bad step {[name, *args]}")
            return jsonify({"sid": party.call.sid, "status": party.call.status}), 201

    @app.get("/simulator/calls/<call_sid>")
    def call_state(call_sid: str):
        with sim.lock:
            call = sim.calls.get(call_sid)
            if call is None:
                return error(404, 20404, f"no call {call_sid}")
            party = call.party
            return jsonify(
                {
                    "sid": call.sid,
                    "status": call.status,
                    "errors": call.errors,
                    "transcript": [list(t) for t in party.transcript] if party else [],
                    "failures": party.failures if party else [],
                }
            )

    @app.post("/simulator/messages")
    def send_text():
        """A text from any number to one of the simulated numbers (the Messaging webhook)."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not all(
            isinstance(body.get(k), str) and body.get(k) for k in ("from", "to", "body")
        ):
            return error(400, 21602, "give from, to and body (strings)")
        try:
            message = sim.text(body["from"], body["to"], body["body"][:1600])
        except SimulationError as exc:
            return error(404, 21212, str(exc))
        return jsonify({"sid": message["sid"], "replies": sim.sent_to(body["from"])}), 201

    return app


def mount(app_wsgi, sim_wsgi):
    """One WSGI app: the simulator's paths go to the simulator, the rest to the app."""

    def dispatch(environ, start_response):
        path = environ.get("PATH_INFO", "")
        target = sim_wsgi if path.startswith(("/2010-04-01/", "/simulator/")) else app_wsgi
        return target(environ, start_response)

    return dispatch
