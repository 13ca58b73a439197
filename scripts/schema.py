"""The shape of a script file, as pydantic models (the loader adds lines and cross-checks).

Every mapping forbids keys it does not know, so a misspelt key is an error, not a silently
ignored setting. Texts are ``{language: text}`` mappings; which languages each needs, and
what each kind of script must contain, is checked by the loader once the shape is right.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    field_validator,
)

Ident = Annotated[StrictStr, Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]
Lang = Annotated[StrictStr, Field(pattern=r"^[a-z]{2,3}-[A-Z]{2}$")]
Text = Annotated[StrictStr, Field(min_length=1, max_length=5000)]
LangText = dict[Lang, Text]


class Kind(StrEnum):
    AUTO_ATTENDANT = "auto_attendant"
    OUTBOUND = "outbound"
    PITCH = "pitch"
    VOICEMAIL = "voicemail"
    EMAIL = "email"
    SMS = "sms"
    HOLD = "hold"
    SCORECARD = "scorecard"  # what a supervisor scores a recorded call against (QA)


# What a caller hears (or an agent reads to them): English and Spanish are both required.
SPOKEN = frozenset({Kind.AUTO_ATTENDANT, Kind.OUTBOUND, Kind.PITCH, Kind.VOICEMAIL, Kind.HOLD})
REQUIRED_LANGUAGES = ("en-US", "es-MX")


class StepKind(StrEnum):
    SAY = "say"  # the agent reads the text, then goes to ``next`` (or ends there)
    ASK = "ask"  # a question: the customer's answer picks the next step
    NOTE = "note"  # guidance for the agent, not read out
    END = "end"  # the conversation ends here


class LeadField(StrEnum):
    """Where a qualification answer goes on the lead (the wrap-up form fills these in)."""

    VEHICLE_OF_INTEREST = "vehicle_of_interest"
    NEW_OR_USED = "new_or_used"
    TIMEFRAME = "timeframe"
    TRADE_IN = "trade_in"
    FINANCING = "financing"
    BUDGET = "budget"
    BEST_TIME = "best_time"
    APPOINTMENT = "appointment"
    OBJECTION = "objection"


class MenuAction(StrEnum):
    QUEUE = "queue"  # hand the caller to the ACD queue named in ``queue``
    APPOINTMENT = "appointment"  # read the caller's next appointment
    LANGUAGE = "language"  # switch to ``language`` and play the menu again
    REPEAT = "repeat"


class Priority(StrEnum):  # the ACD's priorities (routing.model)
    NORMAL = "normal"
    VIP = "vip"
    EMERGENCY = "emergency"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Answer(Strict):
    id: Ident
    label: LangText
    next: Ident
    value: Annotated[StrictStr, Field(min_length=1, max_length=200)] | None = None


class Step(Strict):
    id: Ident
    kind: StepKind = StepKind.SAY
    text: LangText
    answers: list[Answer] = Field(default_factory=list)
    next: Ident | None = None
    field: LeadField | None = None
    sensitive: StrictBool = False


class Section(Strict):
    id: Ident
    seconds: Annotated[int, Field(strict=True, ge=1, le=600)]
    text: LangText


class Criterion(Strict):
    """One line of a QA scorecard: the points a reviewer gives (0 to ``max_points``) count
    ``weight`` in the weighted total. ``step`` or ``section`` names the part of the script
    the scorecard ``checks`` that it is about (shown beside it; the loader checks it)."""

    id: Ident
    label: LangText
    weight: Annotated[float, Field(strict=True, gt=0, le=1000)]
    max_points: Annotated[int, Field(strict=True, ge=1, le=100)] = 1
    step: Ident | None = None
    section: Ident | None = None


class Message(Strict):
    subject: LangText | None = None
    body: LangText


def _digit_as_text(value: Any) -> Any:
    # ``digit: 1`` is an int in YAML; a manager should not have to quote it.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _phrase(value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise ValueError("a keyword cannot be blank")
    if "," in value:
        raise ValueError(
            f"keyword '{value}' has a comma: give each phrase on its own line "
            "(speech hints are sent comma-separated)"
        )
    return value


Digit = Annotated[StrictStr, BeforeValidator(_digit_as_text), Field(pattern=r"^[0-9*#]$")]
# A word or phrase a caller may say for an option, besides its label (and a speech hint).
Phrase = Annotated[StrictStr, Field(min_length=1, max_length=60), AfterValidator(_phrase)]
Keywords = dict[Lang, Annotated[list[Phrase], Field(max_length=20)]]
# Skills the ACD must match besides the queue's own: name → level 1..10.
Needs = dict[Ident, Annotated[int, Field(strict=True, ge=1, le=10)]]


class SubOption(Strict):
    """One choice of an option's sub-menu. It always hands the caller to a queue: its own
    ``queue``, else its parent's; ``needs`` and ``priority`` likewise default to the parent's
    (the loader fills all three in, so a loaded script never has them None)."""

    digit: Digit
    id: Ident
    label: LangText
    keywords: Keywords = Field(default_factory=dict)
    queue: Ident | None = None
    needs: Needs | None = None
    priority: Priority | None = None


class MenuOption(Strict):
    digit: Digit
    id: Ident
    action: MenuAction
    label: LangText
    keywords: Keywords = Field(default_factory=dict)
    queue: Ident | None = None
    language: Lang | None = None
    priority: Priority = Priority.NORMAL
    needs: Needs = Field(default_factory=dict)
    # Callers give card or bank details on this path: the Call is flagged and recording
    # pauses there (action queue only).
    sensitive: StrictBool = False
    # A sub-menu (action queue only): ``prompt`` is played, then ``options`` are offered.
    prompt: LangText | None = None
    options: list[SubOption] = Field(default_factory=list)


class ScriptFile(Strict):
    name: Ident
    version: Any
    kind: Kind
    languages: Annotated[list[Lang], Field(min_length=1)]
    description: StrictStr | None = None
    texts: dict[Ident, LangText] = Field(default_factory=dict)
    menu: list[MenuOption] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)
    sections: list[Section] = Field(default_factory=list)
    duration_seconds: Annotated[int, Field(strict=True, ge=1, le=3600)] | None = None
    messages: dict[Ident, Message] = Field(default_factory=dict)
    checks: Ident | None = None  # a scorecard: the script whose steps/sections it scores
    criteria: list[Criterion] = Field(default_factory=list)

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        if isinstance(value, str) and value.strip() and len(value) <= 40:
            return value.strip()
        raise ValueError("version must be a whole number or a short string such as '2026-01'")

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a language is listed twice")
        if "en-US" not in value:
            raise ValueError("must include en-US (the language every other one falls back to)")
        return value


# Which content each kind holds: required, then also allowed.
CONTENT: dict[Kind, tuple[tuple[str, ...], tuple[str, ...]]] = {
    Kind.AUTO_ATTENDANT: (("texts",), ("menu",)),
    Kind.HOLD: (("texts",), ()),
    Kind.VOICEMAIL: (("texts",), ()),
    Kind.OUTBOUND: (("steps",), ("texts",)),
    Kind.PITCH: (("sections",), ("duration_seconds", "texts")),
    Kind.EMAIL: (("messages",), ()),
    Kind.SMS: (("messages",), ()),
    Kind.SCORECARD: (("criteria",), ("checks",)),
}
