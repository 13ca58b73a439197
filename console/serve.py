"""The development server: the app, the background worker beside it, and — with no Twilio
account set — the carrier simulator embedded in the same process (``callcenter run`` and
``callcenter demo``). In production gunicorn serves the app and ``callcenter worker`` runs
on its own; nothing here is used then.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from typing import Any

import click
from flask import Flask, current_app
from werkzeug.serving import make_server

from telephony.context import provided

WORKER_STOP_SECONDS = 20  # the worker's job in hand may finish; then it is stopped harder


def serve(host: str, port: int) -> None:
    """Serve the app on HOST:PORT with the worker beside it until SIGTERM or Ctrl-C."""
    app = current_app._get_current_object()
    d = provided(app.extensions)
    # Bound first, so --port 0 (any free port) works and the URLs below name the real port.
    server = make_server(host, port, app, threaded=True)
    if "PUBLIC_BASE_URL" not in os.environ:  # the default names port 5000: use the real one
        _set_public_url(app, d, f"http://{host}:{server.port}")
    wsgi, ticker, settings = app, None, d.settings
    if settings.carrier == "simulator" and (
        settings.twilio_api_base_url == settings.public_base_url
    ):
        from telephony.simulator import live
        from telephony.simulator.transport import WsgiAdapter, WsgiTransport

        sim = live.from_config(settings.as_config())
        sim_wsgi = live.make_app(sim)
        # In one process, webhooks and the app's REST calls stay on the calling thread, as
        # in the tests: no sockets between the two halves of one process. (The simulator
        # lets go of its lock while a webhook is out, so over HTTP it works as well.)
        sim.transport = WsgiTransport(app)
        d.carrier.http.session.mount(settings.twilio_api_base_url, WsgiAdapter(sim_wsgi))
        app.extensions["simulator"] = sim  # the demo's phone and traffic (console/demo.py)
        ticker = live.Ticker(sim).start()
        wsgi = live.mount(app, sim_wsgi)
        click.echo(
            f"  Local carrier simulator: call {', '.join(sim.numbers)} with POST "
            f"{settings.public_base_url}/simulator/calls, basic auth "
            f"{settings.twilio_account_sid}:{settings.twilio_auth_token}"
        )
    server.app = wsgi
    # The same installation, and the URL this server really has (the worker's ACD ticker
    # builds the agents' callback URLs and reaches the embedded simulator from it).
    env = dict(os.environ, INSTANCE_PATH=app.instance_path)
    env["PUBLIC_BASE_URL"] = settings.public_base_url
    stop = _Stop(server)
    # SIGTERM (systemd, docker, timeout) and Ctrl-C stop the worker first, while the server
    # still answers it, then the server; exit hooks then run (the embedded Redis stops with
    # its last client). A second signal stops the worker at once.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    stop.worker = subprocess.Popen([sys.executable, "-m", "app", "worker"], env=env)
    server.log_startup()
    click.echo("Press CTRL+C to quit")
    try:
        server.serve_forever()
    finally:
        _stop_worker(stop.worker)  # when the server ended otherwise (an error)
        if ticker is not None:
            ticker.stop()
        server.server_close()


class _Stop:
    """The signal handler of ``run``: starts the stop on a thread (a handler must not wait)
    and lets the server serve until the worker has finished: a job in hand may still call
    the app or the embedded simulator (a recording being downloaded)."""

    def __init__(self, server) -> None:
        self.server = server
        self.worker: subprocess.Popen | None = None
        self.started = False

    def __call__(self, signum, frame) -> None:
        if self.started:  # asked again: no more waiting for the worker's job
            if self.worker is not None and self.worker.poll() is None:
                self.worker.kill()
            return
        self.started = True
        import threading

        threading.Thread(target=self._stop, name="stop", daemon=True).start()

    def _stop(self) -> None:
        _stop_worker(self.worker)
        self.server.shutdown()  # serve_forever returns within its poll interval


def _stop_worker(worker: subprocess.Popen | None) -> None:
    """SIGTERM: rq's warm shutdown (the job in hand finishes); if it takes too long, a
    second SIGTERM (rq's cold shutdown: the job is stopped), and at last SIGKILL."""
    if worker is None:
        return
    for send, seconds in (
        (worker.terminate, WORKER_STOP_SECONDS),
        (worker.terminate, 5),
        (worker.kill, 30),
    ):
        if worker.poll() is not None:
            return
        send()
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(timeout=seconds)


def _set_public_url(app: Flask, d: Any, url: str) -> None:
    """The server's real address, where the settings name port 5000 (``--port 0``, another
    port): in the settings, Flask's and the bag's config views of them, the carrier's
    address when the simulator is the embedded one, and the callback URLs."""
    from telephony.twilio_carrier import TwilioCarrier

    settings = d.settings
    embedded = settings.twilio_api_base_url == settings.public_base_url
    for config in (app.config, d.config):  # each view writes through to the settings
        config["PUBLIC_BASE_URL"] = url
        if embedded:
            config["TWILIO_API_BASE_URL"] = url
    d.carrier.close()
    d.use_carrier(TwilioCarrier.from_config(settings.as_config()))
    d.dispatcher.base_url = url
