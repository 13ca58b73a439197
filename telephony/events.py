"""``CallEvent``: one voice webhook's form, every documented parameter, parsed leniently.

Twilio's voice request parameters (and those of status callbacks, Gather, Enqueue, Dial and
Record actions) arrive as form fields. Parsing never raises: a value that cannot be read is
kept raw and its parsed twin is None, because a webhook must always answer. Phone numbers
are normalised to E.164 where they are numbers at all ("client:agent_ana", "anonymous" and
empty caller IDs are not).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from flask import request

from crm_core.errors import InvalidPhone
from crm_core.models import CallDirection, CallStatus
from crm_core.phones import normalize_phone
from crm_core.settings import Settings
from telephony.context import need

MAX_VALUE = 1024  # longer values are cut: nothing Twilio documents comes near it

# Form field → attribute, for the plain string parameters.
STRINGS = {
    "CallSid": "call_sid", "AccountSid": "account_sid", "From": "from_", "To": "to",
    "Caller": "caller", "Called": "called", "CallStatus": "call_status_raw",
    "Direction": "direction_raw", "ApiVersion": "api_version", "ForwardedFrom": "forwarded_from",
    "CallerName": "caller_name", "ParentCallSid": "parent_call_sid",
    "FromCity": "from_city", "FromState": "from_state", "FromZip": "from_zip",
    "FromCountry": "from_country", "ToCity": "to_city", "ToState": "to_state",
    "ToZip": "to_zip", "ToCountry": "to_country", "CallerCity": "caller_city",
    "CallerState": "caller_state", "CallerZip": "caller_zip", "CallerCountry": "caller_country",
    "CalledCity": "called_city", "CalledState": "called_state", "CalledZip": "called_zip",
    "CalledCountry": "called_country", "Digits": "digits", "SpeechResult": "speech_result",
    "QueueSid": "queue_sid", "QueueResult": "queue_result", "DequeingCallSid": "dequeing_call_sid",
    "DialCallStatus": "dial_call_status", "DialCallSid": "dial_call_sid",
    "DialBridged": "dial_bridged", "RecordingUrl": "recording_url",
    "RecordingSid": "recording_sid", "RecordingStatus": "recording_status",
    "CallbackSource": "callback_source", "SipResponseCode": "sip_response_code",
    "StirVerstat": "stir_verstat", "ErrorCode": "error_code", "ErrorUrl": "error_url",
    "TranscriptionText": "transcription_text",
}  # fmt: skip
INTEGERS = {
    "SequenceNumber": "sequence_number", "CallDuration": "call_duration",
    "QueueTime": "queue_time", "QueuePosition": "queue_position",
    "AvgQueueTime": "avg_queue_time", "CurrentQueueSize": "current_queue_size",
    "MaxQueueSize": "max_queue_size", "DialCallDuration": "dial_call_duration",
    "RecordingDuration": "recording_duration",
}  # fmt: skip


@dataclass(frozen=True)
class CallEvent:
    call_sid: str | None = None
    account_sid: str | None = None
    from_: str | None = None
    to: str | None = None
    caller: str | None = None
    called: str | None = None
    call_status_raw: str | None = None
    direction_raw: str | None = None
    api_version: str | None = None
    forwarded_from: str | None = None
    caller_name: str | None = None
    parent_call_sid: str | None = None
    from_city: str | None = None
    from_state: str | None = None
    from_zip: str | None = None
    from_country: str | None = None
    to_city: str | None = None
    to_state: str | None = None
    to_zip: str | None = None
    to_country: str | None = None
    caller_city: str | None = None
    caller_state: str | None = None
    caller_zip: str | None = None
    caller_country: str | None = None
    called_city: str | None = None
    called_state: str | None = None
    called_zip: str | None = None
    called_country: str | None = None
    digits: str | None = None
    speech_result: str | None = None
    confidence: float | None = None
    queue_sid: str | None = None
    queue_result: str | None = None
    dequeing_call_sid: str | None = None
    dial_call_status: str | None = None
    dial_call_sid: str | None = None
    dial_bridged: str | None = None
    recording_url: str | None = None
    recording_sid: str | None = None
    recording_status: str | None = None
    callback_source: str | None = None
    sip_response_code: str | None = None
    stir_verstat: str | None = None
    error_code: str | None = None
    error_url: str | None = None
    transcription_text: str | None = None
    sequence_number: int | None = None
    call_duration: int | None = None
    queue_time: int | None = None
    queue_position: int | None = None
    avg_queue_time: int | None = None
    current_queue_size: int | None = None
    max_queue_size: int | None = None
    dial_call_duration: int | None = None
    recording_duration: int | None = None
    timestamp: datetime | None = None
    # Parsed twins of the raw values above.
    from_e164: str | None = None
    to_e164: str | None = None
    forwarded_from_e164: str | None = None
    status: CallStatus | None = None
    direction: CallDirection | None = None

    @classmethod
    def from_form(cls, form: Any, *, region: str = "US") -> CallEvent:
        """``form`` is any mapping with ``.get`` (a Werkzeug MultiDict, a dict)."""
        if hasattr(form, "to_dict"):  # a MultiDict's first values: its .get raises per miss
            form = form.to_dict()
        values: dict[str, Any] = {}
        for name, attr in STRINGS.items():
            values[attr] = _text(form.get(name))
        for name, attr in INTEGERS.items():
            values[attr] = _integer(form.get(name))
        values["confidence"] = _number(form.get("Confidence"))
        values["timestamp"] = _timestamp(form.get("Timestamp"))
        values["from_e164"] = _e164(values["from_"] or values["caller"], region)
        values["to_e164"] = _e164(values["to"] or values["called"], region)
        values["forwarded_from_e164"] = _e164(values["forwarded_from"], region)
        values["status"] = _enum(CallStatus, values["call_status_raw"])
        direction = values["direction_raw"]
        if direction and direction.startswith("outbound-dial"):
            direction = "outbound-dial"
        values["direction"] = _enum(CallDirection, direction)
        return cls(**values)

    @classmethod
    def from_request(cls) -> CallEvent:
        """The current webhook's form, its numbers read in the app's default region: the one
        way a view builds its ``CallEvent``, so no view picks the region (or the form) itself."""
        return cls.from_form(request.form, region=need(Settings).default_region)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _text(value: Any) -> str | None:
    """A parameter's text, or None. NUL characters are dropped: Twilio never sends them and
    PostgreSQL cannot store them, so a forged one must not turn into a database error."""
    if value is None or not isinstance(value, str):
        return None
    return value.replace("\x00", "")[:MAX_VALUE] or None


def _integer(value: Any) -> int | None:
    text = _text(value)
    if text is None:
        return None
    text = text.strip()
    if not text.isascii() or not text.lstrip("-").isdigit() or len(text) > 12:
        return None
    return int(text)


def _number(value: Any) -> float | None:
    text = _text(value)
    if text is None or not text.isascii() or len(text) > 32:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def _timestamp(value: Any) -> datetime | None:
    """Twilio sends RFC 2822 times: "Mon, 05 Jan 2026 15:00:00 +0000"."""
    text = _text(value)
    if text is None:
        return None
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _e164(value: str | None, region: str) -> str | None:
    if not value or value.startswith("client:") or value.startswith("sip:"):
        return None
    try:
        return normalize_phone(value, region=region)
    except InvalidPhone:
        return None


def _enum(enum: Any, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return enum(value)
    except ValueError:
        return None
