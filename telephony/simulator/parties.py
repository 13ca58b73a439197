"""The people on the other end: scripted callers and answering phones or softphones.

A caller is a script, run in simulated time: ``sim.call("+13135550101", "+13135550100")
.expect_say("press 1").press("1").wait(40).hangup()``. Everything the party heard and did
is kept in ``transcript`` so a test can read the whole call back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from telephony.simulator.engine import SimCall, Simulator


EPSILON = 1e-3
REACTION = 0.25  # seconds a person takes to act once a prompt is over


def _before(now: float, moment: float) -> bool:
    """Times pass through a microsecond clock: a millisecond of slack, or a wake-up rounded
    down would find itself early again and again."""
    return now + EPSILON < moment


@dataclass
class Step:
    kind: str  # expect_say | press | speak | wait | talk | hangup
    value: Any = None
    within: float = 60.0
    words: str | None = None  # talk: what is said, for a recording's transcription


class Script:
    """The chainable steps of a party's behaviour (``self.steps``)."""

    steps: list[Step]

    def expect_say(self, text: str, within: float = 60.0) -> Script:
        self.steps.append(Step("expect_say", text.lower(), within))
        return self

    def press(self, digits: str) -> Script:
        self.steps.append(Step("press", digits))
        return self

    def speak(self, text: str) -> Script:
        self.steps.append(Step("speak", text))
        return self

    def wait(self, seconds: float) -> Script:
        self.steps.append(Step("wait", float(seconds)))
        return self

    def talk(self, seconds: float, words: str | None = None) -> Script:
        """Speak for a while (a voicemail). ``words`` are what a <Record transcribe="true">
        turns into TranscriptionText; without them the audio has nothing to transcribe."""
        self.steps.append(Step("talk", float(seconds), words=words))
        return self

    def hangup(self) -> Script:
        self.steps.append(Step("hangup"))
        return self


@dataclass
class Party(Script):
    """One end of a call, driven by a script of steps."""

    sim: Simulator
    name: str
    steps: list[Step] = field(default_factory=list)
    transcript: list[tuple[float, str, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    call: SimCall | None = None
    _next: int = 0
    _waiting_since: float | None = None
    _busy_until: float = 0.0

    # ---- what the party perceives ----
    def heard(self, kind: str, text: str, until: float | None = None) -> None:
        """``text`` starts now and is over at ``until`` (the engine's own end time for it,
        so the next verb and the listener agree); a person reacts a moment after that."""
        now = self.sim.elapsed()
        self.transcript.append((now, f"heard {kind}", text))
        if until is not None:
            self._listening_until = max(self._listening_until, until + REACTION)
        self.sim.wake(self)

    def did(self, kind: str, text: str = "") -> None:
        self.transcript.append((self.sim.elapsed(), kind, text))

    def heard_text(self) -> str:
        return " ".join(t for _, k, t in self.transcript if k == "heard say").lower()

    # ---- running the script; called by the engine whenever something may have changed ----
    def resume(self) -> None:
        while self._next < len(self.steps) and self.call is not None:
            now = self.sim.elapsed()
            if _before(now, self._busy_until):
                return
            step = self.steps[self._next]
            if step.kind == "expect_say":
                found = self.heard_text().find(step.value, self._cursor)
                if found >= 0 and _before(now, self._listening_until):
                    self.sim.wake(self, after=self._listening_until - now)
                    return  # let the prompt finish, as a person would
                if found >= 0:  # later expectations look only after this match
                    self._cursor = found + len(step.value)
                elif self.call.ended:
                    self.failures.append(f"{self.name}: call ended before hearing {step.value!r}")
                elif self._waiting_since is None:
                    self._waiting_since = now
                    self.sim.wake(self, after=step.within)
                    return
                elif now - self._waiting_since >= step.within:
                    self.failures.append(
                        f"{self.name}: did not hear {step.value!r} within {step.within:g} s; "
                        f"heard {self.heard_text()!r}"
                    )
                else:
                    return
                self._waiting_since = None
            elif self.call.ended:
                return
            elif step.kind == "press":
                self.did("pressed", step.value)
                self.sim.dtmf(self.call, step.value)
            elif step.kind == "speak":
                self.did("said", step.value)
                self.sim.speech(self.call, step.value)
            elif step.kind in ("wait", "talk"):
                self.did(step.kind, f"{step.value:g} s")
                if step.kind == "talk":
                    self.sim.talking(self.call, step.value, step.words)
                self._busy_until = now + step.value
                self._next += 1
                self.sim.wake(self, after=step.value)
                return
            elif step.kind == "hangup":
                self.did("hung up")
                self.sim.hang_up_by_party(self.call)
            self._next += 1

    _cursor: int = 0  # how far into heard_text() the expectations have matched
    _listening_until: float = 0.0

    @property
    def done(self) -> bool:
        return self._next >= len(self.steps)


@dataclass
class Phone(Script):
    """How a called number or softphone behaves: answer after N s, reject, or never answer;
    once answered, the person runs ``steps`` (the same script methods as a caller)."""

    address: str  # "+13135550199" or "client:agent_ana"
    answer_after: float | None = 2.0  # None: never answers
    reject: bool = False
    steps: list[Step] = field(default_factory=list)
    answered: list[Party] = field(default_factory=list)  # one party per answered call
