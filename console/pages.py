"""The pages a person opens: the home page, and the supervisors' wallboard with the
settings its script reads (the URLs it calls, the service-level target, alert limits)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, url_for
from flask_login import current_user

from console.api import LEADS
from console.auth import require_role
from routing.model import AwayReason

# The pages' own scripts and styles, served by the app itself: no CDN, no build step.
bp = Blueprint(
    "pages",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/console/static",
)
SERVICE_LEVEL_TARGET = 80  # the classic 80/20: 80 % answered within the queue's threshold
LONG_WAIT_SECONDS = 120  # a tile's alert for queues with no max_wait_seconds of their own


def service_level_target(config) -> float:
    """``WALLBOARD_SERVICE_LEVEL_TARGET`` as a ratio. The setting is a percentage (80, as
    the README says); a value up to 1 is taken as a ratio already (0.8), so either works."""
    value = float(config.get("WALLBOARD_SERVICE_LEVEL_TARGET", SERVICE_LEVEL_TARGET))
    return value / 100 if value > 1 else value


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
        "serviceLevelTarget": service_level_target(config),
        "longWaitSeconds": int(config.get("WALLBOARD_LONG_WAIT_SECONDS", LONG_WAIT_SECONDS)),
        "maxWait": {q.name: q.max_wait_seconds for q in queues if q.max_wait_seconds},
        # The actions (the APIs in console/acd_live.py and supervise.py); "ID" stands for
        # the agent's id or the caller's entry, "PART" for a monitoring participant.
        "me": url_for("api.me"),
        "serviceLevelUrl": url_for("service_level.service_level_view"),
        "waitingUrl": url_for("waiting.waiting_view"),
        "presenceUrl": "/api/acd/agents/ID/presence",
        "moveUrl": "/api/acd/callers/ID/move",
        "monitorUrl": "/api/acd/calls/ID/monitor",
        "modeUrl": "/api/acd/calls/ID/monitor/PART",
        "leaveUrl": "/api/acd/calls/ID/monitor/PART/leave",
        "whyUrl": "/api/acd/calls/ID/why",
        "moveTargets": sorted(
            ({"name": q.name, "label": q.display_name or q.name} for q in queues if q.active),
            key=lambda q: q["name"],
        ),
        "awayReasons": [r.value for r in AwayReason],
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
