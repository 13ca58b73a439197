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


class InvalidSetting(ValueError):
    """A setting of the simulator's controls out of range (the demo's traffic switch).

    It carries what a caller needs to answer a clear 400 without knowing the simulator:
    the ``field`` that is wrong, the ``message`` saying what would be right, and ``status``.
    """

    status = 400

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidToken(Exception):
    """A softphone's access token the carrier refuses, with Twilio's error code: 20104 for
    one expired or not valid yet, 20101 for any other (the REST layer answers 401)."""

    def __init__(self, message: str, *, code: int = 20101) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
