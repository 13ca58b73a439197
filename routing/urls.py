"""The URL table of the ACD's TwiML flow (routing/views.py serves every one of them).

These paths are internal to the TwiML flow (DESIGN.md, the telephony contract): the app
writes them into the TwiML it answers and into the calls it places, and Twilio requests
them back. They are plain constants, not Flask endpoints, because the ticker and the
Dispatcher build URLs outside any request (``Dispatcher.url`` puts PUBLIC_BASE_URL in front).
"""

from __future__ import annotations

PREFIX = "/twilio/acd"
ENQUEUE = f"{PREFIX}/enqueue"  # where the IVR sends a caller, and a transfer re-queues one
HOLD = f"{PREFIX}/hold"  # the queue's <Enqueue waitUrl>: the hold loop
HOLD_KEY = f"{PREFIX}/hold/key"  # the hold loop's <Gather> (callback-in-queue)
LEFT = f"{PREFIX}/left"  # the <Enqueue action>: the caller left the queue
AGENT_ANSWERED = f"{PREFIX}/agent"  # the agent's softphone answered the offer: the accept
AGENT_STATUS = f"{PREFIX}/agent/status"  # the agent's leg's status callback
BRIDGE = f"{PREFIX}/bridge"  # the caller, redirected into the agent's conference
DONE = f"{PREFIX}/done"  # the caller's <Dial> action: the conference is over
CALLBACK_DONE = f"{PREFIX}/callback/done"  # the agent's <Dial> to a callback's customer
OVERFLOW = f"{PREFIX}/overflow"  # the caller waited the queue's longest
DIGITS = f"{PREFIX}/digits"  # the keypad's tones, as a participant announcement
CONFERENCE = "/twilio/conference"  # every conference's statusCallback (a public URL)
