"""One recorded call from its first word to its deletion: the caller hears the notice, the
agent answers and the caller's leg is recorded; the agent's script pauses it on the card
step and resumes after; the caller hangs up; the carrier's callback queues the download,
which stores one checked copy (a second run changes nothing) and deletes the carrier's;
the agent who took the call and a supervisor can play it, another agent cannot, and each
playback is audited; past retention the file is deleted and the row says so.

The download runs in this process (``Downloader.run``, what the rq job does); the job in a
real forked worker is tests/e2e/test_recording_download.py's."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from crm_core.audit import AuditEntry
from recording import retention
from recording.download import Downloader
from recording.download_queue import DOWNLOAD_QUEUE, job_id
from recording.models import Recording, RecordingStatus
from recording.storage import Storage
from telephony.context import provided
from tests.e2e import test_recording_control as control
from tests.e2e.test_ivr import run

app, queues, sim, ana = control.app, control.queues, control.sim, control.ana  # fixtures


def test_recorded_paused_resumed_stored_once_played_by_the_right_people_then_deleted(
    app, sim, deps, api, ana, clock
):
    caller = control.connect(sim, deps, ana, control.MICHIGAN, "1", "1")  # sales, new
    sid = caller.call.sid
    run(sim, deps, 5)
    card = {"call_sid": sid, "step": "deposit_offer", "answer": "deposit-yes"}
    paused = api.post(
        "/api/agents/me/script/answer", json=card | {"script": "outbound_sales"}, as_="ana"
    )
    assert paused.json["recording"]["state"] == "paused"
    run(sim, deps, 15)  # the card number: not recorded
    step = {"call_sid": sid, "step": "confirm_appointment", "script": "outbound_sales"}
    resumed = api.post("/api/agents/me/script/step", json=step, as_="ana")
    assert resumed.json["recording"]["state"] == "recording"
    run(sim, deps, 5)
    sim.hang_up_by_party(caller.call)
    run(sim, deps, 5)  # the recording ends with the call; its callbacks arrive

    with deps.session_factory() as s:
        (row,) = s.scalars(select(Recording)).all()
    assert row.call_sid == sid and row.callback_status == "completed"
    assert row.status is RecordingStatus.PENDING and row.channels == 2
    assert deps.queues[DOWNLOAD_QUEUE].job_ids == [job_id(row.recording_sid)]

    storage = provided(app.extensions).get(Storage)
    downloader = Downloader(deps.session_factory, deps.carrier, storage, clock, True)
    assert downloader.run(row.recording_sid) is RecordingStatus.STORED
    assert downloader.run(row.recording_sid) is RecordingStatus.STORED  # again: nothing new
    with deps.session_factory() as s:
        row = s.get(Recording, row.id)
    with storage.open(row.storage_key) as file:
        data = file.read()
    stored = sorted(p for p in storage.root.rglob("*") if p.is_file())
    assert stored == [storage.local_path(row.storage_key)]  # one copy, no partial file
    assert row.sha256 == hashlib.sha256(data).hexdigest() and row.size_bytes == len(data)
    assert row.deleted_at_carrier and sim.recordings[row.recording_sid].deleted
    # The 15 s paused on the card step are not in the file (8 kHz, 16-bit, 2 channels).
    seconds = (len(data) - 44) / (8000 * 2 * 2)
    assert abs(seconds - (row.duration_seconds or 0)) <= 1.5

    media = f"/api/recordings/{row.id}/media"
    mine = api.get(media, as_="ana", headers={"Range": "bytes=0-99"})
    assert mine.status_code == 206 and mine.data == data[:100]
    mine.close()  # as a WSGI server does: the file is closed with the response
    api.user("agent", username="bob")
    assert api.get(media, as_="bob").status_code == 403  # not a call of his
    api.user("supervisor", username="sue")
    whole = api.get(media, as_="sue")
    assert whole.status_code == 200 and whole.data == data
    whole.close()
    assert "twilio" not in api.get(f"/api/recordings/{row.id}", as_="sue").get_data(as_text=True)
    with deps.session_factory() as s:
        plays = s.scalars(select(AuditEntry).where(AuditEntry.action == "recording.play")).all()
    assert len(plays) == 2  # Ana's and Sue's; Bob was refused

    clock.advance(366 * 86400)
    days = retention.retention_days(deps.config)
    purged = retention.purge(deps.session_factory, deps.clock, deps.carrier, storage, days)
    assert purged.recordings == [row.id]
    with deps.session_factory() as s:
        gone = s.get(Recording, row.id)
    assert gone.status is RecordingStatus.DELETED and gone.deleted_reason == "retention"
    assert not storage.local_path(row.storage_key).exists()
    assert api.get(media, as_="sue").status_code == 404
    assert caller.failures == [] and sim.errors == [], caller.transcript
