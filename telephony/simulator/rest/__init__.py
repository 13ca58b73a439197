"""The simulator's Twilio-compatible REST API, for the real twilio-python client.

A subset of ``/2010-04-01/Accounts/{AccountSid}/…`` with HTTP basic auth (the account SID
and auth token, or an API key and secret), Twilio's JSON shapes (snake_case, RFC 2822
dates, ``uri`` and ``subresource_uris``) and its error bodies
(``{"code", "message", "more_info", "status"}``): Calls (create, fetch, list, update: Url,
Twiml, Status), Recordings (fetch, delete, media as ``.wav`` or ``.mp3``: media.py), a
call's Recordings (start; update Status paused / in-progress / stopped with PauseBehavior),
Queues and their Members (list; fetch by CallSid or ``Front``; update with Url and Method:
dequeue), Conferences and their Participants, and Messages (create, fetch), one module
each. Handlers only change state and schedule events; the engine does the rest.
"""

from __future__ import annotations

import threading

from flask import Flask, request
from werkzeug.serving import make_server

from telephony.simulator.engine import Simulator
from telephony.simulator.model import sid
from telephony.simulator.rest import calls, conferences, messages, queues
from telephony.simulator.rest.common import error, not_found

RESOURCES = (calls, queues, conferences, messages)


def make_rest_app(sim: Simulator, *, api_keys: dict[str, str] | None = None) -> Flask:
    app = Flask("twilio-simulator")
    credentials = {sim.account_sid: sim.auth_token, **(api_keys or {})}

    @app.before_request
    def authenticate():
        auth = request.authorization
        if auth is None or credentials.get(auth.username or "") != auth.password:
            return error(401, 20003, "Authenticate")
        account = (request.view_args or {}).get("account")
        if account is not None and account != sim.account_sid:
            return error(404, 20404, f"The requested resource {request.path} was not found")
        return None

    for resource in RESOURCES:
        resource.register(app, sim)

    @app.errorhandler(404)
    def unknown(_exc):
        return not_found()

    @app.errorhandler(405)
    def method(_exc):
        return error(405, 20004, "Method not allowed")

    return app


class RestServer:
    """The REST app on a loopback port in a thread (tests and the demo)."""

    def __init__(self, sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = make_server(host, port, make_rest_app(sim), threaded=True)
        self.url = f"http://{host}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> RestServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


__all__ = ["RestServer", "error", "make_rest_app", "sid"]
