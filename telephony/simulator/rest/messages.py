"""Messages (create, fetch); a recipient who texted STOP is Twilio's error 21610."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request

from telephony.simulator.engine import Simulator
from telephony.simulator.errors import Unsubscribed
from telephony.simulator.model import API_VERSION
from telephony.simulator.rest.common import PREFIX, base, error, not_found, rfc2822


def register(app: Flask, sim: Simulator) -> None:
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
            "uri": f"{base(sim)}/Messages/{m['sid']}.json",
            "subresource_uris": {"media": f"{base(sim)}/Messages/{m['sid']}/Media.json"},
        }
