"""The carrier edge's domain errors, with their HTTP meaning (translated once by the app's
error handler). They live here, below routing, recording and console, so each of them can
raise the same error for the same failure."""

from __future__ import annotations

from crm_core.errors import CallCenterError


class CarrierFailed(CallCenterError):
    """The carrier refused an operation a person asked for (hold, mute, transfer, record…),
    or could not be asked: a bad gateway to the user, with the carrier's reason."""

    status = 502
    error_id = "carrier-failed"
