"""TwiML, verb by verb, as Twilio documents it: the Simulator's half that runs documents."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from telephony.simulator.model import (
    API_VERSION,
    DOCUMENT_PARSE_FAILURE,
    HTTP_RETRIEVAL_FAILURE,
    PLAY_SECONDS,
    SCHEMA_VALIDATION_WARNING,
    SECONDS_PER_WORD,
    Gather,
    Notification,
    Record,
    SimCall,
)
from telephony.simulator.model import absolute as _absolute
from telephony.simulator.model import number as _number
from telephony.simulator.schema import conform

if TYPE_CHECKING:
    pass

log = logging.getLogger("callcenter.simulator")


class Verbs:
    """Mixed into Simulator: fetching documents, executing their verbs, and what a party's
    keys and voice do to a <Gather> or a <Record> (``dtmf``, ``speech``, ``talking``)."""

    def _params(self, call: SimCall) -> dict[str, str]:
        params = {
            "CallSid": call.sid,
            "AccountSid": call.account_sid,
            "From": call.from_,
            "To": call.to,
            "Caller": call.from_,
            "Called": call.to,
            "CallStatus": call.status,
            "ApiVersion": API_VERSION,
            "Direction": call.direction,
        }
        if call.parent_sid:
            params["ParentCallSid"] = call.parent_sid
        return params

    def _post(self, url: str, params: dict[str, str]):
        """Every webhook goes through here, with the simulator's lock let go: the app may call
        the REST API before it answers (transport.SimulatorLock). What the REST calls change
        meanwhile is what they would change at Twilio while a webhook is out."""
        with self.lock.released():
            return self.transport.post(url, params, self.auth_token)

    def _parse(
        self, body: bytes | str, call: SimCall | None = None, url: str | None = None
    ) -> list[ET.Element] | None:
        """The verbs of a document, or None if it cannot be run (12100); what does not conform
        to the schema is dropped with a 12200 warning (schema.py)."""
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            return None
        if root.tag != "Response":
            return None
        verbs = list(root)
        for message in conform(verbs):
            self._notify(call, SCHEMA_VALIDATION_WARNING, "warning", message, url)
        return verbs

    def _notify(
        self, call: SimCall | None, code: str, level: str, message: str, url: str | None
    ) -> None:
        """Log to the debugger, as Twilio does: ``notifications`` (and errors in ``errors``)."""
        sid_ = call.sid if call is not None else None
        self.notifications.append(Notification(sid_, code, level, message, url))
        log.warning("call %s: %s %s on %s: %s", sid_, level, code, url, message)

    def _fetch(self, call: SimCall, url: str | None, extra: dict[str, str]) -> bool:
        """Fetch TwiML into the call's program; on failure, the fallback URL, then an error."""
        if url is None:
            call.program = []
            return False
        reply = self._post(url, self._params(call) | extra)
        program = self._parse(reply.body, call, url) if reply.status == 200 else None
        if program is not None:
            call.program, call.doc_url = program, url
            return True
        code = HTTP_RETRIEVAL_FAILURE if reply.status != 200 else DOCUMENT_PARSE_FAILURE
        message = f"{code} on {url}: HTTP {reply.status} {reply.body[:200]!r}"
        call.errors.append(message)
        self.errors.append(f"{call.sid}: {message}")
        self._notify(call, code, "error", f"HTTP {reply.status} {reply.body[:200]!r}", url)
        if call.fallback_url and not call.in_fallback:
            call.in_fallback = True
            return self._fetch(call, call.fallback_url, {"ErrorCode": code, "ErrorUrl": url})
        call.program = self._parse(
            "<Response><Say>An application error has occurred. Goodbye.</Say><Hangup/></Response>"
        )  # what Twilio plays when nothing else can be done
        return False

    def _run(self, call: SimCall) -> None:
        while call.program and not call.ended:
            verb = call.program.pop(0)
            handler = getattr(self, f"_verb_{verb.tag.lower()}", None)
            if handler is None:  # valid TwiML (schema.py) that the simulator does not run
                call.errors.append(f"<{verb.tag}> is not simulated; skipped")
                continue
            if handler(call, verb):
                return  # the verb continues later (a timer, input, or a new document)
        if call.ended or call.record is not None or call.gather is not None:
            return
        if call.queued is not None:  # the hold document ran out: it is requested again
            self.after(0, self._queue_wait, call, call.token)
        elif call.dialing is not None or call.conference is not None:
            self._music_ended(call)  # in a conference: waiting or hold music goes round again
            return  # held in <Dial> until the bridge or conference ends
        elif (
            call.dial_parent is not None
            and call.dial_parent.dialing is not None
            and (call.dial_parent.dialing.child is None)
        ):
            self._bridge(call)  # an answered leg's whisper is over: connect it
        elif call.dial_parent is not None and call.dial_parent.dialing is not None:
            return  # a bridged leg stays up until one side hangs up
        else:
            self._end(call, "completed")  # no more verbs: Twilio hangs up

    def _continue(self, call: SimCall, token: int) -> None:
        if call.token == token and not call.ended:
            self._run(call)

    def _hear(self, call: SimCall, kind: str, text: str, seconds: float = 0.0) -> float:
        """The party hears ``text`` for ``seconds``; returns when it is over (one clock
        reading, shared by the listener and whatever comes next)."""
        end = self.elapsed() + seconds
        if call.party is not None:
            call.party.heard(kind, text, end)
        return end

    def _speak_seconds(self, verb: ET.Element) -> tuple[str, float]:
        text = " ".join((verb.text or "").split())
        loops = int(_number(verb.get("loop"), 1)) or 1
        return text, max(1.0, len(text.split()) * SECONDS_PER_WORD) * loops

    def _verb_say(self, call: SimCall, verb: ET.Element) -> bool:
        text, seconds = self._speak_seconds(verb)
        self.at(self._hear(call, "say", text, seconds), self._continue, call, call.token)
        return True

    def _verb_play(self, call: SimCall, verb: ET.Element) -> bool:
        loops = int(_number(verb.get("loop"), 1)) or 1
        end = self._hear(call, "play", (verb.text or "").strip(), PLAY_SECONDS * loops)
        self.at(end, self._continue, call, call.token)
        return True

    def _verb_pause(self, call: SimCall, verb: ET.Element) -> bool:
        self.after(_number(verb.get("length"), 1), self._continue, call, call.token)
        return True

    def _verb_hangup(self, call: SimCall, verb: ET.Element) -> bool:
        self._end(call, "completed")
        return True

    def _verb_reject(self, call: SimCall, verb: ET.Element) -> bool:
        self._end(call, "completed" if call.answered else "busy")
        return True

    def _verb_redirect(self, call: SimCall, verb: ET.Element) -> bool:
        url = _absolute((verb.text or "").strip(), call.doc_url)
        call.token += 1
        self.after(0, self._redirect_now, call, call.token, url, verb.get("method", "POST"))
        return True

    # <Gather>: nested Say/Play/Pause play in turn; input stops them; then `timeout` seconds.
    def _verb_gather(self, call: SimCall, verb: ET.Element) -> bool:
        call.gather = Gather(dict(verb.attrib), list(verb))
        self._gather_step(call, call.token)
        return True

    def _gather_step(self, call: SimCall, token: int) -> None:
        gather = call.gather
        if call.token != token or call.ended or gather is None:
            return
        if gather.nested:
            nested = gather.nested.pop(0)
            if nested.tag == "Say":
                text, seconds = self._speak_seconds(nested)
                end = self._hear(call, "say", text, seconds)
            elif nested.tag == "Play":
                end = self._hear(call, "play", (nested.text or "").strip(), PLAY_SECONDS)
            else:
                end = self.elapsed() + _number(nested.get("length"), 1)
            self.at(end, self._gather_step, call, token)
            return
        self.after(_number(gather.attrs.get("timeout"), 5), self._gather_timeout, call, token)

    # ------------------------------------------------------------------ party input
    def dtmf(self, call: SimCall, digits: str) -> None:
        with self.lock:
            for digit in digits:
                if call.ended:
                    return
                if call.record is not None:
                    if digit in call.record.attrs.get("finishOnKey", "1234567890*#"):
                        self._finish_record(call, digit)
                    continue
                gather = call.gather
                if gather is None or "dtmf" not in gather.attrs.get("input", "dtmf"):
                    continue  # outside <Gather> key presses are not collected
                call.token += 1  # stops the prompt (barge-in) and restarts the timeout
                gather.nested = []
                if digit == gather.attrs.get("finishOnKey", "#"):
                    self._submit_gather(call, finished_on_key=digit)
                    return
                gather.digits += digit
                wanted = gather.attrs.get("numDigits")
                if wanted and wanted.isdigit() and len(gather.digits) >= int(wanted):
                    self._submit_gather(call)
                    return
                self.after(
                    _number(gather.attrs.get("timeout"), 5), self._gather_timeout, call, call.token
                )

    def speech(self, call: SimCall, text: str) -> None:
        with self.lock:
            gather = call.gather
            if call.ended or gather is None or "speech" not in gather.attrs.get("input", "dtmf"):
                return
            call.token += 1
            self._submit_gather(call, speech=text)

    def talking(self, call: SimCall, seconds: float, words: str | None = None) -> None:
        """The party speaks for ``seconds``; into a <Record>, that is audio (and ``words``,
        what its transcription will read). Outside <Record> nobody is listening."""
        with self.lock:
            record = call.record
            if record is None or call.ended:
                return
            limit = _number(record.attrs.get("maxLength"), 3600)
            spoken = min(seconds, limit - record.audio)
            record.audio += spoken
            if words and spoken > 0:
                record.words.append(words)
            record.last_audio_end = self.elapsed() + spoken
            call.token += 1
            if record.audio >= limit:
                self.after(spoken, self._finish_record_if, call, call.token, None)
            else:  # after speech, `timeout` seconds of silence end the recording
                silence = _number(record.attrs.get("timeout"), 5)
                self.after(spoken + silence, self._finish_record_if, call, call.token, None)

    # ------------------------------------------------------------------ Gather and Record
    def _gather_timeout(self, call: SimCall, token: int) -> None:
        if call.token == token and not call.ended and call.gather is not None:
            self._submit_gather(call)

    def _submit_gather(
        self, call: SimCall, *, speech: str | None = None, finished_on_key: str | None = None
    ) -> None:
        gather, call.gather = call.gather, None
        call.token += 1
        empty = not gather.digits and speech is None
        if empty and gather.attrs.get("actionOnEmptyResult", "false") != "true":
            self.after(0, self._continue, call, call.token)  # no input: the next verb
            return
        extra = {"Digits": gather.digits}
        if finished_on_key is not None:
            extra["FinishedOnKey"] = finished_on_key
        if speech is not None:
            extra = {"SpeechResult": speech, "Confidence": "0.92"}
        url = _absolute(gather.attrs.get("action") or call.doc_url or "", call.doc_url)
        self.after(0, self._action, call, call.token, url, extra)

    def _action(self, call: SimCall, token: int, url: str, extra: dict[str, str]) -> None:
        if call.token == token and not call.ended:
            call.status = "in-progress"
            self._fetch(call, url, extra)
            self._run(call)

    # <Record>: a beep, then audio until silence, a finish key, maxLength or hang-up.
    def _verb_record(self, call: SimCall, verb: ET.Element) -> bool:
        if verb.get("playBeep", "true") == "true":
            self._hear(call, "beep", "")
        call.record = Record(dict(verb.attrib), started=self.elapsed())
        silence = _number(verb.get("timeout"), 5)
        self.after(silence, self._finish_record_if, call, call.token, None)
        return True

    def _finish_record_if(self, call: SimCall, token: int, digits: str | None) -> None:
        if call.token == token and call.record is not None and not call.ended:
            self._finish_record(call, digits)

    def _finish_record(self, call: SimCall, digits: str | None) -> None:
        record, call.record = call.record, None
        call.token += 1
        if record.audio <= 0:
            self.after(0, self._continue, call, call.token)  # nothing recorded: next verb
            return
        callback = record.attrs.get("recordingStatusCallback")
        recording = self._new_recording(
            call,
            channels=1,
            source="RecordVerb",
            status_callback=_absolute(callback, call.doc_url) if callback else None,
            events=record.attrs.get("recordingStatusCallbackEvent"),
        )
        recording.seconds = max(1, round(record.audio))
        self._complete_recording(recording)
        extra = {
            "RecordingUrl": self.recording_url(recording),
            "RecordingSid": recording.sid,
            "RecordingDuration": str(recording.duration),
        }
        if digits is not None:
            extra["Digits"] = digits
        action = _absolute(record.attrs.get("action") or call.doc_url or "", call.doc_url)
        if digits == "hangup":  # the action is requested, its TwiML ignored
            self._post_quietly(action, self._params(call) | extra)
        else:
            self.after(0, self._action, call, call.token, action, extra)
        self._transcribe(call, record, recording, call.doc_url)  # later, whatever happens next

    def _post_quietly(self, url: str, params: dict[str, str]) -> None:
        reply = self._post(url, params)
        if reply.status >= 400 or reply.status == 0:
            self.errors.append(f"callback {url} answered {reply.status}")
