"""Calls (create, fetch, list, update: Url, Twiml, Status) and Recordings (a call's: start,
update Status paused / in-progress / stopped with PauseBehavior; fetch, delete, media as
``.wav`` or ``.mp3``: media.py)."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request

from telephony.simulator.engine import Simulator
from telephony.simulator.errors import SimulationError
from telephony.simulator.media import ENCODERS, MEDIA_TYPES
from telephony.simulator.model import API_VERSION, Recording, SimCall
from telephony.simulator.rest.common import PREFIX, base, error, not_found, page, rfc2822


def register(app: Flask, sim: Simulator) -> None:
    def call_json(call: SimCall) -> dict[str, Any]:
        uri = f"{base(sim)}/Calls/{call.sid}"
        return {
            "sid": call.sid,
            "account_sid": call.account_sid,
            "api_version": API_VERSION,
            "to": call.to,
            "to_formatted": call.to,
            "from": call.from_,
            "from_formatted": call.from_,
            "status": call.status,
            "direction": call.direction,
            "parent_call_sid": call.parent_sid,
            "phone_number_sid": None,
            "date_created": rfc2822(call.created_at),
            "date_updated": rfc2822(sim.clock.now()),
            "start_time": rfc2822(call.start_time),
            "end_time": rfc2822(call.end_time),
            "duration": str(call.duration()) if call.ended else None,
            "price": None,
            "price_unit": "USD",
            "answered_by": None,
            "caller_name": None,
            "forwarded_from": None,
            "group_sid": None,
            "queue_time": "0",
            "trunk_sid": None,
            "annotation": None,
            "uri": f"{uri}.json",
            "subresource_uris": {
                "recordings": f"{uri}/Recordings.json",
                "notifications": f"{uri}/Notifications.json",
            },
        }

    def recording_json(r: Recording) -> dict[str, Any]:
        return {
            "sid": r.sid,
            "account_sid": r.account_sid,
            "call_sid": r.call_sid,
            "conference_sid": None,
            "api_version": API_VERSION,
            "channels": r.channels,
            "duration": str(r.duration) if r.status == "completed" else "-1",
            "status": r.status,
            "source": r.source,
            "error_code": None,
            "price": None,
            "price_unit": "USD",
            "encryption_details": None,
            "track": "both",
            "date_created": rfc2822(r.created_at),
            "date_updated": rfc2822(sim.clock.now()),
            "start_time": rfc2822(r.created_at),
            "uri": f"{base(sim)}/Recordings/{r.sid}.json",
            "media_url": f"{sim.api_base_url}{base(sim)}/Recordings/{r.sid}",
            "subresource_uris": {},
            "pause_behavior": r.pause_behavior,
        }

    def get_call(call_sid: str) -> SimCall | None:
        return sim.calls.get(call_sid)

    # -------------------------------------------------------------------- Calls
    @app.post(f"{PREFIX}/Calls.json")
    def create_call(account: str):
        form = request.form
        if not form.get("To"):
            return error(400, 21201, "No 'To' number is specified")
        if not form.get("From"):
            return error(400, 21213, "No 'From' number is specified")
        if not form.get("Url") and not form.get("Twiml"):
            return error(400, 21205, "Url parameter is required")
        events = set(form.getlist("StatusCallbackEvent")) or {"completed"}
        if "answered" in events:
            events.add("answered")
        try:
            timeout = float(form.get("Timeout", 60))
        except ValueError:
            return error(400, 21207, "Timeout must be a number")
        with sim.lock:
            call = sim.create_call(
                to=form["To"],
                from_=form["From"],
                url=form.get("Url"),
                twiml=form.get("Twiml"),
                method=form.get("Method", "POST"),
                status_callback=form.get("StatusCallback"),
                events=events,
                fallback_url=form.get("FallbackUrl"),
                timeout=max(5.0, min(timeout, 600.0)),
            )
            return jsonify(call_json(call)), 201

    @app.get(f"{PREFIX}/Calls.json")
    def list_calls(account: str):
        status = request.args.get("Status")
        with sim.lock:
            calls = [call_json(c) for c in sim.calls.values() if status in (None, c.status)]
        uri = f"{base(sim)}/Calls.json"
        return page("calls", calls, uri)

    @app.get(f"{PREFIX}/Calls/<call_sid>.json")
    def fetch_call(account: str, call_sid: str):
        with sim.lock:
            call = get_call(call_sid)
            return jsonify(call_json(call)) if call else not_found()

    @app.post(f"{PREFIX}/Calls/<call_sid>.json")
    def update_call(account: str, call_sid: str):
        form = request.form
        with sim.lock:
            call = get_call(call_sid)
            if call is None:
                return not_found()
            try:
                if form.get("Status") in ("completed", "canceled"):
                    sim.end_call(call, form["Status"])
                elif form.get("Status"):
                    return error(400, 21218, "Invalid value for Status")
                elif form.get("Twiml") or form.get("Url"):
                    if call.ended:
                        raise SimulationError("ended")
                    if form.get("Twiml"):
                        sim.replace_twiml(call, form["Twiml"])
                    else:
                        sim.redirect(call, form["Url"], form.get("Method", "POST"))
            except SimulationError:
                return error(400, 21220, "Call is not in-progress. Cannot redirect.")
            return jsonify(call_json(call))

    # -------------------------------------------------------------------- Recordings
    @app.post(f"{PREFIX}/Calls/<call_sid>/Recordings.json")
    def start_recording(account: str, call_sid: str):
        with sim.lock:
            call = get_call(call_sid)
            if call is None:
                return not_found()
            if call.status != "in-progress":
                return error(400, 21220, "Requested resource is not eligible for recording")
            channels = request.form.get("RecordingChannels", "mono")
            recording = sim.start_call_recording(
                call,
                channels=2 if channels == "dual" else 1,
                status_callback=request.form.get("RecordingStatusCallback"),
                events=request.form.getlist("RecordingStatusCallbackEvent") or None,
            )
            return jsonify(recording_json(recording)), 201

    @app.post(f"{PREFIX}/Calls/<call_sid>/Recordings/<recording_sid>.json")
    def update_recording(account: str, call_sid: str, recording_sid: str):
        status = request.form.get("Status")
        with sim.lock:
            recording = sim.recordings.get(recording_sid)
            if recording is None or recording.call_sid != call_sid:
                return not_found()
            if status not in ("paused", "in-progress", "stopped"):
                return error(400, 21218, "Invalid value for Status")
            try:
                sim.set_recording_status(
                    recording, status, request.form.get("PauseBehavior", "silence")
                )
            except SimulationError as exc:
                return error(400, 21220, str(exc))
            return jsonify(recording_json(recording))

    @app.get(f"{PREFIX}/Recordings/<recording_sid>.json")
    def fetch_recording(account: str, recording_sid: str):
        with sim.lock:
            recording = sim.recordings.get(recording_sid)
            if recording is None or recording.deleted:
                return not_found()
            return jsonify(recording_json(recording))

    @app.delete(f"{PREFIX}/Recordings/<recording_sid>.json")
    def delete_recording(account: str, recording_sid: str):
        with sim.lock:
            recording = sim.recordings.get(recording_sid)
            if recording is None or recording.deleted:
                return not_found()
            recording.deleted = True
            return "", 204

    @app.get(f"{PREFIX}/Recordings/<recording_sid>.<any(wav, mp3):ext>")
    def recording_media(account: str, recording_sid: str, ext: str):
        with sim.lock:
            recording = sim.recordings.get(recording_sid)
            if recording is None or recording.deleted or recording.status != "completed":
                return not_found()
        fault = sim.next_media_fault()  # tests' planned failures (Recordings.plan_media_faults)
        if fault == "error":
            return error(500, 20500, "Internal Server Error")
        audio = ENCODERS[ext](recording)  # a completed recording no longer changes
        if fault == "truncate":
            audio = audio[: len(audio) // 2]
        elif fault == "tamper":
            audio = audio[:40] + (len(audio) // 3).to_bytes(4, "little") + audio[44:]
        headers = {"Content-Length": str(len(audio))}
        return Response(audio, mimetype=MEDIA_TYPES[ext], headers=headers)
