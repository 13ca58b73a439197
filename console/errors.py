"""The one place where errors become HTTP answers (wazo-calld style: id, message, field)."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, make_response, render_template, request, session
from flask.sessions import NullSession
from flask_wtf.csrf import CSRFError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from werkzeug.exceptions import HTTPException

from crm_core.errors import CallCenterError

log = logging.getLogger("callcenter.console")
# Redis unreachable (once redis-py's retries are spent, routing/connection.py): a restart
# or a failover, over in seconds. Clients are told when to try again.
RETRY_AFTER_SECONDS = 5


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def _answer(status: int, body: dict):
    # Twilio's URLs have no cookie session (console.auth), which the page's CSRF token needs.
    if _wants_json() or isinstance(session, NullSession):
        return jsonify(error=body), status
    return render_template("error.html", status=status, error=body), status


def unreachable(exc: Exception):
    """503 with Retry-After, never 500, while Redis (agents' states, queues, the live
    feeds) cannot be reached; a page says so in words, the API with a stable id."""
    log.warning("Redis unreachable on %s %s: %s", request.method, request.path, exc)
    body = {
        "id": "live-state-unavailable",
        "message": "The call center's live state cannot be reached for a moment (Redis is "
        f"restarting or unreachable). Please try again in {RETRY_AFTER_SECONDS} seconds.",
    }
    response = make_response(_answer(503, body))
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def register(app: Flask) -> None:
    for unreachable_error in (RedisConnectionError, RedisTimeoutError):
        app.register_error_handler(unreachable_error, unreachable)

    @app.errorhandler(CallCenterError)
    def domain_error(exc: CallCenterError):
        return _answer(exc.status, exc.to_dict())

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        message = f"{exc.description} Send the token from GET /api/me as X-CSRFToken."
        return _answer(400, {"id": "csrf", "message": message, "field": "csrf_token"})

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        body = {"id": (exc.name or "error").lower().replace(" ", "-"), "message": exc.description}
        allowed = sorted(set(getattr(exc, "valid_methods", None) or ()) - {"HEAD", "OPTIONS"})
        if exc.code == 405 and allowed:
            body["message"] = f"{request.method} is not possible here; use {' or '.join(allowed)}."
        response = make_response(_answer(exc.code or 500, body))
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _answer(500, {"id": "internal", "message": "internal error; it has been logged"})
