"""The pages a person opens: the home page, and the supervisors' wallboard with the
settings its script reads (the URLs it calls, the service-level target, alert limits)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request, url_for
from flask_login import current_user
from redis import Redis

from console.api import LEADS
from console.auth import require_role
from crm_core.db import Database
from crm_core.settings import Settings
from routing.model import AwayReason
from routing.service import Router
from telephony.context import need

# The pages' own scripts and styles, served by the app itself: no CDN, no build step.
bp = Blueprint(
    "pages",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/console/static",
)
MISSING_DISPOSITION_DAYS = 2  # the "Calls without a disposition" panel: today and yesterday


def service_level_target(settings: Settings) -> float:
    """``WALLBOARD_SERVICE_LEVEL_TARGET`` as a ratio. The setting is a percentage (80, as
    the README says); a value up to 1 is taken as a ratio already (0.8), so either works."""
    value = settings.wallboard_service_level_target
    return value / 100 if value > 1 else value


# The navigation bar (templates/base.html): (endpoint, label, roles that see it). The
# desk is every user's; the wallboard and QA review are the supervisors' and admins';
# "My QA scores" is the agents' own (a supervisor reviews everyone's on /qa).
NAV = (
    ("desk.desk", "Agent desk", ("agent", "supervisor", "admin")),
    ("pages.wallboard", "Wallboard", ("supervisor", "admin")),
    ("qa.qa_page", "QA review", ("supervisor", "admin")),
    ("qa.my_scores_page", "My QA scores", ("agent",)),
    ("tokens.tokens_page", "API tokens", ("admin",)),
)
ROLE_WORDS = {"agent": "Agent", "supervisor": "Supervisor", "admin": "Administrator"}
DEFAULT_BRAND = "Call center"


def role_word(role) -> str:
    """ "Supervisor" for Role.SUPERVISOR: the word a person reads, never the enum value."""
    value = getattr(role, "value", role) or ""
    return ROLE_WORDS.get(str(value), str(value).replace("_", " ").capitalize())


def brand(settings: Settings) -> str:
    """The dealership's name (``DEALER_NAME``) as the console's brand, else "Call center"."""
    return (settings.dealer_name or "").strip() or DEFAULT_BRAND


@bp.app_context_processor
def navigation():
    """What base.html's bar shows: the brand, and for a signed-in user the links their role
    may open (the current page marked), their name and role as a word."""
    links = []
    if current_user.is_authenticated:
        role = getattr(current_user.role, "value", current_user.role)
        for endpoint, label, roles in NAV:
            if role not in roles or endpoint not in current_app.view_functions:
                continue
            links.append(
                {
                    "url": url_for(endpoint),
                    "label": label,
                    "current": request.endpoint == endpoint,
                    "id": "nav-" + endpoint.rsplit(".", 1)[1].replace("_", "-"),
                }
            )
    return {
        "brand": brand(need(Settings)),
        "nav_links": links,
        "role_word": role_word,
    }


@bp.get("/")
def index():
    return render_template("index.html", user=current_user)


@bp.get("/wallboard")
@require_role(*LEADS)
def wallboard():
    """The supervisors' live wallboard: a shell that static/wallboard.js fills from
    GET /api/acd/stream (console/stream.py) and the /api/acd/queues and /agents snapshots."""
    config = need(Settings)
    queues = need(Router).queues().values()
    settings = {
        "stream": url_for("stream.acd_stream"),
        "queuesUrl": url_for("acd_live.queue_snapshot"),
        "agentsUrl": url_for("acd_live.agent_snapshot"),
        "serviceLevelTarget": service_level_target(config),
        "longWaitSeconds": config.wallboard_long_wait_seconds,
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
        "endUrl": "/api/acd/calls/ID/end",  # console/acd_live.py: a supervisor ends a call
        "missingUrl": f"/api/calls/missing-disposition?days={MISSING_DISPOSITION_DAYS}",
        # TV mode from the start: ?tv=1 for a screen nobody clicks (wallboard.js).
        "tv": request.args.get("tv", "") in ("1", "true", "yes", "on"),
        "moveTargets": sorted(
            ({"name": q.name, "label": q.display_name or q.name} for q in queues if q.active),
            key=lambda q: q["name"],
        ),
        "awayReasons": [r.value for r in AwayReason],
    }
    return render_template(
        "wallboard.html",
        settings=settings,
        tv=settings["tv"],
        missing_days=MISSING_DISPOSITION_DAYS,
    )


@bp.get("/healthz")
def healthz():
    """Liveness for a load balancer: the database and Redis both answer."""
    from sqlalchemy import text

    with need(Database).engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    need(Redis).ping()
    return {"status": "ok"}
