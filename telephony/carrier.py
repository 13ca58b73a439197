"""The Carrier: what the engine asks of the phone network (telephony.twilio_carrier does it).

``Carrier`` is the protocol the engine codes against: place and steer calls, run a
conference's participants (the agent, the customer, a supervisor who listens or coaches),
record, fetch and delete recordings, send texts. ``TwilioCarrier`` does it with the real
twilio-python ``Client`` over ``CarrierHttpClient`` (telephony/http.py), so the same code
drives Twilio in production and the local simulator (any Twilio-compatible server at
``TWILIO_API_BASE_URL``) everywhere else.

Failures come out as ``CarrierError`` (HTTP status, Twilio error code, message, the SIDs
involved), a 404 as ``CarrierNotFound``, no usable answer (connection failure, 429/5xx
after the retries) as ``CarrierUnavailable``. Operations whose goal is that something be
gone (``hang_up``, ``remove_participant``, ``delete_recording``) treat "already gone" as
success and say so by returning False.

Every operation is logged at INFO with its SIDs; never credentials, never message bodies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

from telephony.errors import CarrierFailed

CALL_EVENTS = ("initiated", "ringing", "answered", "completed")
RECORDING_EVENTS = ("completed", "absent")
MEDIA_TYPES = {"wav": "audio/x-wav", "mp3": "audio/mpeg"}
CHUNK_SIZE = 64 * 1024

# Twilio error 21220 "Invalid call state": a realtime operation on a call that is no
# longer in progress (https://www.twilio.com/docs/api/errors/21220).
INVALID_CALL_STATE = 21220


# The simulator's number when TWILIO_CALLER_ID is not set (the demo's line).
DEMO_NUMBER = "+13135550100"


@dataclass(frozen=True)
class HoldingCaller:
    queue: str  # the queue's friendly name (the ACD names Twilio queues after its own)
    call_sid: str
    enqueued_at: datetime | None


class CarrierError(Exception):
    """The carrier refused an operation, or could not be asked.

    ``status`` is the HTTP status (None: no answer at all), ``code`` Twilio's error code
    (https://www.twilio.com/docs/api/errors), ``sids`` the SIDs the operation was about.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str,
        status: int | None = None,
        code: int | None = None,
        sids: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.status = status
        self.code = code
        self.sids = dict(sids or {})

    def __str__(self) -> str:
        answer = f"HTTP {self.status}" if self.status is not None else "no answer"
        if self.code is not None and self.code != self.status:
            answer += f", Twilio error {self.code}"
        where = " ".join(f"{name}={sid}" for name, sid in self.sids.items())
        return f"{self.operation} failed ({answer}): {self.message}" + (
            f" [{where}]" if where else ""
        )


R = TypeVar("R")


def attempt(operation: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """``operation(*args, **kwargs)`` for a person's request: its result, or, when the
    carrier refuses, ``CarrierFailed`` (502, "carrier-failed") carrying the carrier's reason.
    The one translation of a carrier failure into an answer, for every package that steers
    calls on someone's behalf; code that expects a failure (a leg already gone) catches
    ``CarrierError`` itself instead."""
    try:
        return operation(*args, **kwargs)
    except CarrierError as exc:
        raise CarrierFailed(f"the carrier refused: {exc}") from exc


class CarrierNotFound(CarrierError):
    """404: the call, participant, conference or recording does not exist (any more)."""


class CarrierUnavailable(CarrierError):
    """No usable answer: connection failure or timeout, or 429/5xx after the retries.

    For a create (a call, a participant, a message) the request may have been carried out:
    look for its status callback before trying again.
    """


class RecordingMedia:
    """A recording's audio as it streams from the carrier: iterate for chunks, then close.

    ``content_type`` and ``size`` (bytes; None when the carrier sent no length) come from
    the response. The connection is released when the chunks run out or on ``close()``;
    Flask closes it for you: ``Response(media, content_type=media.content_type)``.
    """

    def __init__(
        self,
        chunks: Iterable[bytes],
        content_type: str,
        size: int | None = None,
        close: Callable[[], Any] | None = None,
    ) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._close = close
        self.content_type = content_type
        self.size = size

    @classmethod
    def from_bytes(cls, data: bytes, content_type: str) -> RecordingMedia:
        return cls([data] if data else [], content_type, len(data))

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._chunks)
        except StopIteration:
            self.close()
            raise

    def read(self) -> bytes:
        """The whole file (fine for a voicemail; stream anything long)."""
        try:
            return b"".join(self)
        finally:
            self.close()

    def close(self) -> None:
        if self._close is not None:
            close, self._close = self._close, None
            close()

    def __enter__(self) -> RecordingMedia:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@runtime_checkable
class Carrier(Protocol):
    """What the engine asks of the phone network. Every URL given is absolute and public
    (under PUBLIC_BASE_URL); every method raises CarrierError when the carrier refuses."""

    # Calls

    def create_call(
        self,
        to: str,
        from_: str,
        url: str,
        *,
        status_callback: str,
        status_callback_events: Sequence[str] = CALL_EVENTS,
        timeout: int | None = None,
        record: bool = False,
        machine_detection: str | None = None,
    ) -> str:
        """Dial ``to`` from caller ID ``from_``; when answered, run the TwiML at ``url``.

        The call is placed at once and rings for ``timeout`` seconds (carrier default 60);
        its progress arrives at ``status_callback``. ``machine_detection`` ("Enable" or
        "DetectMessageEnd") reports AnsweredBy. Returns the new CallSid. Never repeated
        automatically: a second request would ring the customer twice.
        """
        ...

    def redirect_call(self, call_sid: str, url: str) -> None:
        """Interrupt whatever a live call is doing (a Say, a queue's hold music, a Dial)
        and run the TwiML at ``url`` instead."""
        ...

    def hang_up(self, call_sid: str) -> bool:
        """End the call whatever its state: queued, ringing (never answered: the callee's
        phone stops ringing) or in progress (both sides hear the line drop).

        Returns True if this ended it, False if it had already ended (not an error).
        """
        ...

    # Conference participants

    def add_participant(
        self,
        conference_name_or_sid: str,
        to: str,
        from_: str,
        *,
        muted: bool = False,
        coach_call_sid: str | None = None,
        early_media: bool = True,
        status_callback: str | None = None,
        timeout: int | None = None,
        label: str | None = None,
    ) -> str:
        """Dial ``to`` and put the call into the conference (by its friendly name or SID).

        ``muted``: joins listening only (a supervisor monitoring). ``coach_call_sid``:
        joins as a coach heard only by that participant (whisper). ``early_media``: the
        conference hears the callee's ringing. Returns the new participant's CallSid.
        """
        ...

    def find_conference(self, name: str) -> str | None:
        """The SID of the in-progress conference with this friendly name, or None."""
        ...

    def mute(self, conference_sid: str, call_sid: str, muted: bool) -> None:
        """Stop (or restore) the participant's audio into the conference; they still hear it."""
        ...

    def hold(
        self, conference_sid: str, call_sid: str, hold: bool, hold_url: str | None = None
    ) -> None:
        """Take the participant out of the conference's audio (they hear ``hold_url``'s
        music or TwiML, the others stop hearing them), or bring them back."""
        ...

    def coach(self, conference_sid: str, call_sid: str, coach_call_sid: str | None) -> None:
        """Make the participant ``call_sid`` a coach heard only by ``coach_call_sid`` (the
        agent), or with None a full participant everyone hears (barge)."""
        ...

    def announce(self, conference_sid: str, call_sid: str, url: str) -> None:
        """Play the TwiML at ``url`` (``<Play>``, ``<Say>``, ``<Pause>``; ``<Play digits>``
        for DTMF tones) to this participant only; the conference goes on meanwhile."""
        ...

    def end_conference_on_exit(self, conference_sid: str, call_sid: str, end: bool) -> None:
        """Whether the conference ends when this participant leaves (a transfer lets the
        first agent leave without ending the call, and makes the colleague the one who
        ends it)."""
        ...

    def remove_participant(self, conference_sid: str, call_sid: str) -> bool:
        """Hang up the participant's call, taking them out of the conference.

        Returns False if they had already left.
        """
        ...

    # Recordings

    def start_recording(
        self,
        call_sid: str,
        *,
        channels: str = "dual",
        status_callback: str | None = None,
        track: str = "both",
    ) -> str:
        """Start recording a live call from now on (``dual``: each leg on its own channel).
        Returns the RecordingSid; the file is announced at ``status_callback``."""
        ...

    def pause_recording(
        self, call_sid: str, recording_sid: str, pause_behavior: str = "skip"
    ) -> None:
        """Stop capturing (a card number is being read): ``skip`` leaves the pause out of
        the file, ``silence`` keeps its length as silence."""
        ...

    def resume_recording(self, call_sid: str, recording_sid: str) -> None:
        """Capture again after a pause."""
        ...

    def stop_recording(self, call_sid: str, recording_sid: str) -> None:
        """End the recording (the call goes on); the file is then processed and announced."""
        ...

    def fetch_recording_media(self, recording_sid: str, fmt: str = "wav") -> RecordingMedia:
        """The recording's audio file, ``wav`` or ``mp3``, streamed."""
        ...

    def delete_recording(self, recording_sid: str) -> bool:
        """Delete the recording and its file at the carrier. False if already gone."""
        ...

    # Messages

    def send_message(
        self, to: str, from_: str, body: str, *, status_callback: str | None = None
    ) -> str:
        """Send a text message; returns its MessageSid (delivery arrives at status_callback)."""
        ...

    # Queues

    def holding_callers(self) -> list[HoldingCaller]:
        """Every call now waiting in one of the account's queues (``<Enqueue>``), with the
        queue's name and when the call joined it: what the ACD rebuilds from after Redis
        lost its data."""
        ...
