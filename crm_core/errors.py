"""Domain errors that carry their HTTP meaning; translated once by console.errors.

Each error has a stable ``error_id`` (for clients and logs), an HTTP ``status`` and, where
the problem is one input, the ``field`` it concerns, so every surface (API, CLI, services)
can say exactly what to fix.
"""

from __future__ import annotations

from typing import Any


class CallCenterError(Exception):
    status = 400
    error_id = "bad-request"

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.error_id, "message": self.message}
        if self.field:
            body["field"] = self.field
        if self.details:
            body["details"] = self.details
        return body


class InvalidInput(CallCenterError):
    status = 400
    error_id = "invalid-input"


class InvalidPhone(InvalidInput):
    error_id = "invalid-phone"


class NotFound(CallCenterError):
    status = 404
    error_id = "not-found"


class Conflict(CallCenterError):
    status = 409
    error_id = "conflict"


class DuplicatePhone(Conflict):
    error_id = "duplicate-phone"


class IllegalStageChange(Conflict):
    error_id = "illegal-stage-change"


class Unauthorized(CallCenterError):
    status = 401
    error_id = "unauthorized"


class Forbidden(CallCenterError):
    status = 403
    error_id = "forbidden"
