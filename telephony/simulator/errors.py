"""The simulator's own errors: what Twilio would refuse, in Twilio's terms.

The simulator imports nothing of the engine's, so its failures are its own classes; the
REST layer turns them into Twilio's error bodies (``{"code", "message", "more_info",
"status"}``), as the real carrier answers.
"""

from __future__ import annotations


class SimulationError(Exception):
    """An operation the simulated network cannot do now (no such number, call not live…)."""


class Unsubscribed(Exception):
    """Twilio's error 21610: the recipient texted STOP to this number."""

    code = 21610
    message = "Attempt to send to unsubscribed recipient"
