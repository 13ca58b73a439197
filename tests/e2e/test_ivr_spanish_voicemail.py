"""A Spanish-speaking caller whose team has nobody to answer leaves a message, or does not:
from the greeting to the goodbye everything said is Spanish, from the script library, in
the Spanish voice (the simulator plays the caller; every TwiML document is kept and read
as XML)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import select

from crm_core.models import Task, TaskKind
from telephony.simulator.transport import WsgiTransport
from tests.e2e.test_ivr import (  # noqa: F401 - the fixtures
    CALLER,
    NUMBER,
    app,
    customer,
    make_sim,
    no_errors,
    queues,
    run,
)

# Words of the English texts that no Spanish one uses.
ENGLISH_WORDS = {"the", "you", "your", "please", "message", "goodbye", "thank", "call", "we"}


class KeptTwiml(WsgiTransport):
    """The in-process transport, keeping every TwiML document the app answers."""

    def __init__(self, wsgi_app) -> None:
        super().__init__(wsgi_app)
        self.documents: list[tuple[str, ET.Element]] = []

    def post(self, url, params, auth_token):
        reply = super().post(url, params, auth_token)
        if reply.content_type == "text/xml" and reply.body:
            self.documents.append((url, ET.fromstring(reply.body)))
        return reply


@pytest.fixture
def spanish_sim(app, deps, clock, queues):  # noqa: F811 - the fixtures above
    customer(deps, clock, first_name="Lupe", language="es-MX")
    sim = make_sim(app, deps, clock)
    sim.transport = kept = KeptTwiml(app)
    return sim, kept


def only_spanish(caller, kept: KeptTwiml) -> None:
    says = [say for _, doc in kept.documents for say in doc.iter("Say")]
    assert says, "nothing was said"
    for say in says:
        assert say.get("language") == "es-MX", ET.tostring(say, encoding="unicode")
        assert say.get("voice") == "Polly.Mia-Neural"
    heard = [t for _, kind, t in caller.transcript if kind == "heard say"]
    assert heard
    for sentence in heard:
        words = {w.strip(".,?¿!¡").lower() for w in sentence.split()}
        assert not words & ENGLISH_WORDS, sentence


def test_a_spanish_caller_who_says_nothing_hears_only_spanish(spanish_sim, deps):
    sim, kept = spanish_sim
    caller = sim.call(CALLER, NUMBER).expect_say("hola lupe").press("1")
    caller.expect_say("vehículos nuevos").press("1")
    caller.expect_say("después del tono").wait(15)
    caller.expect_say("no recibimos")
    run(sim, deps, 240)
    no_errors(sim, deps, caller)
    only_spanish(caller, kept)
    assert caller.call.status == "completed"
    with deps.session_factory() as s:
        assert s.scalars(select(Task).where(Task.kind == TaskKind.VOICEMAIL)).all() == []


def test_a_spanish_caller_who_leaves_a_message_hears_only_spanish(spanish_sim, deps):
    sim, kept = spanish_sim
    caller = sim.call(CALLER, NUMBER).expect_say("hola lupe").press("1")
    caller.expect_say("vehículos nuevos").press("1")
    caller.expect_say("después del tono").wait(1).talk(6, "llámenme por favor").press("#")
    caller.expect_say("recibimos su mensaje")
    run(sim, deps, 240)
    no_errors(sim, deps, caller)
    only_spanish(caller, kept)
    with deps.session_factory() as s:
        task = s.scalars(select(Task).where(Task.kind == TaskKind.VOICEMAIL)).one()
    assert task.phone == CALLER or task.customer_id is not None
