"""A small Twilio of our own: the carrier the engine talks to on one machine, with no account.

It knows Twilio's public contract only (TwiML, the REST API, signed webhooks, access
tokens), never the engine's modules: it has its own clock protocol (``clock``) and errors
(``errors``), so the app drives it exactly as it drives Twilio, through twilio-python.
"""
