"""``callcenter simulator``: the carrier simulator (telephony/simulator/) on its own, sending
its webhooks to this installation with the credentials every process derives from the
same settings. Registered by ``app.py``; it runs inside the app's context.
"""

from __future__ import annotations

import signal
import sys

import click

from crm_core.settings import Settings
from telephony.context import need


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on")
@click.option("--port", default=5010, show_default=True, type=int, help="Port to listen on")
def simulator(host: str, port: int) -> None:
    """Run the simulated phone carrier on its own, to test without a Twilio account;
    point the app at it with TWILIO_API_BASE_URL."""
    from werkzeug.serving import run_simple

    from telephony.simulator import live

    config = dict(need(Settings).as_config(), TWILIO_API_BASE_URL=f"http://{host}:{port}")
    sim = live.from_config(config)
    ticker = live.Ticker(sim).start()
    click.echo(
        f"simulator on http://{host}:{port}; webhooks to {config['PUBLIC_BASE_URL']}; "
        f"numbers {', '.join(sim.numbers)}"
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        run_simple(host, port, live.make_app(sim), threaded=True)
    finally:
        ticker.stop()
