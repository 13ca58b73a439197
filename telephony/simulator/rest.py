"""The simulator's Twilio-compatible REST API, for the real twilio-python client.

A subset of ``/2010-04-01/Accounts/{AccountSid}/…`` with HTTP basic auth (the account SID
and auth token, or an API key and secret), Twilio's JSON shapes (snake_case, RFC 2822
dates, ``uri`` and ``subresource_uris``) and its error bodies
(``{"code", "message", "more_info", "status"}``): Calls (create, fetch, list, update: Url,
Twiml, Status), Recordings (fetch, delete, media as ``.wav`` or ``.mp3``: media.py), a
call's Recordings (start; update Status paused / in-progress / stopped with PauseBehavior),
Queues and their Members (list; fetch by CallSid or ``Front``; update with Url and Method:
dequeue) and Messages (create, fetch). Handlers only change state and schedule events; the engine
does the rest.
"""

from __future__ import annotations

import threading
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, jsonify, request
from werkzeug.serving import make_server

from telephony.simulator.engine import (
    API_VERSION,
    Recording,
    SimCall,
    Simulator,
    sid,
)
from telephony.simulator.errors import SimulationError, Unsubscribed
from telephony.simulator.media import ENCODERS, MEDIA_TYPES
from telephony.simulator.model import Participant, delta

PREFIX = f"/{API_VERSION}/Accounts/<account>"


def rfc2822(value: datetime | None) -> str | None:
    return format_datetime(value.replace(microsecond=0), usegmt=True) if value else None


def error(status: int, code: int, message: str):
    body = {
        "code": code,
        "message": message,
        "status": status,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
    }
    return jsonify(body), status


def page(key: str, items: list[dict[str, Any]], uri: str):
    """A list resource's one page, in Twilio's envelope (everything fits in page 0)."""
    return jsonify(
        {
            key: items,
            "page": 0,
            "page_size": max(len(items), 50),
            "start": 0,
            "end": max(len(items) - 1, 0),
            "uri": uri,
            "first_page_uri": uri,
            "next_page_uri": None,
            "previous_page_uri": None,
        }
    )


def make_rest_app(sim: Simulator, *, api_keys: dict[str, str] | None = None) -> Flask:
    app = Flask("twilio-simulator")
    credentials = {sim.account_sid: sim.auth_token, **(api_keys or {})}

    @app.before_request
    def authenticate():
        auth = request.authorization
        if auth is None or credentials.get(auth.username or "") != auth.password:
            return error(401, 20003, "Authenticate")
        account = (request.view_args or {}).get("account")
        if account is not None and account != sim.account_sid:
            return error(404, 20404, f"The requested resource {request.path} was not found")
        return None

    def base() -> str:
        return f"/{API_VERSION}/Accounts/{sim.account_sid}"

    def call_json(call: SimCall) -> dict[str, Any]:
        uri = f"{base()}/Calls/{call.sid}"
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
            "uri": f"{base()}/Recordings/{r.sid}.json",
            "media_url": f"{sim.api_base_url}{base()}/Recordings/{r.sid}",
            "subresource_uris": {},
            "pause_behavior": r.pause_behavior,
        }

    def get_call(call_sid: str) -> SimCall | None:
        return sim.calls.get(call_sid)

    def not_found():
        return error(404, 20404, f"The requested resource {request.path} was not found")

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
        uri = f"{base()}/Calls.json"
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

    # -------------------------------------------------------------------- Queues
    def queue_json(q) -> dict[str, Any]:
        return {
            "sid": q.sid,
            "account_sid": sim.account_sid,
            "friendly_name": q.name,
            "current_size": len(q.members),
            "max_size": q.max_size,
            "average_wait_time": q.average_wait(),
            "date_created": rfc2822(q.created_at),
            "date_updated": rfc2822(sim.clock.now()),
            "uri": f"{base()}/Queues/{q.sid}.json",
            "subresource_uris": {"members": f"{base()}/Queues/{q.sid}/Members.json"},
        }

    def member_json(q, call: SimCall) -> dict[str, Any]:
        since = call.queued.since if call.queued else sim.elapsed()
        return {
            "call_sid": call.sid,
            "queue_sid": q.sid,
            "position": q.members.index(call) + 1,
            "wait_time": int(sim.elapsed() - since),
            "date_enqueued": rfc2822(sim.started + delta(since)),
            "uri": f"{base()}/Queues/{q.sid}/Members/{call.sid}.json",
        }

    def find_queue(queue_sid: str):
        return next((q for q in sim.queues.values() if q.sid == queue_sid), None)

    @app.get(f"{PREFIX}/Queues.json")
    def list_queues(account: str):
        with sim.lock:
            queues = [queue_json(q) for q in sim.queues.values()]
        return page("queues", queues, f"{base()}/Queues.json")

    @app.get(f"{PREFIX}/Queues/<queue_sid>.json")
    def fetch_queue(account: str, queue_sid: str):
        with sim.lock:
            q = find_queue(queue_sid)
            return jsonify(queue_json(q)) if q else not_found()

    @app.get(f"{PREFIX}/Queues/<queue_sid>/Members.json")
    def list_members(account: str, queue_sid: str):
        with sim.lock:
            q = find_queue(queue_sid)
            if q is None:
                return not_found()
            members = [member_json(q, c) for c in q.members]
        return page("queue_members", members, f"{base()}/Queues/{queue_sid}/Members.json")

    def find_member(queue_sid: str, member: str):
        """The queue and the member (a CallSid, or ``Front``: whoever is first), or None."""
        q = find_queue(queue_sid)
        if q is None or not q.members:
            return q, None
        call = q.members[0] if member == "Front" else sim.calls.get(member)
        return q, call if call in q.members else None

    @app.get(f"{PREFIX}/Queues/<queue_sid>/Members/<member>.json")
    def fetch_member(account: str, queue_sid: str, member: str):
        """A member by its CallSid, or ``Front``; 404 for a call that is not in the queue."""
        with sim.lock:
            q, call = find_member(queue_sid, member)
            return jsonify(member_json(q, call)) if call is not None else not_found()

    @app.post(f"{PREFIX}/Queues/<queue_sid>/Members/<member>.json")
    def dequeue_member(account: str, queue_sid: str, member: str):
        """Dequeue a member (``Front`` or a CallSid): it leaves the queue (its Enqueue action
        hears QueueResult=redirected) and its call fetches ``Url`` with ``Method``."""
        url, method = request.form.get("Url") or "", request.form.get("Method") or "POST"
        if not url:
            return error(400, 21205, "Url parameter is required")
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            return error(400, 21205, f"Url is not a valid URL: {url}")
        if method.upper() not in ("GET", "POST"):
            return error(400, 21205, f"Method must be GET or POST, not {method}")
        with sim.lock:
            q, call = find_member(queue_sid, member)
            if call is None:
                return not_found()
            body = member_json(q, call)
            sim.redirect(call, url, method.upper())
            return jsonify(body)

    # -------------------------------------------------------------------- Conferences
    def conference_json(c) -> dict[str, Any]:
        uri = f"{base()}/Conferences/{c.sid}"
        return {
            "sid": c.sid,
            "account_sid": sim.account_sid,
            "friendly_name": c.name,
            "status": c.status,
            "region": "us1",
            "api_version": API_VERSION,
            "date_created": rfc2822(c.created_at),
            "date_updated": rfc2822(sim.clock.now()),
            "reason_conference_ended": c.reason_ended,
            "call_sid_ending_conference": c.call_sid_ending,
            "uri": f"{uri}.json",
            "subresource_uris": {
                "participants": f"{uri}/Participants.json",
                "recordings": f"{uri}/Recordings.json",
            },
        }

    def participant_json(c, p) -> dict[str, Any]:
        return {
            "account_sid": sim.account_sid,
            "call_sid": p.call.sid,
            "conference_sid": c.sid,
            "label": p.label,
            "muted": p.muted,
            "hold": p.hold,
            "coaching": p.coaching,
            "call_sid_to_coach": p.call_sid_to_coach,
            "status": p.status,
            "start_conference_on_enter": p.start_on_enter,
            "end_conference_on_exit": p.end_on_exit,
            "date_created": rfc2822(p.joined_at),
            "date_updated": rfc2822(sim.clock.now()),
            "queue_time": None,
            "uri": f"{base()}/Conferences/{c.sid}/Participants/{p.call.sid}.json",
        }

    def find_conference(key: str):
        return sim.conference(key, create=False) or sim.conferences.get(key)

    @app.get(f"{PREFIX}/Conferences.json")
    def list_conferences(account: str):
        name, status = request.args.get("FriendlyName"), request.args.get("Status")
        with sim.lock:
            found = [
                conference_json(c)
                for c in sim.conferences.values()
                if name in (None, c.name) and status in (None, c.status)
            ]
        return page("conferences", found, f"{base()}/Conferences.json")

    @app.get(f"{PREFIX}/Conferences/<key>.json")
    def fetch_conference(account: str, key: str):
        with sim.lock:
            c = find_conference(key)
            return jsonify(conference_json(c)) if c else not_found()

    @app.post(f"{PREFIX}/Conferences/<key>.json")
    def update_conference(account: str, key: str):
        with sim.lock:
            c = find_conference(key)
            if c is None:
                return not_found()
            if request.form.get("Status") == "completed":
                sim.end_conference(c, "conference-ended-via-api", None)
            return jsonify(conference_json(c))

    @app.post(f"{PREFIX}/Conferences/<key>/Participants.json")
    def add_participant(account: str, key: str):
        form = request.form
        if not form.get("To") or not form.get("From"):
            return error(400, 21201, "To and From are required")
        with sim.lock:
            c = sim.conference(key, create=True)
            if c is None:
                return not_found()
            if not c.participants and form.get("ConferenceStatusCallback"):
                c.status_callback = form["ConferenceStatusCallback"]
                c.events = set(form.getlist("ConferenceStatusCallbackEvent") or ["start", "end"])
            try:
                timeout = float(form.get("Timeout", 60))
            except ValueError:
                return error(400, 21207, "Timeout must be a number")
            call = sim.create_call(
                to=form["To"],
                from_=form["From"],
                url=None,
                status_callback=form.get("StatusCallback"),
                events=set(form.getlist("StatusCallbackEvent")) or {"completed"},
                timeout=max(5.0, min(timeout, 600.0)),
            )
            call.joins = (
                c,
                {
                    k: form.get(k)
                    for k in (
                        "Muted",
                        "Coaching",
                        "CallSidToCoach",
                        "StartConferenceOnEnter",
                        "EndConferenceOnExit",
                        "WaitUrl",
                        "Label",
                    )
                },
            )
            placeholder = Participant(
                call=call, joined_at=sim.clock.now(), status="queued", label=form.get("Label")
            )
            return jsonify(participant_json(c, placeholder)), 201

    @app.get(f"{PREFIX}/Conferences/<key>/Participants.json")
    def list_participants(account: str, key: str):
        with sim.lock:
            c = find_conference(key)
            if c is None:
                return not_found()
            found = [participant_json(c, p) for p in c.participants.values()]
        return page("participants", found, f"{base()}/Conferences/{key}/Participants.json")

    def participant_of(key: str, call_sid: str):
        c = find_conference(key)
        p = c.participants.get(call_sid) if c else None
        return c, p

    @app.get(f"{PREFIX}/Conferences/<key>/Participants/<call_sid>.json")
    def fetch_participant(account: str, key: str, call_sid: str):
        with sim.lock:
            c, p = participant_of(key, call_sid)
            return jsonify(participant_json(c, p)) if p else not_found()

    @app.post(f"{PREFIX}/Conferences/<key>/Participants/<call_sid>.json")
    def update_participant(account: str, key: str, call_sid: str):
        with sim.lock:
            c, p = participant_of(key, call_sid)
            if p is None:
                return not_found()
            sim.update_participant(c, p, request.form)
            return jsonify(participant_json(c, p))

    @app.delete(f"{PREFIX}/Conferences/<key>/Participants/<call_sid>.json")
    def kick_participant(account: str, key: str, call_sid: str):
        with sim.lock:
            c, p = participant_of(key, call_sid)
            if p is None:
                return not_found()
            sim.remove_participant(c, p.call)
            return "", 204

    # -------------------------------------------------------------------- Messages
    @app.post(f"{PREFIX}/Messages.json")
    def create_message(account: str):
        form = request.form
        if not form.get("To"):
            return error(400, 21604, "A 'To' phone number is required.")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return error(400, 21603, "A 'From' phone number is required.")
        if not form.get("Body") and not form.get("MediaUrl"):
            return error(400, 21602, "Message body is required.")
        if len(form.get("Body", "")) > 1600:
            return error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        with sim.lock:
            try:
                message = sim.send_message(
                    form["To"],
                    form.get("From", ""),
                    form.get("Body", ""),
                    form.get("StatusCallback"),
                )
            except Unsubscribed as exc:
                return error(400, exc.code, exc.message)
            return jsonify(message_json(message)), 201

    @app.get(f"{PREFIX}/Messages/<message_sid>.json")
    def fetch_message(account: str, message_sid: str):
        with sim.lock:
            message = sim.messages.get(message_sid)
            return jsonify(message_json(message)) if message else not_found()

    def message_json(m: dict[str, Any]) -> dict[str, Any]:
        return {
            "sid": m["sid"],
            "account_sid": sim.account_sid,
            "api_version": API_VERSION,
            "to": m["to"],
            "from": m["from"],
            "body": m["body"],
            "status": m["status"],
            "direction": m.get("direction", "outbound-api"),
            "num_segments": str(1 + len(m["body"]) // 160),
            "num_media": "0",
            "date_created": rfc2822(m["created_at"]),
            "date_updated": rfc2822(sim.clock.now()),
            "date_sent": None,
            "error_code": None,
            "error_message": None,
            "price": None,
            "price_unit": "USD",
            "messaging_service_sid": None,
            "uri": f"{base()}/Messages/{m['sid']}.json",
            "subresource_uris": {"media": f"{base()}/Messages/{m['sid']}/Media.json"},
        }

    @app.errorhandler(404)
    def unknown(_exc):
        return not_found()

    @app.errorhandler(405)
    def method(_exc):
        return error(405, 20004, "Method not allowed")

    return app


class RestServer:
    """The REST app on a loopback port in a thread (tests and the demo)."""

    def __init__(self, sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = make_server(host, port, make_rest_app(sim), threaded=True)
        self.url = f"http://{host}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> RestServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


__all__ = ["RestServer", "make_rest_app", "sid"]
