"""The recordings' pages' API: the list, one recording, its media, and legal hold.

- ``GET /api/recordings`` (``?call=CA…&status=&limit=&offset=``) and
  ``GET /api/recordings/<id>``: who sees which recording is recording/access.py.
- ``GET /api/recordings/<id>/media``: the file, streamed from storage with HTTP Range
  (werkzeug's conditional responses over the store's seekable file: 206 for one range,
  416 with ``Content-Range: bytes */size`` for none satisfiable; a request for several
  ranges is answered whole, 200, as RFC 9110 allows: audio players never ask for several).
  The body is a file wrapper read chunk by chunk (``direct_passthrough``), so memory stays
  flat however large the file; ``Cache-Control: private, no-store`` keeps it out of shared
  and browser caches; the ETag is the file's SHA-256 (for ``If-Range``).
- Every playback is audited (``recording.play``), once per playback and not once per
  chunk: a player asks for ``bytes=0-`` to start and for later offsets as it seeks or
  buffers, so a request with no Range or one starting at byte 0 is a new playback; a
  request starting later is audited only if this user has no playback of this recording
  audited in the last ``PLAY_WINDOW`` seconds (a Redis key), so reading the file in pieces
  without ever asking for byte 0 is still audited. HEAD and 416 answers are not playbacks.
- ``POST /api/recordings/<id>/hold`` ``{"hold": bool, "reason": "…"}``: admins put a
  recording on legal hold (kept past retention and through erasure) or lift it; audited.
"""

from __future__ import annotations

import redis
from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy import select
from werkzeug.datastructures import Range
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.http import parse_range_header
from werkzeug.wsgi import FileWrapper

from console.auth import require_role
from crm_core.audit import audit
from crm_core.clock import Clock
from crm_core.db import Database
from crm_core.errors import InvalidInput, NotFound
from crm_core.models import Call, Role
from recording import retention
from recording.access import (
    SEES_ALL,
    WHY_NO_FILE,
    agent_of,
    content_type,
    handled_by,
    recording_dict,
    visible,
)
from recording.models import Recording, RecordingStatus
from recording.storage import CHUNK, Storage
from telephony.context import need

bp = Blueprint("recordings", __name__)
ANY = ()
ADMIN = (Role.ADMIN,)
PLAY_WINDOW = 30 * 60  # seconds a playback lasts for the audit, without a new byte-0 request
CACHE_CONTROL = "private, no-store"


@bp.get("/recordings")
@require_role(*ANY)
def list_recordings():
    limit, offset = _int_arg("limit", 50, 1, 200), _int_arg("offset", 0, 0, 10**9)
    query = select(Recording, Call.agent_id).outerjoin(Call, Call.id == Recording.call_id)
    call = request.args.get("call")
    if call:
        query = query.where(Recording.call_sid == call[:64])
    status = request.args.get("status")
    if status:
        try:
            query = query.where(Recording.status == RecordingStatus(status))
        except ValueError:
            choices = ", ".join(s.value for s in RecordingStatus)
            raise InvalidInput(f"The status must be one of {choices}.", field="status") from None
    if g.principal.role not in SEES_ALL:
        query = query.where(handled_by(g.principal.id))
    query = query.order_by(Recording.created_at.desc(), Recording.id.desc())
    with need(Database).read_session_factory() as session:
        found = session.execute(query.limit(limit).offset(offset)).all()
        return {
            "recordings": [recording_dict(r, agent) for r, agent in found],
            "limit": limit,
            "offset": offset,
        }


@bp.get("/recordings/<int:recording_id>")
@require_role(*ANY)
def get_recording(recording_id: int):
    with need(Database).read_session_factory() as session:
        recording = visible(session, recording_id, g.principal)
        return recording_dict(recording, agent_of(session, recording))


@bp.post("/recordings/<int:recording_id>/hold")
@require_role(*ADMIN)
def hold(recording_id: int):
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("hold"), bool):
        raise InvalidInput(
            'Say whether to hold the recording: {"hold": true or false, "reason": "…"}.',
            field="hold",
        )
    reason = body.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 500):
        raise InvalidInput("The reason must be text of at most 500 characters.", field="reason")
    with need(Database).session_factory.begin() as session:
        recording = retention.set_hold(
            session, need(Clock), recording_id, body["hold"], reason, g.principal.id
        )
        return recording_dict(recording, agent_of(session, recording))


@bp.get("/recordings/<int:recording_id>/media")
@require_role(*ANY)
def media(recording_id: int):
    with need(Database).read_session_factory() as session:
        recording = visible(session, recording_id, g.principal)
        if recording.status != RecordingStatus.STORED or not recording.storage_key:
            why = WHY_NO_FILE.get(recording.status.value, "it is not stored")
            raise NotFound(
                f"Recording {recording_id} has no file to play: {why}.", field="recording"
            )
        key, sha256, mimetype = recording.storage_key, recording.sha256, content_type(recording)
        call_sid = recording.call_sid
    try:
        stream = need(Storage).open(key)
    except FileNotFoundError:
        raise NotFound(
            f"Recording {recording_id}'s file is missing from storage.", field="recording"
        ) from None
    try:
        response = _ranged(stream, mimetype, sha256)
    except RequestedRangeNotSatisfiable as exc:
        stream.close()
        return _not_satisfiable(exc.length)
    except BaseException:
        stream.close()
        raise
    if request.method == "GET" and response.status_code in (200, 206):
        _audit_play(recording_id, call_sid, response.status_code)
    return response


def _ranged(stream, mimetype: str, sha256: str | None):
    """The file as a 200 or 206 response, read from the store as it is sent."""
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    # Werkzeug's own FileWrapper, not the server's (wrap_file): it can seek, so a Range that
    # starts 190 MB in costs the same as one at 0 (gunicorn's wrapper cannot, and Werkzeug
    # then reads and drops every byte before the range: 78 ms instead of 1.3 ms).
    response = current_app.response_class(
        FileWrapper(stream, CHUNK), mimetype=mimetype, direct_passthrough=True
    )
    response.content_length = size
    if sha256:
        response.set_etag(sha256)
    environ = request.environ
    if _ranges(request.headers.get("Range")) > 1:  # several: answered whole
        environ = {k: v for k, v in environ.items() if k != "HTTP_RANGE"}
    response.make_conditional(environ, accept_ranges=True, complete_length=size)
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Disposition"] = "inline"
    return response


def _ranges(header: str | None) -> int:
    parsed: Range | None = parse_range_header(header) if header else None
    return len(parsed.ranges) if parsed is not None else 0


def _not_satisfiable(length: int | None):
    response = jsonify(
        error={
            "id": "range-not-satisfiable",
            "message": f"The part of the file asked for is beyond its end ({length} bytes).",
            "field": "Range",
        }
    )
    response.status_code = 416
    response.headers["Content-Range"] = f"bytes */{length}"
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response


def _audit_play(recording_id: int, call_sid: str, status: int) -> None:
    """One audit entry per playback (module docstring)."""
    principal, redis_client = g.principal, need(redis.Redis)
    key = f"recording-play:{recording_id}:{principal.id}"
    header = request.headers.get("Range")
    parsed = parse_range_header(header) if header else None
    starts = parsed is None or status == 200 or parsed.ranges[0][0] == 0
    if starts:
        redis_client.set(key, "1", ex=PLAY_WINDOW)
    elif not redis_client.set(key, "1", ex=PLAY_WINDOW, nx=True):
        return
    with need(Database).session_factory.begin() as session:
        audit(
            session,
            need(Clock),
            actor_id=principal.id,
            action="recording.play",
            target=f"recording:{recording_id}",
            call=call_sid,
            range=header[:64] if header else None,
            via_token=principal.via_token or None,
        )


def _int_arg(name: str, default: int, lo: int, hi: int) -> int:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    if not raw.isascii() or not raw.isdigit() or not lo <= int(raw) <= hi:
        raise InvalidInput(
            f"{name.capitalize()} must be a whole number from {lo} to {hi}.", field=name
        )
    return int(raw)
