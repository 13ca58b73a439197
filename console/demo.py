"""The demo's own screens: a browser phone that calls the main number through the embedded
simulator, and a traffic switch for simulated callers and agents.

They exist only in demo mode: ``DEMO_MODE`` (set by ``callcenter demo``) and a simulator the
server embeds (``app.extensions["simulator"]``, put there by app.py). Anywhere else these
URLs answer 404, so a production server never exposes a way to place calls or drive agents.

The browser phone is an interactive simulator party with no script: the page sends keys,
words and the hang-up, which are queued on the simulator's heap (``sim.after``) and run by its
ticker like any scripted party's, and polls what the caller heard (the party's transcript).

    GET  /demo/phone                       the dial pad (no login: it is the customer's phone)
    GET  /demo/traffic                     the traffic switch (supervisor or admin)
    POST /demo/api/calls                   {"from": "+13135550101"} → {"sid"}
    GET  /demo/api/calls/<sid>?after=N     status, state and what was heard since entry N
    POST /demo/api/calls/<sid>/digits      {"digits": "1"}  (0-9 * #, up to 20)
    POST /demo/api/calls/<sid>/speech      {"text": "sales"} (speech input to a Gather)
    POST /demo/api/calls/<sid>/hangup
    GET  /demo/api/traffic                 the switch's state
    POST /demo/api/traffic                 {"running": true, "callers_per_minute": 6, "agents": 3}
"""

from __future__ import annotations

import random
import re
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker
from werkzeug.exceptions import HTTPException

from crm_core.calls import record_call_outcome
from crm_core.clock import Clock
from crm_core.db import Database
from crm_core.demo import CUSTOMERS, DEMO_LOGINS, sim_agents
from crm_core.errors import (
    CallCenterError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthorized,
)
from crm_core.models import Call, Role, User
from crm_core.phones import normalize_phone
from crm_core.schemas import OutcomeIn
from crm_core.settings import Settings
from routing import ending
from routing.config import profile
from routing.errors import IllegalTransition
from routing.model import AgentProfile
from routing.offers import Dispatcher
from routing.service import Router
from telephony.carrier import DEMO_NUMBER
from telephony.context import need, provided
from telephony.simulator.errors import InvalidSetting
from telephony.simulator.parties import Party
from telephony.simulator.traffic import MAX_AGENTS, MAX_CALLERS_PER_MINUTE, Traffic

bp = Blueprint("demo", __name__, template_folder="templates")
api = Blueprint("demo_api", __name__, url_prefix="/demo/api")
DIGITS = re.compile(r"[0-9*#]{1,20}")
MAX_SPEECH = 200
MAX_PHONE_CALLS = 5  # browser calls at once: a demo, not a load generator
SUPERVISORS = (Role.SUPERVISOR, Role.ADMIN)
# What a simulated agent records after a call: none of these needs a date or a lead.
DISPOSITIONS = ("qualified", "interested", "info_provided", "not_interested")


class SimDesk:
    """The simulated agents' side of the traffic (telephony.simulator.traffic.Desk), through
    the same router, dispatcher and crm_core services a person's desk uses."""

    def __init__(
        self,
        session_factory: sessionmaker,
        clock: Clock,
        router: Router,
        dispatcher: Dispatcher,
        seed: int | None = None,
    ) -> None:
        self.session_factory, self.clock = session_factory, clock
        self.router, self.dispatcher = router, dispatcher
        self.rng = random.Random(seed)
        self.profiles: dict[str, AgentProfile] = {}

    def prepare(self, count: int) -> list[str]:
        with self.session_factory.begin() as session:
            for user in sim_agents(session, count, self.clock):
                self.profiles[user.softphone_identity] = profile(user)
        return list(self.profiles)[:count]

    def available(self, identity: str) -> None:
        agent, router = self.profiles[identity], self.router
        state = (router.agent(agent.id) or {}).get("state")
        if state == "wrap_up":
            outcome = router.end_wrap_up(agent.id)
        elif state in (None, "offline", "away", "pending"):
            outcome = router.set_presence(agent, "available")
        else:  # available already, or ringing, or on a call: nothing to do now
            return
        self.dispatcher.run(outcome.actions)

    def offline(self, identity: str) -> bool:
        try:
            outcome = self.router.set_presence(self.profiles[identity], "offline")
        except IllegalTransition:  # ringing or on a call: signed out after it
            return False
        self.dispatcher.run(outcome.actions)
        return True

    def wrapped(self, identity: str, call_sid: str) -> bool:
        agent = self.profiles[identity]
        with self.session_factory.begin() as session:
            call = session.scalars(select(Call).where(Call.call_sid == call_sid)).one_or_none()
            if call is None or call.agent_id != agent.id:
                return False  # the caller left as the phone answered: nothing to record
            if call.disposition is not None and not call.outcome_incomplete:
                return False  # recorded already (an incomplete one is replaced)
            outcome = OutcomeIn(
                disposition=self.rng.choice(DISPOSITIONS), notes="Simulated call (demo traffic)"
            )
            actor = session.get(User, agent.id)
            record_call_outcome(session, call_sid, outcome, self.clock, actor=actor)
        return True


class Demo:
    """One embedded simulator's demo: its traffic and the browser phone's calls."""

    def __init__(self, sim: Any, desk: SimDesk, caller_id: str | None) -> None:
        self.sim = sim
        self.number = caller_id or DEMO_NUMBER
        self.traffic = Traffic(sim, self.number, desk)
        self.calls: dict[str, Party] = {}  # the browser phone's calls, by CallSid

    def dial(self, caller: str) -> Party:
        with self.sim.lock:
            if sum(1 for p in self.calls.values() if not p.call.ended) >= MAX_PHONE_CALLS:
                raise Conflict(f"at most {MAX_PHONE_CALLS} browser calls at once; hang one up")
            party = self.sim.call(caller, self.number)
            party.did("dialed", self.number)
            self.calls[party.call.sid] = party
            return party

    def party(self, call_sid: str, *, live: bool = False) -> Party:
        party = self.calls.get(call_sid[:64])
        if party is None:
            raise NotFound(f"no browser call {call_sid[:64]}", field="sid")
        if live and party.call.ended:
            raise Conflict("the call has ended", field="sid")
        return party

    def act(self, call_sid: str, kind: str, text: str, run, *args: Any) -> None:
        """Note what the caller did, and let the simulator's ticker carry it out."""
        with self.sim.lock:
            party = self.party(call_sid, live=True)
            party.did(kind, text)
            self.sim.after(0, run, party.call, *args)

    def view(self, call_sid: str, after: int) -> dict[str, Any]:
        with self.sim.lock:
            party = self.party(call_sid)
            call = party.call
            return {
                "sid": call.sid,
                "status": call.status,
                "state": _describe(call),
                "ended": call.ended,
                "entries": [
                    {"at": round(t, 1), "kind": kind, "text": text}
                    for t, kind, text in party.transcript[after:]
                ],
                "next": len(party.transcript),
            }


def _describe(call: Any) -> str:
    """Where the call is, as the person holding the phone would say it."""
    if call.ended:
        return f"ended ({call.status})"
    if call.status in ("queued", "ringing"):
        return "ringing"
    if call.conference is not None:
        return "talking to an agent"
    if call.queued is not None:
        return "waiting in the queue"
    if call.record is not None:
        return "recording your message"
    if call.gather is not None:
        return "listening for your keys or words"
    return "connected"


def _demo() -> Demo:
    """The demo of this server, or 404 outside demo mode or without an embedded simulator."""
    app = current_app._get_current_object()
    sim = app.extensions.get("simulator")
    if not app.config.get("DEMO_MODE") or sim is None:
        raise NotFound("the demo runs only under `callcenter demo` with the built-in simulator")
    with sim.lock:
        demo = app.extensions.get("demo")
        if demo is None or demo.sim is not sim:
            desk = SimDesk(
                need(Database).session_factory, need(Clock), need(Router), need(Dispatcher)
            )
            demo = Demo(sim, desk, need(Settings).twilio_caller_id)
            app.extensions["demo"] = demo
    return demo


def shutdown(app: Any) -> None:
    """The server is stopping: hang up simulated calls and sign the simulated agents out,
    so the next start does not find them busy or available with no phone."""
    demo = app.extensions.get("demo")
    if demo is None:
        return
    # The system ends the calls, not their callers: the ACD forgets them first (no wait
    # counts as abandoned) and their Call rows say so; the hang-ups below then end nothing.
    deps = provided(app.extensions)  # routing.ending's Parts: router, dispatcher, carrier...
    with demo.sim.lock:
        live = [c.sid for c in demo.sim.calls.values() if not c.ended]
    ending.end_all(deps, "system")
    ending.mark_ended_by(deps, live, "system")
    with demo.sim.lock:
        for party in demo.calls.values():
            if not party.call.ended:
                demo.sim.hang_up_by_party(party.call)
    with app.app_context():
        demo.traffic.shutdown()


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    return body


def _supervisor() -> None:
    if not current_user.is_authenticated:
        raise Unauthorized("log in as a supervisor or admin")
    if current_user.role not in SUPERVISORS:
        raise Forbidden("the traffic switch needs the supervisor or admin role")


@bp.app_context_processor
def demo_context() -> dict[str, Any]:
    """What the start page says about the demo (index.html)."""
    app = current_app
    on = bool(app.config.get("DEMO_MODE")) and "simulator" in app.extensions
    return {"demo": {"on": on, "logins": DEMO_LOGINS if on else []}}


# ---------------------------------------------------------------------------- pages


@bp.get("/demo/phone")
def phone_page():
    if not current_app.config.get("DEMO_MODE") or "simulator" not in current_app.extensions:
        abort(404)
    customers = [
        {"name": f"{first} {last}", "phone": phone} for first, last, phone, *_ in CUSTOMERS
    ]
    settings = {
        "calls": url_for("demo.demo_api.dial"),
        "number": _demo().number,
        "customers": customers,
    }
    return render_template("demo_phone.html", settings=settings, customers=customers)


@bp.get("/demo/traffic")
def traffic_page():
    if not current_app.config.get("DEMO_MODE") or "simulator" not in current_app.extensions:
        abort(404)
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    _supervisor()
    settings = {
        "traffic": url_for("demo.demo_api.traffic_state"),
        "maxRate": MAX_CALLERS_PER_MINUTE,
        "maxAgents": MAX_AGENTS,
    }
    return render_template("demo_traffic.html", settings=settings)


# ---------------------------------------------------------------------------- the API


@api.post("/calls")
def dial():
    body = _body()
    region = need(Settings).default_region
    caller = normalize_phone(body.get("from"), region=region, field="from")
    party = _demo().dial(caller)
    return jsonify({"sid": party.call.sid, "number": party.call.to}), 201


@api.get("/calls/<sid>")
def call_view(sid: str):
    after = request.args.get("after", "0")
    if not after.isascii() or not after.isdigit() or len(after) > 6:
        raise InvalidInput("after must be a whole number", field="after")
    return _demo().view(sid, int(after))


@api.post("/calls/<sid>/digits")
def press(sid: str):
    digits = _body().get("digits")
    if not isinstance(digits, str) or not DIGITS.fullmatch(digits):
        raise InvalidInput("digits are 1 to 20 of 0-9, * and #", field="digits")
    demo = _demo()
    demo.act(sid, "pressed", digits, demo.sim.dtmf, digits)
    return demo.view(sid, 0) | {"entries": []}


@api.post("/calls/<sid>/speech")
def speak(sid: str):
    text = _body().get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_SPEECH:
        raise InvalidInput(f"text is 1 to {MAX_SPEECH} characters of speech", field="text")
    words = " ".join(text.split())
    demo = _demo()
    demo.act(sid, "said", words, demo.sim.speech, words)
    return demo.view(sid, 0) | {"entries": []}


@api.post("/calls/<sid>/hangup")
def hang_up(sid: str):
    demo = _demo()
    demo.act(sid, "hung up", "", demo.sim.hang_up_by_party)
    return demo.view(sid, 0) | {"entries": []}


@api.get("/traffic")
def traffic_state():
    demo = _demo()
    _supervisor()
    return demo.traffic.state()


@api.post("/traffic")
def traffic_switch():
    traffic = _demo().traffic
    _supervisor()
    body = _body()
    running = body.get("running")
    if not isinstance(running, bool):
        raise InvalidInput("running is true or false", field="running")
    if not running:
        return traffic.stop()
    try:
        return traffic.start(body.get("callers_per_minute", 4), body.get("agents", 4))
    except InvalidSetting as exc:  # the simulator's own error, as this API's 400
        raise InvalidInput(exc.message, field=exc.field) from None


@api.errorhandler(CallCenterError)
def api_error(exc: CallCenterError):
    """The demo's API always answers JSON ({"error": {id, message, field}})."""
    return jsonify(error=exc.to_dict()), exc.status


@api.errorhandler(HTTPException)
def api_http_error(exc: HTTPException):
    body = {"id": (exc.name or "error").lower().replace(" ", "-"), "message": exc.description}
    return jsonify(error=body), exc.code or 500


bp.register_blueprint(api)
