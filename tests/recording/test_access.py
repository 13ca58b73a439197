"""Listening to recordings: who may (a role matrix), HTTP Range, constant memory, the audit
of every playback, and legal hold. Real database, Redis and file store."""

from __future__ import annotations

import tracemalloc

import pytest
from sqlalchemy import select
from werkzeug.wsgi import FileWrapper

from crm_core.audit import AuditEntry, audit
from recording.models import Recording, RecordingStatus
from tests.console.test_auth import csrf_from

API = "https://api.twilio.com/2010-04-01/Accounts/AC" + "0" * 32
DATA = bytes(range(256)) * 40  # 10240 bytes: every offset's byte is known


def _plays(deps, recording_id=None) -> list[AuditEntry]:
    with deps.session_factory() as s:
        query = select(AuditEntry).where(AuditEntry.action == "recording.play")
        if recording_id is not None:
            query = query.where(AuditEntry.target == f"recording:{recording_id}")
        return list(s.scalars(query.order_by(AuditEntry.id)))


@pytest.fixture
def people(api):
    """Two agents, a supervisor and an admin, each with a bearer token."""
    return {
        "agent": api.user("agent")[0],
        "other": api.user("agent", "other")[0],
        "supervisor": api.user("supervisor")[0],
        "admin": api.user("admin")[0],
    }


def test_who_may_play_a_recording(app, api, people, recordings):
    rec = recordings.add(people["agent"], DATA)
    media = f"/api/recordings/{rec.id}/media"
    allowed = {"agent": 200, "other": 403, "supervisor": 200, "admin": 200}
    for who, status in allowed.items():
        for path in (media, f"/api/recordings/{rec.id}"):
            response = _read(api.get(path, as_=who))
            assert response.status_code == status, (who, path, response.status_code)
            if status == 403:
                assert response.json["error"]["id"] == "forbidden"
    anonymous = app.test_client()
    assert anonymous.get(media).status_code == 401
    assert anonymous.get(media).json["error"]["id"] == "unauthorized"
    bad_token = anonymous.get(media, headers={"Authorization": "Bearer cct_nope"})
    assert bad_token.status_code == 401
    # The browser's audio element: the console's session cookie, not a token.
    browser = app.test_client()
    assert login(browser, "agent").status_code == 302
    played = _read(browser.get(media))
    assert played.status_code == 200 and played.data == DATA
    other = app.test_client()
    login(other, "other")
    assert other.get(media).status_code == 403


def login(client, username):
    token = csrf_from(client.get("/login").data)
    data = {"username": username, "password": "pw-123456", "csrf_token": token}
    return client.post("/login", data=data)


def _read(response):
    """Read the body and close the response (closing the file it streamed from)."""
    response.get_data()
    response.close()
    return response


def test_an_agent_hears_the_calls_they_were_transferred_or_consulted_on(
    api, deps, clock, people, recordings
):
    mine = recordings.add(people["agent"])
    transferred = recordings.add(people["other"])
    consulted = recordings.add(people["other"])
    theirs = recordings.add(people["other"])
    with deps.session_factory.begin() as s:  # as console/transfer.py records them
        audit(s, clock, actor_id=people["other"], action="call.transfer",
              target=f"call:{transferred.call_sid}", agent=people["agent"])  # fmt: skip
        audit(s, clock, actor_id=people["other"], action="call.consult",
              target=f"call:{consulted.call_sid}", agent_id=people["agent"])  # fmt: skip
    listed = api.get("/api/recordings", as_="agent").json["recordings"]
    assert {r["id"] for r in listed} == {mine.id, transferred.id, consulted.id}
    assert _read(api.get(f"/api/recordings/{consulted.id}/media", as_="agent")).status_code == 200
    assert api.get(f"/api/recordings/{theirs.id}/media", as_="agent").status_code == 403
    # The one who transferred the call out keeps hearing it (their part of the call).
    others = api.get("/api/recordings", as_="other").json["recordings"]
    assert {r["id"] for r in others} == {transferred.id, consulted.id, theirs.id}
    everyone = api.get("/api/recordings", as_="supervisor").json["recordings"]
    assert len(everyone) == 4


def test_list_filters_and_bad_input(api, people, recordings):
    stored = recordings.add(people["agent"])
    recordings.add(people["agent"], status=RecordingStatus.FAILED)
    by_call = api.get(f"/api/recordings?call={stored.call_sid}", as_="admin").json
    assert [r["id"] for r in by_call["recordings"]] == [stored.id]
    failed = api.get("/api/recordings?status=failed", as_="admin").json["recordings"]
    assert [r["status"] for r in failed] == ["failed"] and failed[0]["media_url"] is None
    page = api.get("/api/recordings?limit=1&offset=1", as_="admin").json
    assert len(page["recordings"]) == 1 and page["offset"] == 1
    for query, field in (("status=lost", "status"), ("limit=0", "limit"), ("offset=x", "offset")):
        bad = api.get(f"/api/recordings?{query}", as_="admin")
        assert bad.status_code == 400 and bad.json["error"]["field"] == field


def test_the_detail_never_shows_where_the_file_or_the_carriers_copy_is(
    api, deps, people, recordings
):
    rec = recordings.add(people["agent"])
    with deps.session_factory.begin() as s:  # a download's error may quote the media URL
        s.get(Recording, rec.id).error = f"503 from {API}/Recordings/{rec.recording_sid}.wav"
    detail = api.get(f"/api/recordings/{rec.id}", as_="agent").json
    assert detail["error"] == "503 from <carrier URL>"
    assert detail["media_url"] == f"/api/recordings/{rec.id}/media"
    assert detail["agent_id"] == people["agent"] and detail["content_type"] == "audio/wav"
    assert "storage_key" not in detail
    text = str(detail)
    assert "http" not in text and "twilio" not in text.lower() and ".wav" not in text


def test_range_requests(api, people, recordings):
    rec = recordings.add(people["agent"], DATA)
    url, size = f"/api/recordings/{rec.id}/media", len(DATA)

    def get(range_header=None):
        headers = {"Range": range_header} if range_header else {}
        return _read(api.get(url, as_="agent", headers=headers))

    whole = get()
    assert whole.status_code == 200 and whole.data == DATA
    assert whole.headers["Content-Type"] == "audio/wav"
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert whole.headers["Cache-Control"] == "private, no-store"
    assert whole.headers["Content-Length"] == str(size)
    first = get("bytes=0-99")
    assert first.status_code == 206 and first.data == DATA[:100]
    assert first.headers["Content-Range"] == f"bytes 0-99/{size}"
    assert first.headers["Cache-Control"] == "private, no-store"
    middle = get("bytes=5000-5999")
    assert middle.status_code == 206 and middle.data == DATA[5000:6000]
    assert middle.headers["Content-Length"] == "1000"
    suffix = get("bytes=-300")
    assert suffix.status_code == 206 and suffix.data == DATA[-300:]
    assert suffix.headers["Content-Range"] == f"bytes {size - 300}-{size - 1}/{size}"
    open_ended = get(f"bytes={size - 10}-")
    assert open_ended.status_code == 206 and open_ended.data == DATA[-10:]
    beyond = get(f"bytes={size}-{size + 100}")
    assert beyond.status_code == 416
    assert beyond.headers["Content-Range"] == f"bytes */{size}"
    assert beyond.json["error"]["id"] == "range-not-satisfiable"
    several = get("bytes=0-9,100-109")
    assert several.status_code == 200 and several.data == DATA  # answered whole
    # If-Range with the ETag (the file's SHA-256) keeps the range; a stale one gets it all.
    etag = whole.headers["ETag"].strip('"')
    assert etag == rec.sha256
    kept = _read(
        api.get(url, as_="agent", headers={"Range": "bytes=10-19", "If-Range": f'"{etag}"'})
    )
    assert kept.status_code == 206 and kept.data == DATA[10:20]
    stale = _read(api.get(url, as_="agent", headers={"Range": "bytes=10-19", "If-Range": '"old"'}))
    assert stale.status_code == 200 and stale.data == DATA


def test_a_large_file_is_streamed_not_loaded(app, api, people, recordings):
    big = bytes(range(256)) * (64 * 1024 * 2)  # 32 MiB
    rec = recordings.add(people["agent"], big)
    url = f"/api/recordings/{rec.id}/media"
    tracemalloc.start()
    try:
        response = api.get(url, as_="agent", buffered=False)
        assert response.status_code == 200
        total, _ = 0, tracemalloc.reset_peak()
        for chunk in response.response:
            total += len(chunk)
        response.close()
        ranged = api.get(url, as_="agent", headers={"Range": "bytes=1000000-"}, buffered=False)
        assert ranged.status_code == 206
        tail = sum(len(chunk) for chunk in ranged.response)
        ranged.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == len(big) and tail == len(big) - 1_000_000
    assert peak < 2 * 1024 * 1024, peak  # chunks, never the 32 MiB file
    # What the view hands the WSGI server: the open file, read as it is sent.
    _, token = api.user("agent")
    with app.test_request_context(url, headers={"Authorization": f"Bearer {token}"}):
        served = app.full_dispatch_request()
        assert served.direct_passthrough and isinstance(served.response, FileWrapper)
        served.close()


def test_deleted_and_missing_files_are_404(api, deps, people, recordings):
    gone = recordings.add(people["agent"])
    missing = recordings.add(people["agent"])
    pending = recordings.add(people["agent"], status=RecordingStatus.PENDING)
    with deps.session_factory.begin() as s:
        s.get(Recording, gone.id).status = RecordingStatus.DELETED
    recordings.storage.delete(missing.storage_key)
    for rec in (gone, missing, pending):
        response = api.get(f"/api/recordings/{rec.id}/media", as_="agent")
        assert response.status_code == 404, rec.id
        assert response.json["error"]["field"] == "recording"
    assert api.get("/api/recordings/999999/media", as_="admin").status_code == 404
    assert _plays(deps) == []


def test_every_playback_is_audited_once(api, deps, people, recordings):
    rec = recordings.add(people["agent"], DATA)
    url = f"/api/recordings/{rec.id}/media"

    def play(who, range_header=None, method="GET"):
        headers = {"Range": range_header} if range_header else {}
        return _read(api.request(method, url, as_=who, headers=headers)).status_code

    assert play("agent", "bytes=0-") == 206  # the player starts
    assert play("agent", "bytes=4096-") == 206  # ...buffers on, seeks
    assert play("agent", "bytes=8000-8999") == 206
    assert len(_plays(deps, rec.id)) == 1
    assert play("agent") == 200  # played again from the start: a new playback
    assert len(_plays(deps, rec.id)) == 2
    assert play("supervisor", "bytes=100-") == 206  # no byte 0, still a playback
    assert play("supervisor", "bytes=200-") == 206  # ...but only once
    assert play("admin", "bytes=999999-") == 416  # nothing was heard
    assert play("admin", method="HEAD") == 200  # nor here
    plays = _plays(deps, rec.id)
    assert [p.actor_id for p in plays] == [people["agent"]] * 2 + [people["supervisor"]]
    assert plays[0].detail == {"call": rec.call_sid, "range": "bytes=0-", "via_token": True}
    assert play("other") == 403
    assert len(_plays(deps, rec.id)) == 3


def test_legal_hold(api, deps, people, recordings):
    rec = recordings.add(people["agent"])
    url = f"/api/recordings/{rec.id}/hold"
    held = api.post(url, as_="admin", json={"hold": True, "reason": "case 42"})
    assert held.status_code == 200 and held.json["legal_hold"] is True
    assert api.post(url, as_="supervisor", json={"hold": False}).status_code == 403
    assert api.post(url, as_="agent", json={"hold": False}).status_code == 403
    for body, field in (({}, "hold"), ({"hold": "yes"}, "hold"), ({"hold": 1}, "hold"),
                        ({"hold": True, "reason": 5}, "reason")):  # fmt: skip
        bad = api.post(url, as_="admin", json=body)
        assert bad.status_code == 400 and bad.json["error"]["field"] == field, body
    assert api.post(url, as_="admin", data="x").status_code == 400
    lifted = api.post(url, as_="admin", json={"hold": False})
    assert lifted.status_code == 200 and lifted.json["legal_hold"] is False
    with deps.session_factory() as s:
        entries = s.scalars(
            select(AuditEntry).where(AuditEntry.target == f"recording:{rec.id}")
        ).all()
    assert [(e.action, e.actor_id, e.detail.get("reason")) for e in entries] == [
        ("recording.hold", people["admin"], "case 42"),
        ("recording.unhold", people["admin"], None),
    ]
    assert api.post("/api/recordings/999999/hold", as_="admin", json={"hold": True}).status_code
    with deps.session_factory.begin() as s:
        s.get(Recording, rec.id).status = RecordingStatus.DELETED
    again = api.post(url, as_="admin", json={"hold": True})
    assert again.status_code == 409 and again.json["error"]["field"] == "hold"
