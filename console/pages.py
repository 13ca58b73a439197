"""The pages a person opens; the softphone joins them in a later issue."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, url_for
from flask_login import current_user

from console.api import LEADS
from console.auth import require_role

# The pages' own scripts and styles, served by the app itself: no CDN, no build step.
bp = Blueprint(
    "pages",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/console/static",
)
SERVICE_LEVEL_TARGET = 0.8  # the classic 80/20: 80 % answered within the queue's threshold
LONG_WAIT_SECONDS = 120  # a tile's alert for queues with no max_wait_seconds of their own


@bp.get("/")
def index():
    return render_template("index.html", user=current_user)


@bp.get("/wallboard")
@require_role(*LEADS)
def wallboard():
    """The supervisors' live wallboard: a shell that static/wallboard.js fills from
    GET /api/acd/stream (console/stream.py) and the /api/acd/queues and /agents snapshots."""
    config = current_app.config
    queues = current_app.extensions["callcenter"].router.queues().values()
    settings = {
        "stream": url_for("stream.acd_stream"),
        "queuesUrl": url_for("acd_live.queue_snapshot"),
        "agentsUrl": url_for("acd_live.agent_snapshot"),
        "serviceLevelTarget": float(
            config.get("WALLBOARD_SERVICE_LEVEL_TARGET", SERVICE_LEVEL_TARGET)
        ),
        "longWaitSeconds": int(config.get("WALLBOARD_LONG_WAIT_SECONDS", LONG_WAIT_SECONDS)),
        "maxWait": {q.name: q.max_wait_seconds for q in queues if q.max_wait_seconds},
    }
    return render_template("wallboard.html", settings=settings)


@bp.get("/healthz")
def healthz():
    """Liveness for a load balancer: the database and Redis both answer."""
    from flask import current_app
    from sqlalchemy import text

    deps = current_app.extensions["callcenter"]
    with deps.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    deps.redis.ping()
    return {"status": "ok"}
