"""The baseline of bench/webhook_latency.py: a bare Flask app on the same two webhook paths.

No signature check, no form parsing, no database: ``POST /twilio/voice`` answers a fixed
TwiML document (the same voicemail answer, byte for byte in shape and size, that the real app
gives a first-time caller) and ``POST /twilio/voice/status`` answers 204. Served by the same
gunicorn command and settings as ``app:create_app()``, so the difference between the two is
what the call-center engine adds to a webhook.
"""

from __future__ import annotations

from flask import Flask, Response

TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Say language="en-US">Thank you for '
    "calling. Everyone on our team is helping other customers right now. Please leave your "
    "name, number and a short message after the tone, and we will call you back shortly."
    '</Say><Record action="http://127.0.0.1:5000/twilio/voice/voicemail" finishOnKey="#" '
    'maxLength="120" method="POST" playBeep="true" timeout="5" /><Say language="en-US">We '
    "did not receive a message. Goodbye.</Say><Hangup /></Response>"
)

app = Flask(__name__)


@app.post("/twilio/voice")
def voice() -> Response:
    return Response(TWIML, status=200, mimetype="text/xml")


@app.post("/twilio/voice/status")
def status() -> Response:
    return Response(status=204)
