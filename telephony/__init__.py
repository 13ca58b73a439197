"""The carrier edge: webhook verification, CallEvent parsing, TwiML helpers, the Carrier
(Twilio over twilio-python) and, in ``simulator/``, a local Twilio of our own."""
