"""QA scores: a supervisor scores a stored recording against a scorecard of the script
library (``kind: scorecard``, e.g. ``scripts/library/qa_call.yaml``), the agent reads
their own scores, and the wallboard shows each agent's average.

The scorecard lives in the library so a manager changes criteria and weights in a file,
like every other script; a score keeps the scorecard's name and version and the points per
criterion, so later edits of the file never change a score already given.

Scoring math: each criterion gets whole points 0..``max_points`` (or ``null``: not
applicable on this call, left out); the total is the weighted percentage
``100 * sum(weight * points / max_points) / sum(weight)`` over the applicable criteria.

Only a ``stored`` recording can be scored: the reviewer must be able to listen to it. A
``deleted`` one (retention, erasure) is refused with 409, as are pending, failed and
absent ones; scores given before a recording was deleted stay (they are the agent's
history, and carry no audio). The agent scored is the Call's agent: a recording whose call
has no agent (an IVR-only call) has nobody to score and is refused too.

Nothing here knows HTTP: the QA API and the /qa pages call these functions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_core.audit import audit
from crm_core.clock import Clock
from crm_core.errors import Conflict, InvalidInput, NotFound
from crm_core.models import Call, User
from recording.access import WHY_NO_FILE
from recording.models import QaScore, Recording, RecordingStatus
from scripts import Kind, Library, Script
from scripts.choice import agent_script

DEFAULT_SCORECARD = "qa_call"
COMMENTS_MAX = 5000
PAGE_RECORDINGS = 50  # the /qa page lists this many of the newest stored recordings


# ---------------------------------------------------------------- scorecards


def scorecards(library: Library) -> list[Script]:
    return [s for s in library.scripts() if s.kind == Kind.SCORECARD]


def scorecard(library: Library, name: str) -> Script:
    try:
        card = library.get(name)
    except KeyError:
        card = None
    if card is None or card.kind != Kind.SCORECARD:
        known = ", ".join(s.name for s in scorecards(library)) or "none"
        raise InvalidInput(f"no scorecard named {name!r} (scorecards: {known})", field="scorecard")
    return card


def scorecard_dict(card: Script) -> dict[str, Any]:
    """What the scoring form needs: each criterion's labels in every language, weight, the
    points it takes and the step or section of the checked script it is about."""
    return {
        "name": card.name,
        "version": str(card.version),
        "description": card.description,
        "checks": card.checks,
        "languages": list(card.languages),
        "criteria": [
            {
                "id": c.id,
                "label": {lang: card.text(f"criteria.{c.id}", lang) for lang in card.languages},
                "weight": c.weight,
                "max_points": c.max_points,
                "step": c.step,
                "section": c.section,
            }
            for c in card.criteria
        ],
    }


def weighted_total(card: Script, answers: dict[str, Any]) -> float:
    """``answers`` is {criterion: points or None}; see the module docstring."""
    got = weight = 0.0
    for c in card.criteria:
        points = answers.get(c.id)
        if points is None:
            continue
        got += c.weight * points / c.max_points
        weight += c.weight
    return round(100 * got / weight, 1) if weight else 0.0


def checked_answers(card: Script, answers: Any) -> dict[str, int | None]:
    """Every criterion answered with whole points in its range (or null), nothing else."""
    if not isinstance(answers, dict):
        raise InvalidInput("answers must be an object {criterion: points}", field="answers")
    known = {c.id: c for c in card.criteria}
    for key in answers:
        if key not in known:
            raise InvalidInput(
                f"{key!r} is not a criterion of scorecard {card.name} ({', '.join(known)})",
                field=f"answers.{key}",
            )
    out: dict[str, int | None] = {}
    for c in card.criteria:
        if c.id not in answers:
            raise InvalidInput(
                f"criterion {c.id!r} has no answer (points, or null when not applicable)",
                field=f"answers.{c.id}",
            )
        points = answers[c.id]
        if points is not None and (
            isinstance(points, bool)
            or not isinstance(points, int)
            or not 0 <= points <= c.max_points
        ):
            raise InvalidInput(
                f"criterion {c.id!r} takes a whole number of points from 0 to {c.max_points}, "
                "or null when not applicable",
                field=f"answers.{c.id}",
            )
        out[c.id] = points
    if all(v is None for v in out.values()):
        raise InvalidInput("at least one criterion must apply to the call", field="answers")
    return out


# ---------------------------------------------------------------- scores


def add_score(
    session: Session,
    clock: Clock,
    library: Library,
    *,
    recording_id: int,
    reviewer_id: int,
    body: Any,
) -> QaScore:
    """Validate ``body`` ({scorecard?, answers, comments?}), score, and audit it."""
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    name = body.get("scorecard", DEFAULT_SCORECARD)
    if not isinstance(name, str):
        raise InvalidInput("scorecard must be a scorecard's name", field="scorecard")
    card = scorecard(library, name)
    answers = checked_answers(card, body.get("answers"))
    comments = body.get("comments")
    if comments is not None and not isinstance(comments, str):
        raise InvalidInput("comments must be text", field="comments")
    if comments is not None and len(comments) > COMMENTS_MAX:
        raise InvalidInput(f"comments: at most {COMMENTS_MAX} characters", field="comments")
    recording = _recording(session, recording_id)
    if recording.status != RecordingStatus.STORED:
        raise Conflict(
            f"Recording {recording_id} cannot be scored: "
            f"{WHY_NO_FILE.get(recording.status.value, 'it is not stored')}. Only a recording "
            "a reviewer can listen to can be scored.",
            field="recording",
            status=recording.status.value,
        )
    call = session.get(Call, recording.call_id) if recording.call_id else None
    if call is None or call.agent_id is None:
        raise Conflict(
            f"Recording {recording_id}'s call had no agent on it, so there is nobody to score.",
            field="recording",
        )
    score = QaScore(
        recording_id=recording.id,
        agent_id=call.agent_id,
        reviewer_id=reviewer_id,
        scorecard=card.name,
        scorecard_version=str(card.version),
        answers=answers,
        total=weighted_total(card, answers),
        comments=(comments or "").strip() or None,
        created_at=clock.now(),
    )
    session.add(score)
    session.flush()
    audit(
        session,
        clock,
        actor_id=reviewer_id,
        action="recording.qa_score",
        target=f"recording:{recording.id}",
        score_id=score.id,
        agent_id=call.agent_id,
        scorecard=card.ref,
        total=score.total,
    )
    return score


def _recording(session: Session, recording_id: int) -> Recording:
    recording = session.get(Recording, recording_id)
    if recording is None:
        raise NotFound(f"There is no recording {recording_id}.", field="recording")
    return recording


def names_of(session: Session, ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
    return dict(rows.all())


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def score_dict(score: QaScore, names: dict[int, str]) -> dict[str, Any]:
    return {
        "id": score.id,
        "recording_id": score.recording_id,
        "agent": {"id": score.agent_id, "name": names.get(score.agent_id)},
        "reviewer": {"id": score.reviewer_id, "name": names.get(score.reviewer_id)},
        "scorecard": score.scorecard,
        "scorecard_version": score.scorecard_version,
        "answers": score.answers,
        "total": score.total,
        "comments": score.comments,
        "created_at": _iso(score.created_at),
    }


def recording_scores(session: Session, recording_id: int) -> list[dict[str, Any]]:
    _recording(session, recording_id)
    scores = session.scalars(
        select(QaScore)
        .where(QaScore.recording_id == recording_id)
        .order_by(QaScore.created_at.desc(), QaScore.id.desc())
    ).all()
    names = names_of(session, {s.agent_id for s in scores} | {s.reviewer_id for s in scores})
    return [score_dict(s, names) for s in scores]


def agent_scores(
    session: Session, agent_id: int, limit: int, library: Library | None = None
) -> list[dict[str, Any]]:
    """The agent's own scores, newest first, each with its recording and call (and, given
    the ``library``, the script the agent read on that call)."""
    rows = session.execute(
        select(QaScore, Recording, Call)
        .join(Recording, Recording.id == QaScore.recording_id)
        .outerjoin(Call, Call.id == Recording.call_id)
        .where(QaScore.agent_id == agent_id)
        .order_by(QaScore.created_at.desc(), QaScore.id.desc())
        .limit(limit)
    ).all()
    names = names_of(session, {agent_id} | {s.reviewer_id for s, _, _ in rows})
    return [
        {
            **score_dict(score, names),
            "recording": _recording_dict(recording),
            "call": _call_dict(call, library),
        }
        for score, recording, call in rows
    ]


def _recording_dict(recording: Recording) -> dict[str, Any]:
    return {
        "id": recording.id,
        "status": recording.status.value,
        "duration_seconds": recording.duration_seconds,
        "started_at": _iso(recording.started_at or recording.created_at),
    }


def _call_dict(call: Call | None, library: Library | None = None) -> dict[str, Any] | None:
    if call is None:
        return None
    return {
        "id": call.id,
        "call_sid": call.call_sid,
        "direction": call.direction.value,
        "from": call.from_number,
        "to": call.to_number,
        "queue": call.queue,
        "created_at": _iso(call.created_at),
        "script": call_script(library, call) if library is not None else None,
    }


def call_script(library: Library, call: Call) -> dict[str, Any] | None:
    """The script the agent read on ``call``, chosen as the desk chose it (scripts/choice.py:
    by the call's direction and queue), with its steps' and sections' ids, so the scoring
    form points a criterion at the step of THIS call's script (an inbound call is not
    judged by the outbound pitch's steps). None when the library lacks it."""
    name, why = agent_script(library, direction=call.direction, queue=call.queue)
    if name not in library:
        return None
    script = library.get(name)
    return {
        "name": script.name,
        "description": script.description,
        "why": why,
        "steps": [step.id for step in script.steps],
        "sections": [section.id for section in script.sections],
    }


def averages(session: Session, since: datetime) -> list[dict[str, Any]]:
    """Per agent: the mean total and the number of scores given since ``since``."""
    rows = session.execute(
        select(QaScore.agent_id, func.avg(QaScore.total), func.count(QaScore.id))
        .where(QaScore.agent_id.is_not(None), QaScore.created_at >= since)
        .group_by(QaScore.agent_id)
    ).all()
    names = names_of(session, {agent_id for agent_id, _, _ in rows})
    return [
        {"agent_id": a, "name": names.get(a), "average": round(float(avg), 1), "count": n}
        for a, avg, n in sorted(rows, key=lambda r: names.get(r[0]) or "")
    ]


def recent_recordings(
    session: Session, limit: int = PAGE_RECORDINGS, library: Library | None = None
) -> list[dict[str, Any]]:
    """The newest stored recordings with their call's agent and how often each was scored
    (the /qa page's list; the recordings API has its own, with filters)."""
    scored = (
        select(QaScore.recording_id, func.count(QaScore.id).label("n"))
        .group_by(QaScore.recording_id)
        .subquery()
    )
    rows = session.execute(
        select(Recording, Call, User.display_name, scored.c.n)
        .outerjoin(Call, Call.id == Recording.call_id)
        .outerjoin(User, User.id == Call.agent_id)
        .outerjoin(scored, scored.c.recording_id == Recording.id)
        .where(Recording.status == RecordingStatus.STORED)
        .order_by(Recording.created_at.desc(), Recording.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            **_recording_dict(recording),
            "call": _call_dict(call, library),
            "agent": {"id": call.agent_id if call else None, "name": agent},
            "scores": n or 0,
        }
        for recording, call, agent, n in rows
    ]
