"""The human screens and the JSON API they use: login, the API, (later) softphone and wallboard."""

from __future__ import annotations

from flask import Flask


def init_console(app: Flask) -> None:
    from console import api, auth, errors, pages

    auth.init_auth(app)
    errors.register(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp, url_prefix="/api")
