"""Who may hear a recording, and what the pages show of one.

Supervisors and admins see every recording; an agent sees the recordings of calls they
handled: the Call's ``agent_id``, or a transfer or consult leg of it the audit log records
them on (as the agent who transferred or consulted, or the one taken in). Anything else is
403 for an agent. The carrier's media URL is never stored, so it can never be shown; the
storage key is not shown either. Nothing here knows HTTP: the list, the media with Range,
the playback audit and legal hold are the recordings pages' views.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from crm_core.audit import AuditEntry
from crm_core.errors import Forbidden, NotFound
from crm_core.models import Call, Role
from recording.models import Recording, RecordingStatus

SEES_ALL = (Role.SUPERVISOR, Role.ADMIN)
# Audit actions that put an agent on a call besides Call.agent_id (transfers, consults).
LEG_ACTIONS = ("call.transfer", "call.consult", "call.consult_complete")
URL = re.compile(r"https?://\S+")  # a download error may quote the carrier's media URL
# Why a recording has no file, in words (RecordingStatus values other than "stored").
WHY_NO_FILE = {
    "pending": "it is still being downloaded from the carrier",
    "failed": "its download from the carrier failed",
    "deleted": "it was deleted (retention or the customer's erasure)",
    "absent": "the carrier had nothing to record",
}


# ----------------------------------------------------------------------- who sees what


def handled_by(agent_id: int):
    """SQL condition: the recording is of a call this agent handled (docstring above)."""
    own = select(Call.id).where(Call.agent_id == agent_id)
    own_sids = select(Call.call_sid).where(Call.agent_id == agent_id)
    legs = select(func.substr(AuditEntry.target, 6)).where(
        AuditEntry.action.in_(LEG_ACTIONS),
        AuditEntry.target.like("call:%"),
        or_(
            AuditEntry.actor_id == agent_id,
            AuditEntry.detail["agent"].as_integer() == agent_id,
            AuditEntry.detail["agent_id"].as_integer() == agent_id,
        ),
    )
    return or_(
        Recording.call_id.in_(own), Recording.call_sid.in_(own_sids), Recording.call_sid.in_(legs)
    )


def visible(session: Session, recording_id: int, principal: Any) -> Recording:
    recording = session.get(Recording, recording_id)
    if recording is None:
        raise NotFound(f"There is no recording {recording_id}.", field="recording")
    if principal.role in SEES_ALL:
        return recording
    mine = session.scalar(
        select(Recording.id).where(Recording.id == recording_id, handled_by(principal.id))
    )
    if mine is None:
        raise Forbidden("Only the call's agent, supervisors and admins may hear a recording.")
    return recording


def recording_dict(r: Recording, agent_id: int | None = None) -> dict[str, Any]:
    playable = r.status == RecordingStatus.STORED and bool(r.storage_key)
    return {
        "id": r.id,
        "recording_sid": r.recording_sid,
        "call_sid": r.call_sid,
        "call_id": r.call_id,
        "agent_id": agent_id,
        "status": r.status.value,
        "source": r.source,
        "channels": r.channels,
        "duration_seconds": r.duration_seconds,
        "started_at": _iso(r.started_at),
        "created_at": _iso(r.created_at),
        "stored_at": _iso(r.stored_at),
        "content_type": content_type(r) if playable else None,
        "size_bytes": r.size_bytes,
        "sha256": r.sha256,
        "legal_hold": r.legal_hold,
        "deleted_at": _iso(r.deleted_at),
        "deleted_reason": r.deleted_reason,
        "error": URL.sub("<carrier URL>", r.error) if r.error else None,
        "media_url": f"/api/recordings/{r.id}/media" if playable else None,
    }


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def content_type(r: Recording) -> str:
    return "audio/mpeg" if (r.storage_key or "").endswith(".mp3") else "audio/wav"


def agent_of(session: Session, r: Recording) -> int | None:
    if r.call_id is not None:
        return session.scalar(select(Call.agent_id).where(Call.id == r.call_id))
    return session.scalar(select(Call.agent_id).where(Call.call_sid == r.call_sid))
