"""The agent's recording controls: pause and resume, and the script's position.

    GET  /api/agents/me/call/recording          my call's recording: recording, paused or
                                                not recorded, and the consent on the Call
    POST /api/agents/me/call/recording/pause    pause it (``{"call": "CA…"}`` optional)
    POST /api/agents/me/call/recording/resume   capture again
    POST /api/agents/me/script/step             my script shows this step now (a step
                                                without answers, left with "Next"): a
                                                sensitive step pauses, leaving it resumes

The controls act on the call the signed-in user is on now (``console.call_script``): none
is 409, a body naming another call is 404, a call not being recorded is 409. What is
recorded, and why the pause and resume rules are what they are: recording/control.py.
The notice a called party hears before an outbound call is recorded: recording/views.py.
"""

from __future__ import annotations

import redis
from flask import Blueprint, g, request
from pydantic import Field

from console.auth import require_role
from console.call_script import _agent_script, choose_script, current_call
from crm_core.db import Database
from crm_core.errors import CallCenterError, Conflict, InvalidInput, NotFound
from crm_core.schemas import Strict, parse
from recording import control
from recording.views import recorder
from routing.offers import Dispatcher
from routing.service import Router
from scripts import Library, Script
from telephony.context import need

bp = Blueprint("recording_desk", __name__)


class ControlIn(Strict):
    call: str | None = Field(default=None, max_length=64)  # the call the page shows


class StepIn(Strict):
    call_sid: str = Field(min_length=1, max_length=64)
    step: str | None = Field(default=None, max_length=64)  # None: the end of the script
    script: str | None = Field(default=None, max_length=64)


def recorded_leg(current, agent_id: int) -> str | None:
    """The leg whose recording is this agent's call: the caller's for an ACD call, the
    agent's own for a callback or a click-to-call (recording/control.py)."""
    if current is None or current.stage not in ("connected", "dialing"):
        return None
    if current.stage == "connected" and current.entry.get("kind") == "callback":
        return need(Dispatcher).leg(current.entry["id"], agent_id)
    return current.call_sid


def follow_script(current, script: Script, step_id: str | None, agent_id: int) -> dict:
    """The agent's script moved to ``step_id`` (a saved answer's next step): a sensitive
    step pauses the call's recording, leaving it resumes. A refusal is shown, not raised:
    the answer is saved already."""
    step = next((s for s in script.steps if s.id == step_id), None)
    leg = recorded_leg(current, agent_id)
    sensitive = bool(step is not None and step.sensitive)
    try:
        doc = control.follow_script(
            recorder(), leg, actor_id=agent_id, step=step_id, sensitive=sensitive
        )
    except CallCenterError as exc:
        live = control.live(need(redis.Redis), leg)
        return control.describe(live, None) | {"error": exc.message}
    return control.describe(doc, None)


def _mine(named: str | None):
    """(recorded leg, Call row) of my call now."""
    me = g.principal.id
    with need(Database).read_session_factory() as session:
        current = current_call(session, need(Router), me)
        call = current.call if current is not None else None
        if call is not None:
            session.expunge(call)
    leg = recorded_leg(current, me)
    if leg is None:
        raise Conflict("you are not connected to a call now", field="call")
    if named and named not in (leg, current.call_sid, current.entry.get("id")):
        raise NotFound(f"you are not on call {named!r}", field="call")
    return leg, call


@bp.get("/api/agents/me/call/recording")
@require_role()
def my_recording():
    with need(Database).read_session_factory() as session:
        current = current_call(session, need(Router), g.principal.id)
        call = current.call if current is not None else None
        leg = recorded_leg(current, g.principal.id)
        if leg is None:
            return {"call_sid": None, "state": "no_call"}
        return control.describe(control.live(need(redis.Redis), leg), call)


@bp.post("/api/agents/me/call/recording/pause")
@require_role()
def pause():
    """Pause my call's recording (``skip``: the pause is left out of the file)."""
    data = parse(ControlIn, request.get_json(silent=True) or {})
    leg, call = _mine(data.call)
    doc = control.pause(recorder(), leg, actor_id=g.principal.id, reason="manual")
    return control.describe(doc, call)


@bp.post("/api/agents/me/call/recording/resume")
@require_role()
def resume():
    """Capture again, whoever paused (the agent answers for it: the resume is audited)."""
    data = parse(ControlIn, request.get_json(silent=True) or {})
    leg, call = _mine(data.call)
    doc = control.resume(recorder(), leg, actor_id=g.principal.id, reason="manual")
    return control.describe(doc, call)


@bp.post("/api/agents/me/script/step")
@require_role()
def script_step():
    """My script shows ``step`` now: the recording follows (recording/control.py)."""
    me = g.principal.id
    data = parse(StepIn, request.get_json(silent=True))
    with need(Database).read_session_factory() as session:
        current = current_call(session, need(Router), me)
    if current is None or current.call_sid != data.call_sid:
        raise Conflict("that is not the call you are on", field="call_sid")
    library = need(Library)
    name = data.script or choose_script(library, current)[0]
    script = _agent_script(library, name)
    sensitive = False
    if data.step is not None:
        try:
            sensitive = script.step(data.step).sensitive
        except KeyError:
            raise InvalidInput(f"{script.name} has no step {data.step}", field="step") from None
    leg = recorded_leg(current, me)
    doc = control.follow_script(recorder(), leg, actor_id=me, step=data.step, sensitive=sensitive)
    return {"step": data.step, "sensitive": sensitive, "recording": control.describe(doc, None)}
