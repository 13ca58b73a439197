"""Redis losing its data mid-day, from outside: callers holding, one call bridged, figures
counted. A FLUSHALL on the shared test server, and a restart of a Redis server of the
test's own (``redis-server --save ''``: it comes back empty; the machine's Redis is never
touched). After either, within one look of the ticker's epoch watch, every caller waiting
at the fault is back in line in order and answered, the bridged call is still its agent's,
agents are offered calls again as soon as their pages re-announce, and the day's figures
on the wallboard equal SQL's.

The simulator plays callers and softphones; the agents' pages re-announcing are played
by the presence call they make (the browser side is tests/browser/test_reannounce.py)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time

import pytest
import redis
from sqlalchemy import func, select

from crm_core.acd_records import WaitRecord
from crm_core.acd_schemas import WaitOutcome
from crm_core.models import Call
from routing import snapshot
from routing.recovery import epoch_lost
from routing.ticker import drain
from tests.e2e.test_acd import NUMBER, agents, run, sim  # noqa: F401  (fixtures)
from tests.telephony.conftest import twilio_app

API = "http://simulator.test"
CALLERS = ["+13135550111", "+13135550112", "+13135550113", "+13135550114", "+13135550115"]


class OwnRedis:
    """A redis-server of this test's own, on a free port, without persistence: stopped and
    started again, it comes back empty, as a restarted Redis without its data does."""

    def __init__(self, tmp_path) -> None:
        self.binary = shutil.which("redis-server")
        self.dir = tmp_path
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                probe = redis.Redis(port=self.port, socket_timeout=0.5)
                probe.ping()
                probe.close()
                return
            time.sleep(0.05)
        raise RuntimeError("the test's redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture(params=["flush", "restart"])
def fault(request, tmp_path):
    if request.param == "flush":
        yield request.param, None
        return
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server on this machine")
    own = OwnRedis(tmp_path)
    own.start()
    try:
        yield request.param, own
    finally:
        own.stop()


@pytest.fixture
def app(database_url, redis_url, clock, tmp_path, fault):
    _, own = fault
    url = own.url if own is not None else redis_url
    yield from twilio_app(
        database_url, url, clock, tmp_path, TWILIO_API_BASE_URL=API, TWILIO_CALLER_ID=NUMBER
    )


def sql_today(deps) -> dict[str, int]:
    with deps.session_factory() as s:
        rows = s.execute(
            select(WaitRecord.outcome, func.count()).group_by(WaitRecord.outcome)
        ).all()
    return {str(outcome): n for outcome, n in rows}


def wallboard_today(deps) -> dict:
    (sales,) = [q for q in snapshot.queues(deps.router) if q["queue"] == "sales"]
    return sales["today"]


def test_callers_waiting_at_the_fault_are_answered_and_the_figures_equal_sql(
    sim,  # noqa: F811
    deps,
    agents,  # noqa: F811
    fault,
):
    kind, own = fault
    assert epoch_lost(deps)  # the first start
    ana = sim.phone("client:agent_ana", answer_after=2)
    luis = sim.phone("client:agent_luis", answer_after=2)
    deps.router.set_presence(agents["ana"], "away", "lunch")
    deps.dispatcher.run(deps.router.set_presence(agents["luis"], "available").actions)
    # The morning: one call answered and over, one caller who gave up.
    early = sim.call(CALLERS[0], NUMBER).wait(20).hangup()
    run(sim, deps, 25)
    gave_up = sim.call(CALLERS[1], NUMBER).wait(5).hangup()  # Luis is wrapping up
    run(sim, deps, 40)
    # At the fault: Luis talking to one caller, two more waiting.
    talking = sim.call(CALLERS[2], NUMBER).wait(120).hangup()
    run(sim, deps, 10)
    assert deps.router.entry(talking.call.sid)["state"] == "connected"
    first = sim.call(CALLERS[3], NUMBER).wait(400).hangup()
    run(sim, deps, 3)
    second = sim.call(CALLERS[4], NUMBER).wait(400).hangup()
    run(sim, deps, 3)
    t0 = [deps.router.entry(c.call.sid)["t0"] for c in (first, second)]
    assert drain(deps, "ticker") > 0  # as the running ticker does every 2 s
    before = wallboard_today(deps)
    assert before["answered"] == 2 and before["abandoned"] == 1 and before["offered"] == 5

    if kind == "flush":
        deps.redis.flushall()
    else:
        own.stop()
        own.start()
    events = deps.router.redis.pubsub()
    events.subscribe(deps.router.keys.events)

    assert epoch_lost(deps)  # the ticker's epoch watch, next look: gone, rebuilt
    # Waiting callers back in line, in their places; the bridged call still Luis's.
    assert [deps.router.entry(c.call.sid)["t0"] for c in (first, second)] == t0
    assert deps.router.entry(first.call.sid)["state"] == "waiting"
    entry = deps.router.entry(talking.call.sid)
    assert entry["state"] == "connected" and entry["agent"] == agents["luis"].id
    state = deps.router.agent(agents["luis"].id)
    assert state["state"] == "busy" and state["call"] == talking.call.sid
    assert state["calls"] == 1  # the morning's call, from SQL
    assert deps.router.agent(agents["ana"].id) is None  # until her page re-announces
    # The day's figures: SQL's, not a fresh count from zero.
    assert wallboard_today(deps) == before
    messages = iter(lambda: events.get_message(timeout=0.2), None)
    assert any(m["type"] == "message" and b"reannounce" in m["data"] for m in messages)
    events.close()

    # Ana's page re-announces her (away at lunch, she is back): offered at once.
    deps.dispatcher.run(deps.router.set_presence(agents["ana"], "available").actions)
    run(sim, deps, 5)
    assert len(ana.answered) == 1
    assert deps.router.entry(first.call.sid)["state"] == "connected"  # the first first
    # Luis's call ends as any call does: wrap-up, then the next caller.
    run(sim, deps, 120 + 35)
    assert len(luis.answered) == 3  # the morning's, the one at the fault, the second
    assert deps.router.entry(second.call.sid)["state"] == "connected"
    run(sim, deps, 400)
    for caller in (early, gave_up, talking, first, second):
        assert caller.failures == [], caller.transcript
    assert sim.errors == []
    drain(deps, "ticker")
    counted = sql_today(deps)
    assert counted == {"answered": 4, "abandoned": 1}
    today = wallboard_today(deps)
    assert today["answered"] == counted[WaitOutcome.ANSWERED]
    assert today["abandoned"] == counted[WaitOutcome.ABANDONED]
    assert today["offered"] == 5


def test_a_caller_arriving_first_after_the_loss_finds_the_router_rebuilt(
    sim,  # noqa: F811
    deps,
    agents,  # noqa: F811
    fault,
):
    """No ticker has looked yet (none runs, or it is between looks): the web process that
    takes the next caller finds the epoch gone and rebuilds before routing anyone."""
    kind, own = fault
    assert epoch_lost(deps)
    luis = sim.phone("client:agent_luis", answer_after=2)
    sim.phone("client:agent_ana", answer_after=2)
    deps.router.set_presence(agents["luis"], "away", "break")
    deps.dispatcher.run(deps.router.set_presence(agents["ana"], "available").actions)
    sim.call(CALLERS[2], NUMBER).wait(30).hangup()  # Ana's call of the morning
    run(sim, deps, 70)
    deps.router.set_presence(agents["ana"], "away", "lunch")
    waiting = sim.call(CALLERS[0], NUMBER).wait(300).hangup()
    run(sim, deps, 5)
    t0 = deps.router.entry(waiting.call.sid)["t0"]
    if kind == "flush":
        deps.redis.flushall()
    else:
        own.stop()
        own.start()
    sim.call(CALLERS[1], NUMBER).wait(300).hangup()
    run(sim, deps, 2)
    assert deps.redis.exists(deps.router.keys.epoch)
    assert deps.router.entry(waiting.call.sid)["t0"] == t0  # back in line, in its place
    assert any(b"reannounce" in f[b"e"] for _, f in deps.redis.xrange(deps.router.keys.events))
    # Ana's day on the wallboard's agent table, from SQL; not heard from since the rebuild.
    (ana,) = [a for a in snapshot.agents(deps.router) if a["id"] == agents["ana"].id]
    assert ana["state"] == "offline" and ana["calls_today"] == 1 and ana["since"] is None
    assert ana["talk_seconds_today"] > 20
    assert deps.router.agent(agents["ana"].id)["since"] is False  # her page re-announces
    deps.dispatcher.run(deps.router.set_presence(agents["luis"], "available").actions)
    run(sim, deps, 5)
    assert len(luis.answered) == 1
    assert deps.router.entry(waiting.call.sid)["state"] == "connected"  # the first first


def test_a_call_answered_just_before_the_fault_stays_with_its_agent(
    sim,  # noqa: F811
    deps,
    agents,  # noqa: F811
    fault,
):
    """Answered a moment before the fault, before the ticker drained the router's records
    into SQL: the Call row knew its agent from the answer on."""
    kind, own = fault
    assert epoch_lost(deps)
    sim.phone("client:agent_luis", answer_after=2)
    deps.dispatcher.run(deps.router.set_presence(agents["luis"], "available").actions)
    talking = sim.call(CALLERS[0], NUMBER).wait(60).hangup()
    run(sim, deps, 5)
    assert deps.router.entry(talking.call.sid)["state"] == "connected"
    if kind == "flush":
        deps.redis.flushall()
    else:
        own.stop()
        own.start()
    assert epoch_lost(deps)
    entry = deps.router.entry(talking.call.sid)
    assert entry["state"] == "connected" and entry["agent"] == agents["luis"].id
    assert deps.router.agent(agents["luis"].id)["state"] == "busy"
    run(sim, deps, 60)  # the caller hangs up: Luis wraps up, the call's talk is counted
    assert deps.router.agent(agents["luis"].id)["state"] == "wrap_up"
    with deps.session_factory() as s:
        call = s.scalars(select(Call).where(Call.call_sid == talking.call.sid)).one()
        assert call.agent_id == agents["luis"].id and 50 <= call.talk_seconds <= 60
    assert talking.failures == [] and sim.errors == []
