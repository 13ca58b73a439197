"""The simulator's state: calls, recordings, numbers, and Twilio's constants."""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urljoin

from telephony.simulator.parties import Party

API_VERSION = "2010-04-01"
SECONDS_PER_WORD = 0.4  # how long <Say> takes: about 150 words a minute
PLAY_SECONDS = 3.0  # the length assumed for a <Play> file
TERMINAL = {"completed", "busy", "failed", "no-answer", "canceled"}
EVENT_OF_STATUS = {"initiated": "initiated", "ringing": "ringing", "in-progress": "answered"}
HTTP_RETRIEVAL_FAILURE = "11200"
DOCUMENT_PARSE_FAILURE = "12100"
SCHEMA_VALIDATION_WARNING = "12200"
RECORDING_LENGTH_OUT_OF_RANGE = "13617"  # a warning: too short or too long to transcribe
# What Twilio transcribes: recordings "greater than 2 seconds" (warning 13617) and "at most two
# minutes in length" (the Recording Transcription resource); others fail to transcribe.
TRANSCRIBE_MIN_SECONDS = 2  # exclusive
TRANSCRIBE_MAX_SECONDS = 120  # inclusive


def sid(prefix: str) -> str:
    """A new SID as Twilio mints them: two letters and 32 random lowercase hex digits.

    Random, never a counter: a simulator started again must not hand out a SID an earlier
    run gave to another call (the app's rows are keyed by CallSid and outlive the simulator).
    """
    return prefix + secrets.token_hex(16)


@dataclass
class Notification:
    """One entry of Twilio's debugger log (the Notifications a call's errors leave): an error
    stops a document, a warning only skips the part of it that does not conform."""

    call_sid: str | None
    code: str
    level: str  # "error" or "warning"
    message: str
    url: str | None = None


@dataclass
class Gather:
    attrs: dict[str, str]
    nested: list[ET.Element]
    digits: str = ""


@dataclass
class Record:
    attrs: dict[str, str]
    started: float
    audio: float = 0.0  # seconds of speech recorded so far
    last_audio_end: float | None = None
    words: list[str] = field(default_factory=list)  # what was said, for transcribe="true"


@dataclass
class Recording:
    sid: str
    account_sid: str
    call_sid: str
    duration: int
    channels: int
    source: str  # RecordVerb, DialVerb, or StartCallRecordingAPI
    created_at: datetime
    status: str = "completed"  # in-progress, paused, stopped, completed, absent
    deleted: bool = False
    pause_behavior: str | None = None
    status_callback: str | None = None
    events: set[str] = field(default_factory=lambda: {"completed"})  # which callbacks
    running_since: float | None = None  # elapsed() when the current stretch began
    seconds: float = 0.0  # recorded so far (silence while paused counts, skip does not)


@dataclass
class Transcription:
    """A <Record> recording turned into text, as the Transcriptions resource describes it:
    in-progress while the (simulated) engine works, then completed or failed."""

    sid: str
    account_sid: str
    call_sid: str
    recording_sid: str
    duration: int
    created_at: datetime
    callback: str | None  # the absolute transcribeCallback; None: kept, nobody is told
    status: str = "in-progress"  # in-progress, completed, failed
    text: str | None = None


@dataclass
class SimCall:
    sid: str
    account_sid: str
    from_: str
    to: str
    direction: str
    created_at: datetime
    status: str = "queued"
    parent_sid: str | None = None
    url: str | None = None
    method: str = "POST"
    fallback_url: str | None = None
    status_callback: str | None = None
    events: set[str] = field(default_factory=lambda: {"completed"})
    timeout: float = 60.0
    start_time: datetime | None = None
    end_time: datetime | None = None
    party: Party | None = None
    program: list[ET.Element] = field(default_factory=list)
    doc_url: str | None = None
    sequence: int = 0
    token: int = 0
    gather: Gather | None = None
    record: Record | None = None
    in_fallback: bool = False
    queued: Queued | None = None
    dequeued: Queued | None = None  # taken from its queue by <Dial><Queue>, bridged or about to be
    dialing: Dialing | None = None  # this call is in <Dial>
    dial_parent: SimCall | None = None  # this call is a leg <Dial> placed
    conference: SimConference | None = None  # in a conference (by TwiML or the REST API)
    joins: tuple[SimConference, dict[str, str]] | None = None  # REST participant, on answer
    errors: list[str] = field(default_factory=list)

    @property
    def ended(self) -> bool:
        return self.status in TERMINAL

    @property
    def answered(self) -> bool:
        return self.start_time is not None

    def duration(self) -> int:
        if self.start_time is None or self.end_time is None:
            return 0
        return int((self.end_time - self.start_time).total_seconds())


@dataclass
class SimQueue:
    """A Twilio queue: callers waiting in order, created on first use by its friendly name."""

    sid: str
    name: str
    created_at: datetime
    max_size: int = 100
    members: list[SimCall] = field(default_factory=list)
    dequeuers: list[SimCall] = field(default_factory=list)  # <Dial><Queue> waiting while empty
    recent_waits: list[float] = field(default_factory=list)  # for AvgQueueTime

    def average_wait(self) -> int:
        waits = self.recent_waits[-100:]
        return round(sum(waits) / len(waits)) if waits else 0


@dataclass
class Queued:
    """Where a call stands in a queue, and where to go when it leaves."""

    queue: SimQueue
    since: float  # elapsed() when it joined
    action: str | None
    method: str
    wait_url: str | None
    wait_method: str
    rest: list[ET.Element] = field(default_factory=list)  # the verbs after <Enqueue>
    last_wait_fetch: float = -1.0
    waited: float = 0.0  # seconds in the queue, once it has left


@dataclass
class Participant:
    call: SimCall
    joined_at: datetime
    muted: bool = False
    hold: bool = False
    hold_url: str | None = None
    coaching: bool = False
    call_sid_to_coach: str | None = None
    start_on_enter: bool = True
    end_on_exit: bool = False
    wait_url: str | None = None
    label: str | None = None
    status: str = "connected"


@dataclass
class SimConference:
    sid: str
    name: str
    created_at: datetime
    status: str = "init"  # in-progress once someone with startConferenceOnEnter is in
    participants: dict[str, Participant] = field(default_factory=dict)
    status_callback: str | None = None
    events: set[str] = field(default_factory=set)
    sequence: int = 0
    reason_ended: str | None = None
    call_sid_ending: str | None = None


@dataclass
class Dialing:
    """A call blocked in <Dial>: the legs it rings, and where to go when it is over."""

    attrs: dict[str, str]
    doc_url: str | None
    rest: list[ET.Element]  # the verbs after <Dial>
    started: float
    children: list[SimCall] = field(default_factory=list)
    child: SimCall | None = None  # the leg that answered and is bridged
    bridged_at: float | None = None
    conference: SimConference | None = None  # <Dial><Conference>
    queue: SimQueue | None = None  # <Dial><Queue>
    queue_url: str | None = None  # its url: TwiML for the dequeued caller before the bridge
    queue_params: dict[str, str] = field(default_factory=dict)  # QueueSid, QueueTime, …
    recording: Recording | None = None  # record="…" on <Dial>


@dataclass
class Number:
    """An incoming phone number's configuration, as in the IncomingPhoneNumbers resource."""

    number: str
    voice_url: str
    voice_method: str = "POST"
    fallback_url: str | None = None
    status_callback: str | None = None
    sms_url: str | None = None  # the Messaging webhook ("A message comes in")


def number(value: str | None, default: float) -> float:
    try:
        number = float(value) if value not in (None, "") else float(default)
    except ValueError:
        return float(default)
    return number if number >= 0 else float(default)


def absolute(url: str, base: str | None) -> str:
    return urljoin(base or "", url)


def delta(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)
