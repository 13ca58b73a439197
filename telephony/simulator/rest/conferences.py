"""Conferences (list, fetch, end) and their Participants (add, list, fetch, update, remove)."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request

from telephony.simulator.engine import Simulator
from telephony.simulator.model import API_VERSION, Participant
from telephony.simulator.rest.common import PREFIX, base, error, not_found, page, rfc2822


def register(app: Flask, sim: Simulator) -> None:
    def conference_json(c) -> dict[str, Any]:
        uri = f"{base(sim)}/Conferences/{c.sid}"
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
            "uri": f"{base(sim)}/Conferences/{c.sid}/Participants/{p.call.sid}.json",
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
        return page("conferences", found, f"{base(sim)}/Conferences.json")

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
        return page("participants", found, f"{base(sim)}/Conferences/{key}/Participants.json")

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
