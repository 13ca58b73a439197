"""QA in the console: the scorecards, scoring a recording, an agent's own scores, the
averages, and the /qa pages. What a score is and how it is counted: recording/qa.py.

    GET  /api/qa/scorecards                      the scorecards of the script library
    POST /api/recordings/<id>/scores             score a stored recording (supervisors)
    GET  /api/recordings/<id>/scores             its scores
    GET  /api/agents/me/scores                   the signed-in agent's own scores
    GET  /api/qa/averages                        each agent's mean over ``days``
    GET  /qa, /qa/mine                           the review page, and an agent's scores
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, g, render_template, request, url_for

from console.api import ANY, LEADS, _body, _int_arg
from console.auth import require_role
from crm_core.clock import Clock
from crm_core.db import Database
from recording.qa import (
    DEFAULT_SCORECARD,
    add_score,
    agent_scores,
    averages,
    names_of,
    recent_recordings,
    recording_scores,
    score_dict,
    scorecard_dict,
    scorecards,
)
from scripts import Library
from telephony.context import need

bp = Blueprint("qa", __name__)


@bp.get("/api/qa/scorecards")
@require_role(*ANY)
def scorecards_view():
    return {"scorecards": [scorecard_dict(c) for c in scorecards(need(Library))]}


@bp.post("/api/recordings/<int:recording_id>/scores")
@require_role(*LEADS)
def add_score_view(recording_id: int):
    with need(Database).session_factory.begin() as session:
        score = add_score(
            session,
            need(Clock),
            need(Library),
            recording_id=recording_id,
            reviewer_id=g.principal.id,
            body=_body(),
        )
        names = names_of(session, {score.agent_id, score.reviewer_id})
        return score_dict(score, names), 201


@bp.get("/api/recordings/<int:recording_id>/scores")
@require_role(*LEADS)
def recording_scores_view(recording_id: int):
    with need(Database).read_session_factory() as session:
        return {"scores": recording_scores(session, recording_id)}


@bp.get("/api/agents/me/scores")
@require_role(*ANY)
def my_scores_view():
    limit = _int_arg("limit", 50, 1, 200)
    with need(Database).read_session_factory() as session:
        return {"scores": agent_scores(session, g.principal.id, limit, need(Library))}


@bp.get("/api/qa/averages")
@require_role(*LEADS)
def averages_view():
    days = _int_arg("days", 30, 1, 366)
    since = need(Clock).now() - timedelta(days=days)
    with need(Database).read_session_factory() as session:
        return {"days": days, "since": since.isoformat(), "agents": averages(session, since)}


def _page(mode: str, recordings: list[dict[str, Any]]):
    settings = {
        "mode": mode,
        "me": url_for("api.me"),  # the CSRF token again after a refusal (static/api.js)
        "scorecardsUrl": url_for("qa.scorecards_view"),
        "myScoresUrl": url_for("qa.my_scores_view"),
        "scoresUrl": "/api/recordings/ID/scores",
        "mediaUrl": "/api/recordings/ID/media",  # served by console/recordings.py
        "defaultScorecard": DEFAULT_SCORECARD,
        "recordings": recordings,
        "selected": request.args.get("recording", type=int),
    }
    return render_template("qa.html", settings=settings, mode=mode)


@bp.get("/qa")
@require_role(*LEADS)
def qa_page():
    """Score recordings: the newest stored ones, a player, the scorecard form (qa.js)."""
    with need(Database).read_session_factory() as session:
        return _page("review", recent_recordings(session, library=need(Library)))


@bp.get("/qa/mine")
@require_role(*ANY)
def my_scores_page():
    """The signed-in agent's own scores (qa.js reads GET /api/agents/me/scores)."""
    return _page("mine", [])
