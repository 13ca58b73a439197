"""Call recordings, however they start: <Record>, ``record`` on <Dial>, or the REST API.

One Recording model and one set of status callbacks for all three, as Twilio documents
them: the callback carries AccountSid, CallSid (always the parent leg of a two-leg call),
RecordingSid, RecordingUrl, RecordingStatus, RecordingDuration, RecordingChannels,
RecordingStartTime and RecordingSource (RecordVerb, DialVerb, StartCallRecordingAPI), for
each event asked for in recordingStatusCallbackEvent (``in-progress``, ``completed``,
``absent``; ``completed`` by default). A recording with nothing in it is ``absent``.

``record`` on <Dial>: ``record-from-answer`` starts when the dialed party answers,
``record-from-ringing`` when the ringing begins, each ``-dual`` variant with the parent call
in the first channel and the child in the second; ``true`` and ``false`` are aliases of
``record-from-answer`` and ``do-not-record``. The recording covers the <Dial> and ends with
it; the Dial ``action`` then gets its RecordingUrl.

Transcription (<Record> only): ``transcribe="true"``, or a ``transcribeCallback``, which
implies it. Some seconds after the recording ends (after the action request, and after the
call if the caller hung up to end it), the transcribeCallback gets an asynchronous POST that
is not a request for TwiML: the standard request parameters plus TranscriptionSid,
TranscriptionText, TranscriptionStatus (``completed`` or ``failed``), TranscriptionUrl,
RecordingSid and RecordingUrl. Without a callback the transcription is only kept
(``transcriptions``). Twilio transcribes recordings longer than 2 seconds and at most two
minutes; others fail, with warning 13617. The text is the words the party spoke
(``talk(seconds, words)``); a recording with no words fails too, there being nothing to read.
"""

from __future__ import annotations

from email.utils import format_datetime
from typing import TYPE_CHECKING

from telephony.simulator.errors import SimulationError
from telephony.simulator.model import (
    API_VERSION,
    RECORDING_LENGTH_OUT_OF_RANGE,
    TRANSCRIBE_MAX_SECONDS,
    TRANSCRIBE_MIN_SECONDS,
    Dialing,
    Record,
    Recording,
    SimCall,
    Transcription,
    sid,
)
from telephony.simulator.model import absolute as _absolute

if TYPE_CHECKING:
    from telephony.simulator.engine import Simulator

DIAL_RECORD_ALIASES = {"true": "record-from-answer", "false": "do-not-record"}
TRANSCRIPTION_DELAY = 5.0  # simulated seconds from the end of a recording to its transcription


MEDIA_FAULTS = ("error", "truncate", "tamper")


class Recordings:
    """Mixed into Simulator."""

    # ------------------------------------------------------------------ media faults (tests)
    def plan_media_faults(self: Simulator, *faults: str) -> None:
        """Make the next media requests go wrong, one fault each, in order (tests of the
        download job): ``error`` answers 500; ``truncate`` serves the first half of the file
        with a Content-Length that matches it (a cut file); ``tamper`` serves the whole
        length with the WAV header's data size altered (bytes that are not the recording)."""
        unknown = set(faults) - set(MEDIA_FAULTS)
        if unknown:
            raise ValueError(f"unknown media faults {sorted(unknown)}; known: {MEDIA_FAULTS}")
        with self.lock:
            self.__dict__.setdefault("_media_faults", []).extend(faults)

    def next_media_fault(self: Simulator) -> str | None:
        """The fault planned for this media request, if any (consumed)."""
        with self.lock:
            planned = self.__dict__.get("_media_faults")
            return planned.pop(0) if planned else None

    def recording_url(self: Simulator, recording: Recording) -> str:
        """Where the media is served (the REST API), without extension, as Twilio sends it."""
        base = f"{self.api_base_url}/{API_VERSION}/Accounts/{recording.account_sid}"
        return f"{base}/Recordings/{recording.sid}"

    def _new_recording(
        self: Simulator,
        call: SimCall,
        *,
        channels: int,
        source: str,
        status_callback: str | None,
        events: str | list[str] | None,
    ) -> Recording:
        if isinstance(events, str):
            events = events.split()
        recording = Recording(
            sid=sid("RE"),
            account_sid=call.account_sid,
            call_sid=call.sid,
            duration=0,
            channels=channels,
            source=source,
            created_at=self.clock.now(),
            status="in-progress",
            status_callback=status_callback,
            events=set(events or ["completed"]),
            running_since=self.elapsed(),
        )
        self.recordings[recording.sid] = recording
        return recording

    def start_call_recording(
        self: Simulator,
        call: SimCall,
        *,
        channels: int,
        status_callback: str | None,
        events: list[str] | None = None,
    ) -> Recording:
        """The call's Recordings resource, create: recording starts now."""
        recording = self._new_recording(
            call,
            channels=channels,
            source="StartCallRecordingAPI",
            status_callback=status_callback,
            events=events,
        )
        self._recording_event(recording)
        return recording

    def set_recording_status(
        self: Simulator, recording: Recording, status: str, pause_behavior: str
    ) -> None:
        """paused (skip: the pause is cut out; silence: it is kept as silence), in-progress, or
        stopped (the recording is finished and its callback sent)."""
        if recording.status in ("stopped", "completed", "absent"):
            raise SimulationError("the recording has already ended")
        now = self.elapsed()
        if recording.status == "in-progress" and recording.running_since is not None:
            recording.seconds += now - recording.running_since
        if recording.status == "paused" and recording.pause_behavior == "silence":
            recording.seconds += now - (recording.running_since or now)
        recording.running_since = now
        if status == "paused":
            recording.pause_behavior = pause_behavior
        if status == "stopped":
            self._complete_recording(recording)
        else:
            recording.status = status

    def _complete_recording(self: Simulator, recording: Recording) -> None:
        recording.duration = max(0, round(recording.seconds))
        recording.status = "completed" if recording.duration > 0 else "absent"
        recording.running_since = None
        self._recording_event(recording)

    def _recording_event(self: Simulator, recording: Recording) -> None:
        """The status callback for the recording's current status, if that event was asked for."""
        if not recording.status_callback or recording.status not in recording.events:
            return
        params = {
            "AccountSid": recording.account_sid,
            "CallSid": recording.call_sid,
            "RecordingSid": recording.sid,
            "RecordingUrl": self.recording_url(recording),
            "RecordingStatus": recording.status,
            "RecordingChannels": str(recording.channels),
            "RecordingSource": recording.source,
            "RecordingStartTime": format_datetime(recording.created_at, usegmt=True),
        }
        if recording.status != "in-progress":
            params["RecordingDuration"] = str(recording.duration)
        self.after(0, self._post_quietly, recording.status_callback, params)

    # ------------------------------------------------------------------ record on <Dial>
    def _dial_record(self: Simulator, call: SimCall, moment: str) -> None:
        """Called when the <Dial> starts ringing (``moment`` "ringing") and when the dialed
        party is connected ("answer"): start the recording if ``record`` asks for it then."""
        dialing = call.dialing
        if dialing is None or dialing.recording is not None:
            return
        mode = dialing.attrs.get("record", "do-not-record")
        mode = DIAL_RECORD_ALIASES.get(mode, mode)
        if mode not in (
            "record-from-answer",
            "record-from-ringing",
            "record-from-answer-dual",
            "record-from-ringing-dual",
        ):
            return  # do-not-record (an unknown value is Twilio's warning 13217: not recorded)
        if moment == "ringing" and not mode.startswith("record-from-ringing"):
            return
        callback = dialing.attrs.get("recordingStatusCallback")
        dialing.recording = self._new_recording(
            call,
            channels=2 if mode.endswith("-dual") else 1,
            source="DialVerb",
            status_callback=_absolute(callback, dialing.doc_url) if callback else None,
            events=dialing.attrs.get("recordingStatusCallbackEvent"),
        )
        self._recording_event(dialing.recording)

    def _dial_record_done(self: Simulator, dialing: Dialing) -> dict[str, str]:
        """The <Dial> is over: so is its recording. Returns what the action gets of it."""
        recording = dialing.recording
        if recording is None:
            return {}
        if recording.status in ("in-progress", "paused"):
            self.set_recording_status(recording, "stopped", "skip")
        return {"RecordingUrl": self.recording_url(recording)}

    # ------------------------------------------------------------------ transcription
    def transcription_url(self: Simulator, transcription: Transcription) -> str:
        """The transcription's REST resource, under its recording, as TranscriptionUrl."""
        recording = self.recordings[transcription.recording_sid]
        return f"{self.recording_url(recording)}/Transcriptions/{transcription.sid}"

    def _transcribe(
        self: Simulator, call: SimCall, record: Record, recording: Recording, doc_url: str | None
    ) -> None:
        """A <Record> has made ``recording``: transcribe it later if the verb asked for it
        (``transcribe="true"`` or a transcribeCallback, relative to the verb's document)."""
        callback = record.attrs.get("transcribeCallback")
        if record.attrs.get("transcribe", "false").lower() != "true" and not callback:
            return
        transcription = Transcription(
            sid=sid("TR"),
            account_sid=recording.account_sid,
            call_sid=call.sid,
            recording_sid=recording.sid,
            duration=recording.duration,
            created_at=self.clock.now(),
            callback=_absolute(callback, doc_url) if callback else None,
        )
        self.transcriptions[transcription.sid] = transcription
        text = " ".join(" ".join(record.words).split())
        if not TRANSCRIBE_MIN_SECONDS < recording.duration <= TRANSCRIBE_MAX_SECONDS:
            self._notify(
                call,
                RECORDING_LENGTH_OUT_OF_RANGE,
                "warning",
                f"Record: Recording length is out of range for transcription "
                f"({recording.duration} s)",
                transcription.callback,
            )
            text = ""
        self.after(TRANSCRIPTION_DELAY, self._transcribed, call, transcription, text)

    def _transcribed(
        self: Simulator, call: SimCall, transcription: Transcription, text: str
    ) -> None:
        """The transcription is done: completed with the words, or failed without text."""
        transcription.status = "completed" if text else "failed"
        transcription.text = text or None
        if transcription.callback is None:
            return
        recording = self.recordings[transcription.recording_sid]
        params = self._params(call) | {
            "TranscriptionSid": transcription.sid,
            "TranscriptionStatus": transcription.status,
            "TranscriptionUrl": self.transcription_url(transcription),
            "RecordingSid": recording.sid,
            "RecordingUrl": self.recording_url(recording),
        }
        if text:
            params["TranscriptionText"] = text
        self._post_quietly(transcription.callback, params)
