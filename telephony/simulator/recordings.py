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
"""

from __future__ import annotations

from email.utils import format_datetime
from typing import TYPE_CHECKING

from telephony.simulator.model import (
    API_VERSION,
    Dialing,
    Recording,
    SimCall,
    SimulationError,
    sid,
)
from telephony.simulator.model import absolute as _absolute

if TYPE_CHECKING:
    from telephony.simulator.engine import Simulator

DIAL_RECORD_ALIASES = {"true": "record-from-answer", "false": "do-not-record"}


class Recordings:
    """Mixed into Simulator."""

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
            sid=sid("RE", self._sids),
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
