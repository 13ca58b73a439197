"""The recording callback (``POST /twilio/recording``) and the download service, in this
process: signed callbacks folded into one row and one rq job; the WAV check; one attempt of
the download against the simulator's REST API (the real twilio-python client, mounted in
this thread), stored once, deleted at the carrier, and what an interrupted or failing
attempt leaves. Whole calls with a real rq worker are tests/e2e/test_recording_download.py.
"""

from __future__ import annotations

import hashlib
import io
import struct
import wave

import pytest
from sqlalchemy import select

from crm_core.calls import insert_call_if_new
from crm_core.models import CallDirection
from recording.download import Downloader, DownloadRejected, WavCheck
from recording.download_queue import DOWNLOAD_QUEUE, job_id, retry_intervals
from recording.jobs import download_recording
from recording.models import Recording, RecordingStatus
from recording.storage import PARTIAL_SUFFIX, FileStorage, storage_from_config
from telephony.carrier import CarrierUnavailable
from telephony.models import TelephonyError
from telephony.simulator.engine import Simulator
from telephony.simulator.media import wav_bytes
from telephony.simulator.model import Recording as SimRecording
from telephony.simulator.rest import RestServer
from telephony.simulator.transport import WsgiTransport
from tests.telephony.conftest import TOKEN, Twilio, twilio_app

ACCOUNT = "AC" + "0" * 32
SID = "RE" + "a" * 32
CALL = "CA" + "b" * 32
RETRIES = (0, 0)  # the app's RECORDING_DOWNLOAD_RETRY_SECONDS below


@pytest.fixture
def served(clock):
    """The simulator with its REST API on a loopback port (media is streamed over HTTP)."""
    sim = Simulator(clock=clock, transport=None, account_sid=ACCOUNT, auth_token=TOKEN)
    with RestServer(sim) as server:
        sim.api_base_url = server.url
        yield sim


@pytest.fixture
def app(database_url, redis_url, clock, tmp_path, served):
    yield from twilio_app(
        database_url,
        redis_url,
        clock,
        tmp_path,
        TWILIO_API_BASE_URL=served.api_base_url,
        RECORDING_DOWNLOAD_RETRY_SECONDS="0,0",
    )


@pytest.fixture
def twilio(client) -> Twilio:
    return Twilio(client)


@pytest.fixture
def sim(app, deps, clock, served):
    """The simulator, its webhooks to the app; one completed 10 s dual recording."""
    served.transport = WsgiTransport(app)
    deps.carrier.http.sleep = lambda _seconds: None  # its own retries, without waiting
    served.recordings[SID] = SimRecording(
        sid=SID,
        account_sid=ACCOUNT,
        call_sid=CALL,
        duration=10,
        channels=2,
        source="StartCallRecordingAPI",
        created_at=clock.now(),
    )
    return served


@pytest.fixture
def storage(app) -> FileStorage:
    return storage_from_config(app.config, app.instance_path)


@pytest.fixture
def downloader(deps, sim, storage, clock) -> Downloader:
    return Downloader(deps.session_factory, deps.carrier, storage, clock, delete_at_carrier=True)


def callback(status: str, **extra: str) -> dict[str, str]:
    params = {
        "AccountSid": ACCOUNT,
        "CallSid": CALL,
        "RecordingSid": SID,
        "RecordingStatus": status,
        "RecordingChannels": "2",
        "RecordingSource": "StartCallRecordingAPI",
        "RecordingStartTime": "Mon, 05 Jan 2026 15:00:00 GMT",
    }
    if status != "in-progress":
        params["RecordingDuration"] = "10"
    return params | extra


def row(deps) -> Recording:
    with deps.session_factory() as s:
        return s.scalars(select(Recording).where(Recording.recording_sid == SID)).one()


def files(storage: FileStorage) -> list[str]:
    return sorted(str(p.relative_to(storage.root)) for p in storage.root.rglob("*") if p.is_file())


# ------------------------------------------------------------------------ the callback


def test_duplicate_and_late_callbacks_make_one_row_and_one_job(twilio, deps):
    for status in ("in-progress", "completed", "completed", "in-progress"):
        assert twilio.post("/twilio/recording", callback(status)).status_code == 204
    recording = row(deps)
    assert recording.status == RecordingStatus.PENDING
    assert recording.callback_status == "completed"  # the late in-progress changed nothing
    assert (recording.duration_seconds, recording.channels) == (10, 2)
    assert recording.source == "StartCallRecordingAPI" and recording.started_at is not None
    queue = deps.queues[DOWNLOAD_QUEUE]
    assert queue.job_ids == [job_id(SID)]
    job = queue.fetch_job(job_id(SID))
    assert job.func_name == "recording.jobs.download_recording" and job.args == (SID,)
    assert job.retries_left == 3  # one at once, then RECORDING_DOWNLOAD_RETRY_SECONDS="0,0"


def test_absent_marks_the_row_absent_and_downloads_nothing(twilio, deps):
    twilio.post("/twilio/recording", callback("in-progress"))
    assert twilio.post("/twilio/recording", callback("absent")).status_code == 204
    twilio.post("/twilio/recording", callback("completed"))  # a final status came first
    assert row(deps).status == RecordingStatus.ABSENT
    assert deps.queues[DOWNLOAD_QUEUE].count == 0


def test_a_recording_failed_at_the_carrier_is_failed_with_the_reason(twilio, deps):
    twilio.post("/twilio/recording", callback("failed", ErrorCode="13617"))
    recording = row(deps)
    assert recording.status == RecordingStatus.FAILED and "13617" in recording.error


def test_unsigned_is_refused_and_malformed_is_kept_as_an_error_not_a_500(twilio, deps):
    assert twilio.post("/twilio/recording", callback("completed"), signature="x").status_code == 403
    bad = callback("completed", RecordingSid="RE123")
    assert twilio.post("/twilio/recording", bad).status_code == 204
    bad_status = callback("paused-forever")
    assert twilio.post("/twilio/recording", bad_status).status_code == 204
    with deps.session_factory() as s:
        assert s.scalars(select(Recording)).all() == []
        errors = [e.message for e in s.scalars(select(TelephonyError))]
    assert any("RecordingSid" in m for m in errors) and any("RecordingStatus" in m for m in errors)
    assert deps.queues[DOWNLOAD_QUEUE].count == 0


def test_a_lost_enqueue_is_a_204_and_the_next_callback_heals_it(twilio, deps, monkeypatch):
    import recording.views

    def redis_down(*args, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(recording.views, "enqueue_download", redis_down)
    assert twilio.post("/twilio/recording", callback("completed")).status_code == 204
    assert row(deps).status == RecordingStatus.PENDING  # the row is kept all the same
    with deps.session_factory() as s:
        assert "Redis is down" in s.scalars(select(TelephonyError.message)).one()
    monkeypatch.undo()
    assert twilio.post("/twilio/recording", callback("completed")).status_code == 204
    assert deps.queues[DOWNLOAD_QUEUE].job_ids == [job_id(SID)]


def test_a_repeated_callback_replaces_a_dead_job_and_leaves_a_live_one(twilio, deps):
    """A job id that exists does not stop a repeated callback from healing the download:
    a job abandoned by a worker that died goes through rq's own cleanup (retried: it is
    queued again), a failed one is replaced; a queued or running one is left alone."""
    import time

    from rq.job import JobStatus
    from rq.registry import StartedJobRegistry

    queue, jid = deps.queues[DOWNLOAD_QUEUE], job_id(SID)
    started = StartedJobRegistry(queue.name, connection=deps.redis)

    def as_if_running(heartbeat_lapses_at: float) -> None:
        """A worker took the job; its heartbeat lasts until then (rq's registry score)."""
        job = queue.fetch_job(jid)
        queue.remove(job)
        with deps.redis.pipeline() as pipe:
            job.set_status(JobStatus.STARTED, pipeline=pipe)
            pipe.zadd(started.key, {f"{jid}:execution": heartbeat_lapses_at})
            pipe.execute()

    def repost() -> None:
        assert twilio.post("/twilio/recording", callback("completed")).status_code == 204

    repost()
    first = queue.fetch_job(jid)
    repost()  # queued: the same job
    assert queue.job_ids == [jid] and queue.fetch_job(jid).created_at == first.created_at

    as_if_running(time.time() + 30)
    repost()  # running, its heartbeat alive: left alone
    assert queue.job_ids == [] and queue.fetch_job(jid).get_status() == JobStatus.STARTED

    as_if_running(time.time() - 1)
    repost()  # abandoned: rq's cleanup retries it, at once (the first retry)
    job = queue.fetch_job(jid)
    assert queue.job_ids == [jid] and job.get_status() == JobStatus.QUEUED
    assert job.retries_left == first.retries_left - 1

    queue.remove(job)
    job.set_status(JobStatus.FAILED)
    repost()  # failed (a worker killed on its last try): a new job, with every retry
    job = queue.fetch_job(jid)
    assert queue.job_ids == [jid] and job.get_status() == JobStatus.QUEUED
    assert job.retries_left == first.retries_left
    assert row(deps).status == RecordingStatus.PENDING


def test_retry_setting_is_read_and_checked():
    assert retry_intervals({"RECORDING_DOWNLOAD_RETRY_SECONDS": "30, 120,600"}) == [30, 120, 600]
    assert retry_intervals({"RECORDING_DOWNLOAD_RETRY_SECONDS": ""}) == []
    with pytest.raises(ValueError, match="RECORDING_DOWNLOAD_RETRY_SECONDS"):
        retry_intervals({"RECORDING_DOWNLOAD_RETRY_SECONDS": "30,soon"})


# ------------------------------------------------------------------------ the WAV check


def wav(seconds: int = 2, channels: int = 2) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(8000 * seconds * 2 * channels))
    return buffer.getvalue()


def check(data: bytes, *, length: int | None = -1, channels=2, seconds=2, kind="audio/x-wav"):
    length = len(data) if length == -1 else length
    chunks = [data[i : i + 1000] for i in range(0, len(data), 1000)]
    return b"".join(WavCheck(length, channels, seconds, kind)(chunks))


def test_a_whole_wav_passes_unchanged():
    data = wav()
    assert check(data) == data
    assert check(data, length=None) == data  # no Content-Length sent: the header decides


@pytest.mark.parametrize(
    ("mangle", "why"),
    [
        (lambda d: (d[: len(d) // 2], {"length": None}), "RIFF header says"),
        (lambda d: (d[: len(d) // 2], {"length": len(d)}), "received"),
        (lambda d: (d[:40] + struct.pack("<I", 999) + d[44:], {}), "data chunk says"),
        (lambda d: (d, {"channels": 1}), "2 channels"),
        (lambda d: (d, {"seconds": 30}), "2.0 s of audio"),
        (lambda d: (d, {"kind": "audio/mpeg"}), "expected a WAV"),
        (lambda d: (b"ID3" + d[3:], {}), "not a WAV"),
    ],
    ids=["truncated", "short-read", "tampered", "channels", "duration", "mp3", "not-wav"],
)
def test_a_file_that_is_not_the_whole_recording_is_rejected(mangle, why):
    data, options = mangle(wav())
    with pytest.raises(DownloadRejected, match=why):
        check(data, **options)


# ------------------------------------------------------------------------ one attempt


def test_downloaded_once_verified_linked_and_deleted_at_the_carrier(
    twilio, deps, sim, storage, downloader, clock
):
    twilio.post("/twilio/recording", callback("completed"))  # before the Call row exists
    assert row(deps).call_id is None
    with deps.session_factory.begin() as s:
        call_id = insert_call_if_new(
            s,
            call_sid=CALL,
            direction=CallDirection.INBOUND,
            from_number=None,
            to_number=None,
            clock=clock,
        )
    assert downloader.run(SID) == RecordingStatus.STORED
    recording = row(deps)
    expected = wav_bytes(sim.recordings[SID])
    assert recording.status == RecordingStatus.STORED and recording.call_id == call_id
    assert recording.storage_key == "2026/01/" + SID + ".wav"
    assert files(storage) == [recording.storage_key]
    with storage.open(recording.storage_key) as stored:
        assert stored.read() == expected
    assert recording.sha256 == hashlib.sha256(expected).hexdigest()
    assert recording.size_bytes == len(expected) and recording.attempts == 1
    assert recording.deleted_at_carrier and sim.recordings[SID].deleted
    stored_at = recording.stored_at
    clock.advance(60)
    assert downloader.run(SID) == RecordingStatus.STORED  # again: nothing changes
    again = row(deps)
    assert (again.stored_at, again.attempts, files(storage)) == (stored_at, 1, files(storage))


def test_keeping_the_carriers_copy(twilio, deps, sim, storage, clock):
    twilio.post("/twilio/recording", callback("completed"))
    Downloader(deps.session_factory, deps.carrier, storage, clock, delete_at_carrier=False).run(SID)
    assert row(deps).status == RecordingStatus.STORED
    assert not row(deps).deleted_at_carrier and not sim.recordings[SID].deleted


@pytest.mark.parametrize("interruption", [SystemExit, KeyboardInterrupt])
def test_interrupted_mid_download_leaves_no_file_and_the_retry_stores_one(
    twilio, deps, sim, storage, downloader, monkeypatch, interruption
):
    twilio.post("/twilio/recording", callback("completed"))
    fetch = type(deps.carrier).fetch_recording_media

    def dying(self, sid, fmt="wav"):
        media = fetch(self, sid, fmt)
        chunks = iter(media._chunks)

        def first_then_die():
            yield next(chunks)
            raise interruption()

        media._chunks = first_then_die()
        return media

    monkeypatch.setattr(type(deps.carrier), "fetch_recording_media", dying)
    with pytest.raises(interruption):
        downloader.run(SID)
    assert files(storage) == []  # no half file under the key, no .part left either
    assert row(deps).status == RecordingStatus.PENDING and row(deps).attempts == 1
    monkeypatch.setattr(type(deps.carrier), "fetch_recording_media", fetch)
    assert downloader.run(SID) == RecordingStatus.STORED
    assert files(storage) == [row(deps).storage_key] and row(deps).attempts == 2


def test_a_killed_writers_partial_file_is_removed_by_the_retry(
    twilio, deps, sim, storage, downloader
):
    twilio.post("/twilio/recording", callback("completed"))
    key = "2026/01/" + SID + ".wav"
    partial = storage.root / f"{key}.x1y2z3{PARTIAL_SUFFIX}"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"RIFF half")  # what SIGKILL leaves: put never got to clean up
    downloader.run(SID)
    assert files(storage) == [key]


def test_rejected_downloads_keep_the_reason_and_the_last_one_fails_the_row(
    twilio, deps, sim, storage, downloader
):
    twilio.post("/twilio/recording", callback("completed"))
    sim.plan_media_faults("truncate")
    with pytest.raises(DownloadRejected) as first:
        downloader.run(SID)
    downloader.record_failure(SID, first.value, final=False)
    assert row(deps).status == RecordingStatus.PENDING and "RIFF header" in row(deps).error
    sim.plan_media_faults(*["error"] * 4)  # the HTTP client's own four tries, all 500
    with pytest.raises(CarrierUnavailable) as second:
        downloader.run(SID)
    downloader.record_failure(SID, second.value, final=True)
    failed = row(deps)
    assert failed.status == RecordingStatus.FAILED and failed.attempts == 2
    assert "500" in failed.error and files(storage) == []
    assert downloader.run(SID) == RecordingStatus.FAILED  # a failed row is left for a person


def test_the_job_function_fails_at_once_when_the_carrier_has_no_such_recording(
    app, twilio, deps, sim, storage
):
    twilio.post("/twilio/recording", callback("completed"))
    sim.recordings[SID].deleted = True
    with app.app_context():
        assert download_recording(SID) == "failed"
    assert row(deps).status == RecordingStatus.FAILED and "404" in row(deps).error


def test_a_download_whose_job_is_gone_is_failed_where_a_person_sees_it(twilio, deps, clock):
    """A worker killed during the last attempt: rq moves the job to its failed registry
    without our failure code, and the row would stay pending for ever. The daily sweep
    (with the retention purge) fails it with the reason; a live job is left alone."""
    from recording.download_queue import STUCK_GRACE_SECONDS, fail_stuck

    assert twilio.post("/twilio/recording", callback("completed")).status_code == 204
    queue = deps.queues[DOWNLOAD_QUEUE]
    clock.advance(STUCK_GRACE_SECONDS + 60)

    def sweep() -> list[str]:
        return fail_stuck(deps.session_factory, deps.clock, queue, RETRIES)

    assert sweep() == []  # its job is still queued: it may yet run
    assert row(deps).status == RecordingStatus.PENDING
    queue.fetch_job(job_id(SID)).delete()  # the job is gone, as after a kill on the last try
    assert sweep() == [SID]
    failed = row(deps)
    assert failed.status == RecordingStatus.FAILED and "never finished" in failed.error
    assert sweep() == []  # once
