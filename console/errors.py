"""The one place where errors become HTTP answers (wazo-calld style: id, message, field)."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from crm_core.errors import CallCenterError

log = logging.getLogger("callcenter.console")


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def _answer(status: int, body: dict):
    if _wants_json():
        return jsonify(error=body), status
    return render_template("error.html", status=status, error=body), status


def register(app: Flask) -> None:
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
        response = _answer(exc.code or 500, body)
        if exc.code == 405 and exc.valid_methods:
            response[0].headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _answer(500, {"id": "internal", "message": "internal error; it has been logged"})
