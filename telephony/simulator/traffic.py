"""Simulated traffic for ``callcenter demo``: callers who walk the auto-attendant and wait, and
agents whose softphones answer, talk a while and hang up, so the wallboard moves.

Everything runs as events on the simulator's own heap: in the demo they fire from the
wall-clock ``live.Ticker``, in tests from ``advance()`` on a ManualClock, always under
``sim.lock``. The simulator knows no queues or agents (DESIGN.md: telephony must not), so the
agents' side — who the simulated agents are, signing them in and out, what they record after
a call — is a ``Desk`` handed in (console/demo.py builds it on the router and crm_core).

Callers arrive at random (a Poisson process at the chosen rate), from a pool of numbers, and
take one of ``PATHS`` through the menu of scripts/library/auto_attendant.yaml. Each has a
patience: not talking to an agent by then, the caller hangs up (an abandoned call). Once
connected the caller stays until the agent, after a random talk time, hangs up.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from telephony.simulator.engine import Simulator
from telephony.simulator.errors import InvalidSetting
from telephony.simulator.parties import Party

log = logging.getLogger("callcenter.simulator.traffic")

MAX_CALLERS_PER_MINUTE = 60
MAX_AGENTS = 20
PATIENCE = (60.0, 240.0)  # seconds from dialing: the menu takes ~30 s, then the queue
TALK = (20.0, 90.0)  # seconds an agent talks before hanging up
ANSWER_AFTER = (1.0, 3.0)  # seconds a simulated softphone rings before it answers
WRAP = (3.0, 10.0)  # seconds of wrap-up before the agent records the outcome and is back
NUMBERS = [f"+1248555{n:04d}" for n in range(2000, 2200)]  # the callers' pool


@dataclass(frozen=True)
class Path:
    """One way through the menu: after the menu's first "press 1", the keys (or words) in
    turn, a moment apart. ``expect`` steps wait for a prompt before going on."""

    name: str
    weight: float
    steps: tuple[tuple[str, str], ...]


PATHS = (
    Path("sales: new vehicles", 4, (("press", "1"), ("press", "1"))),
    Path("sales: pre-owned", 3, (("press", "1"), ("press", "2"))),
    Path("sales: trade-in", 1, (("press", "1"), ("press", "3"))),
    Path("service: schedule", 3, (("press", "2"), ("press", "1"))),
    Path("service: status", 2, (("press", "2"), ("press", "2"))),
    Path("payments and finance", 2, (("press", "3"),)),
    Path("operator", 1, (("press", "0"),)),
    Path(
        "español: ventas",
        2,
        (("press", "8"), ("expect", "oprima 1"), ("press", "1"), ("press", "1")),
    ),
    Path(
        "roadside",
        1,
        (("press", "4"), ("expect", "where you are"), ("speak", "Highway 10 near exit 25")),
    ),
)


class Desk(Protocol):
    """The agents' side of the traffic, outside the simulator."""

    def prepare(self, count: int) -> list[str]:
        """The softphone identities of ``count`` simulated agents (made when missing)."""

    def available(self, identity: str) -> None:
        """Sign the agent in, or back in after wrap-up: ready for the next call."""

    def offline(self, identity: str) -> bool:
        """Sign the agent out; False when that cannot be done now (ringing or on a call)."""

    def wrapped(self, identity: str, call_sid: str) -> bool:
        """After the call with the caller ``call_sid``: the disposition is recorded (False:
        the agent never talked to that caller, who left as the phone answered)."""


class Answers(list):
    """A simulated softphone's ``answered`` list that tells the traffic the moment the
    engine appends a party (it does so as the phone answers), so each call gets its own
    random talk time instead of the phone's one fixed script."""

    def __init__(self, on_answer) -> None:
        super().__init__()
        self.on_answer = on_answer

    def append(self, party: Party) -> None:
        super().append(party)
        self.on_answer(party)


class Traffic:
    """Start, change and stop the simulated callers and agents of one simulator."""

    def __init__(self, sim: Simulator, number: str, desk: Desk, *, seed: int | None = None):
        self.sim, self.number, self.desk = sim, number, desk
        self.rng = random.Random(seed)
        self.running = False
        self.callers_per_minute = 0.0
        self.agents: list[str] = []  # identities signed in (or leaving after their call)
        self.wanted: set[str] = set()
        self.callers: dict[str, Party] = {}  # CallSid → caller, while the call lasts
        self.counts = {"placed": 0, "abandoned": 0, "answered": 0, "wrapped": 0}
        self._generation = 0  # arrivals scheduled by an earlier start/stop are ignored

    # ------------------------------------------------------------------ the switch
    def start(self, callers_per_minute: float, agents: int) -> dict[str, Any]:
        """Run at this rate with this many agents (also to change a running traffic)."""
        rate, count = _bounded(callers_per_minute, agents)
        with self.sim.lock:
            self.running = True
            self.callers_per_minute = rate
            self._generation += 1
            self.sim.after(0, self._staff, count)
            if rate > 0:
                self.sim.after(self._gap(), self._arrive, self._generation)
            return self.state()

    def stop(self) -> dict[str, Any]:
        """No new callers; agents sign out (those on a call after it). Calls in progress end
        on their own: waiting callers run out of patience, connected ones are hung up."""
        with self.sim.lock:
            self.running = False
            self._generation += 1
            self.sim.after(0, self._staff, 0)
            return self.state()

    def shutdown(self) -> None:
        """The process is ending (its Ticker already stopped): hang up every simulated call,
        let the app hear of it, and sign every simulated agent out."""
        with self.sim.lock:
            self.running = False
            self._generation += 1
            for party in list(self.callers.values()):
                if party.call is not None and not party.call.ended:
                    self.sim.hang_up_by_party(party.call)
            for phone in [self.sim.phones.get(f"client:{i}") for i in self.agents]:
                for party in phone.answered if phone else ():
                    if party.call is not None and not party.call.ended:
                        self.sim.hang_up_by_party(party.call)
            self.sim.run_due()  # the status callbacks and hang-ups due now
            # Whatever is still live (an agent's phone ringing with an offer, a leg the app
            # placed meanwhile) ends too: the whole simulated network is going down.
            for call in [c for c in self.sim.calls.values() if not c.ended]:
                self.sim.end_call(call, "completed")
            self.sim.run_due()
            self.wanted.clear()
            for identity in self.agents:
                self._safely(self.desk.offline, identity)

    def state(self) -> dict[str, Any]:
        with self.sim.lock:
            active = [p for p in self.callers.values() if p.call and not p.call.ended]
            return {
                "running": self.running,
                "callers_per_minute": self.callers_per_minute,
                "agents": sorted(self.wanted),
                "calls_placed": self.counts["placed"],
                "active_calls": len(active),
                "connected": sum(1 for p in active if p.call.conference is not None),
                "abandoned": self.counts["abandoned"],
                "answered_by_agents": self.counts["answered"],
                "wrapped_up": self.counts["wrapped"],
            }

    # ------------------------------------------------------------------ callers
    def _gap(self) -> float:
        return self.rng.expovariate(self.callers_per_minute / 60.0)

    def _arrive(self, generation: int) -> None:
        if generation != self._generation or not self.running or self.callers_per_minute <= 0:
            return
        try:
            self._place_caller()
        except Exception:  # an event must never end the simulator's ticker thread
            log.exception("simulated caller could not be placed")
        self.sim.after(self._gap(), self._arrive, generation)

    def _place_caller(self) -> Party:
        path = self.rng.choices(PATHS, weights=[p.weight for p in PATHS])[0]
        party = self.sim.call(self.rng.choice(NUMBERS), self.number)
        party.expect_say("press 1")
        for kind, value in path.steps:
            if kind == "expect":
                party.expect_say(value)
                continue
            party.wait(self.rng.uniform(0.5, 2.5))
            party.press(value) if kind == "press" else party.speak(value)
        party.did("demo path", path.name)
        self.callers[party.call.sid] = party
        self.counts["placed"] += 1
        self.sim.after(self.rng.uniform(*PATIENCE), self._give_up, party)
        self._forget_ended()
        return party

    def _give_up(self, party: Party) -> None:
        """Patience over: still not talking to anyone, the caller hangs up."""
        call = party.call
        if call is None or call.ended or call.conference is not None:
            return
        party.did("hung up", "gave up waiting")
        self.sim.hang_up_by_party(call)
        self.counts["abandoned"] += 1

    def _forget_ended(self) -> None:
        for sid_, party in list(self.callers.items()):
            if party.call is None or party.call.ended:
                del self.callers[sid_]

    # ------------------------------------------------------------------ agents
    def _staff(self, count: int) -> None:
        """Bring the signed-in simulated agents to ``count``."""
        try:
            identities = self.desk.prepare(count) if count else []
        except Exception:
            log.exception("simulated agents could not be prepared")
            return
        for identity in identities:
            if identity not in self.agents:
                self.agents.append(identity)
            phone = self.sim.phones.get(f"client:{identity}")
            if phone is None or not isinstance(phone.answered, Answers):
                phone = self.sim.phone(f"client:{identity}", answer_after=2.0)
                phone.answered = Answers(lambda party, i=identity: self._answered(i, party))
            phone.answer_after = self.rng.uniform(*ANSWER_AFTER)
            if identity not in self.wanted:
                self.wanted.add(identity)
                self._safely(self.desk.available, identity)
        for identity in [i for i in self.agents if i not in identities]:
            self.wanted.discard(identity)
            self._safely(self.desk.offline, identity)  # busy ones: after their call

    def _answered(self, identity: str, party: Party) -> None:
        self.counts["answered"] += 1
        self.sim.after(self.rng.uniform(*TALK), self._agent_hangs_up, identity, party)

    def _agent_hangs_up(self, identity: str, party: Party) -> None:
        call = party.call
        if call is not None and not call.ended:
            party.did("hung up")
            self.sim.hang_up_by_party(call)
        entry = parse_qs(urlsplit(call.url or "").query).get("entry", [""])[0] if call else ""
        self.sim.after(self.rng.uniform(*WRAP), self._wrap, identity, entry)

    def _wrap(self, identity: str, call_sid: str) -> None:
        if call_sid and self._safely(self.desk.wrapped, identity, call_sid) is True:
            self.counts["wrapped"] += 1
        if identity in self.wanted:
            self._safely(self.desk.available, identity)
        else:
            self._safely(self.desk.offline, identity)

    def _safely(self, fn, *args) -> Any:
        """Run a Desk call on the simulator's thread: a failure is logged, never raised (an
        exception would end the Ticker's thread and stop every call)."""
        try:
            return fn(*args)
        except Exception:
            log.exception("simulated agent: %s%s failed", fn.__name__, args)
            return None


def _bounded(callers_per_minute: Any, agents: Any) -> tuple[float, int]:
    """The switch's two settings, checked (InvalidSetting names the one that is wrong)."""
    rate_ok = isinstance(callers_per_minute, int | float) and not isinstance(
        callers_per_minute, bool
    )
    if not rate_ok or not 0 <= callers_per_minute <= MAX_CALLERS_PER_MINUTE:
        raise InvalidSetting(
            f"callers_per_minute must be a number from 0 to {MAX_CALLERS_PER_MINUTE}",
            field="callers_per_minute",
        )
    if isinstance(agents, bool) or not isinstance(agents, int) or not 0 <= agents <= MAX_AGENTS:
        raise InvalidSetting(
            f"agents must be a whole number from 0 to {MAX_AGENTS}", field="agents"
        )
    return float(callers_per_minute), agents
