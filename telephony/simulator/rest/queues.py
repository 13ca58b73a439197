"""Queues and their Members (list; fetch by CallSid or ``Front``; update with Url and Method:
dequeue)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Flask, jsonify, request

from telephony.simulator.engine import Simulator
from telephony.simulator.model import SimCall, delta
from telephony.simulator.rest.common import PREFIX, base, error, not_found, page, rfc2822


def register(app: Flask, sim: Simulator) -> None:
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
            "uri": f"{base(sim)}/Queues/{q.sid}.json",
            "subresource_uris": {"members": f"{base(sim)}/Queues/{q.sid}/Members.json"},
        }

    def member_json(q, call: SimCall) -> dict[str, Any]:
        since = call.queued.since if call.queued else sim.elapsed()
        return {
            "call_sid": call.sid,
            "queue_sid": q.sid,
            "position": q.members.index(call) + 1,
            "wait_time": int(sim.elapsed() - since),
            "date_enqueued": rfc2822(sim.started + delta(since)),
            "uri": f"{base(sim)}/Queues/{q.sid}/Members/{call.sid}.json",
        }

    def find_queue(queue_sid: str):
        return next((q for q in sim.queues.values() if q.sid == queue_sid), None)

    @app.get(f"{PREFIX}/Queues.json")
    def list_queues(account: str):
        with sim.lock:
            queues = [queue_json(q) for q in sim.queues.values()]
        return page("queues", queues, f"{base(sim)}/Queues.json")

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
        return page("queue_members", members, f"{base(sim)}/Queues/{queue_sid}/Members.json")

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
