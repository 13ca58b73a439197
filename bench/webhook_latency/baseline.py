"""The baseline of bench/webhook_latency.py: a bare Flask app on the same webhook paths.

No signature check, no form parsing, no database, no Redis: each path answers a fixed
document, the same in shape and byte for byte the same size as the real app's answer (the
app's action URLs carry its port, five digits, so these use a five-digit port too):

* ``POST /twilio/voice``: the auto-attendant's menu, a ``<Gather>`` (greeting, recording
  notice, main menu, speech hints) posting to ``/twilio/ivr/menu`` (1,553 bytes). Until the
  IVR this was the voicemail answer (``<Say>``, ``<Record>``) the app gave every caller;
  it now models the auto-attendant's answer to a first-time caller with the queues open;
* ``POST /twilio/voice/status``: 204;
* ``POST /twilio/ivr/menu`` (the menu's ``<Gather>`` action, Digits=1): the sales
  sub-menu's ``<Gather>`` posting to ``/twilio/ivr/submenu`` (673 bytes);
* ``POST /twilio/acd/hold`` (the sales queue's ``<Enqueue waitUrl>``): position and
  estimated wait, the callback ``<Gather>``, ``<Pause length="20">`` (426 bytes).

The query strings (``lang``, ``tries``) are ignored. Served by the same gunicorn command
and settings as ``app:create_app()``, so the difference between the two is what the
call-center engine adds to a webhook.
"""

from __future__ import annotations

from flask import Flask, Response

BASE = "http://127.0.0.1:55555"
XML = '<?xml version="1.0" encoding="UTF-8"?>'
HINTS = (
    "sales, buy a car, new car, used car, pre-owned, test drive, price, quote, inventory, "
    "lease a car, trade-in, salesperson, service, oil change, repair, maintenance, recall, "
    "check engine light, brakes, warranty, service department, inspection, tire rotation, "
    "payments and finance, payment, make a payment, pay my bill, loan, lease, payoff, finance, "
    "financing, credit, my account, due date, roadside assistance, tow, tow truck, flat tire, "
    "accident, broke down, my car broke down, battery, dead battery, jump start, locked out, "
    "out of gas, roadside, emergency, my appointment, appointment, reschedule, confirm, "
    "confirm my appointment, change my appointment, operator, representative, agent, person, "
    "a real person, someone, receptionist, speak to someone, help, repeat, menu again, "
    "say that again, options, main menu, start over, español, spanish"
)
VOICE_TWIML = (
    f'{XML}<Response><Gather action="{BASE}/twilio/ivr/menu?lang=en-US&amp;tries=0" '
    f'actionOnEmptyResult="true" hints="{HINTS}" input="dtmf speech" language="en-US" '
    'method="POST" numDigits="1" speechTimeout="auto" timeout="6"><Say language="en-US">'
    'Thank you for calling our dealership.</Say><Say language="en-US">This call may be '
    'recorded for quality and training purposes.</Say><Say language="en-US">For sales, press '
    "1. For service, press 2. For payments and finance, press 3. For roadside assistance, "
    "press 4. To hear about your appointment, press 5. To speak with an operator, press 0. "
    "To hear these options again, press 9. Para español, oprima 8.</Say></Gather></Response>"
)
MENU_TWIML = (
    f'{XML}<Response><Gather action="{BASE}/twilio/ivr/submenu?lang=en-US&amp;option=sales'
    '&amp;tries=0" actionOnEmptyResult="true" hints="new vehicles, new, new car, brand new, '
    "new truck, pre-owned vehicles, used, used car, pre-owned, certified pre-owned, trade-in "
    'value, trade-in, trade in, trade in my car, appraisal, what is my car worth" '
    'input="dtmf speech" language="en-US" method="POST" numDigits="1" speechTimeout="auto" '
    'timeout="6"><Say language="en-US">For new vehicles, press 1. For pre-owned vehicles, '
    "press 2. To get a value for your trade-in, press 3. To return to the main menu, press "
    "star.</Say></Gather></Response>"
)
HOLD_TWIML = (
    f'{XML}<Response><Say language="en-US">Your place in line is 1. Your estimated wait is '
    f'about 5 minutes.</Say><Gather action="{BASE}/twilio/acd/hold/key?lang=en-US" '
    'method="POST" numDigits="1" timeout="5"><Say language="en-US">To hang up and keep your '
    "place in line, press 1. We will call you back at the number you are calling from.</Say>"
    '</Gather><Pause length="20" /></Response>'
)

app = Flask(__name__)


@app.post("/twilio/voice")
def voice() -> Response:
    return Response(VOICE_TWIML, status=200, mimetype="text/xml")


@app.post("/twilio/voice/status")
def status() -> Response:
    return Response(status=204)


@app.post("/twilio/ivr/menu")
def menu() -> Response:
    return Response(MENU_TWIML, status=200, mimetype="text/xml")


@app.post("/twilio/acd/hold")
def hold() -> Response:
    return Response(HOLD_TWIML, status=200, mimetype="text/xml")
