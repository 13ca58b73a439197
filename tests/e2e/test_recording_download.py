"""A call's recording, from the carrier's callback to one verified file, with a real rq
worker: ``callcenter worker --burst`` forks a work horse per job, as in production, and
the horse downloads over HTTP from the simulator's REST API (on a loopback port in this
process, behind basic auth) while the simulator's callbacks reach the app in this thread.

The caller rings the auto-attendant; the app starts a dual-channel recording on the call
through its Carrier, stops it ten seconds later, and the simulator posts the recording's
callbacks. Then failures: duplicated and late callbacks, downloads answered 500, a cut and
an altered file, a work horse killed mid-download, and retries that run out.
"""

from __future__ import annotations

import hashlib
import os
import signal

import pytest
from rq.registry import FailedJobRegistry
from sqlalchemy import select

from crm_core.models import Call
from recording.download_queue import DOWNLOAD_QUEUE, job_id
from recording.models import Recording, RecordingStatus
from recording.storage import storage_from_config
from telephony.http import CarrierHttpClient
from telephony.simulator.engine import Simulator
from telephony.simulator.media import wav_bytes
from telephony.simulator.rest import RestServer
from telephony.simulator.transport import WsgiTransport
from telephony.twilio_carrier import TwilioCarrier
from tests.telephony.conftest import PUBLIC, TOKEN, Twilio, twilio_app

ACCOUNT = "AC" + "0" * 32
NUMBER = "+13135550100"
CALLER = "+13135550101"


@pytest.fixture
def served(clock):
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
        RECORDING_DOWNLOAD_RETRY_SECONDS="0,0",  # three retries, at once (burst worker)
    )


@pytest.fixture
def sim(app, served, monkeypatch):
    served.transport = WsgiTransport(app)
    served.add_number(
        NUMBER, f"{PUBLIC}/twilio/voice", status_callback=f"{PUBLIC}/twilio/voice/status"
    )
    # The HTTP client's own retries (four tries a request) without waiting, in the horse too.
    monkeypatch.setattr(CarrierHttpClient, "backoff", lambda self, attempt: 0.0)
    return served


@pytest.fixture
def recorded(sim, deps):
    """A caller on the line, recorded for 10 s (both channels), then hanging up: the
    simulator has posted the recording's callbacks. Returns the RecordingSid."""
    sim.call(CALLER, NUMBER).wait(20).hangup()
    sim.advance(3)
    (call_sid,) = sim.calls
    rsid = deps.carrier.start_recording(call_sid, status_callback=f"{PUBLIC}/twilio/recording")
    sim.advance(10)
    deps.carrier.stop_recording(call_sid, rsid)
    sim.advance(30)
    assert sim.recordings[rsid].status == "completed" and sim.errors == []
    return rsid


def work(runner) -> None:
    result = runner.invoke(args=["worker", "--burst"])
    assert result.exit_code == 0, result.output


def row(deps, rsid) -> Recording:
    with deps.session_factory() as s:
        return s.scalars(select(Recording).where(Recording.recording_sid == rsid)).one()


def files(app) -> list[str]:
    root = storage_from_config(app.config, app.instance_path).root
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def assert_stored_once(app, deps, sim, rsid, attempts: int) -> Recording:
    recording = row(deps, rsid)
    assert recording.status == RecordingStatus.STORED, recording.error
    assert recording.attempts == attempts
    assert files(app) == [recording.storage_key]  # one copy, no partial file
    path = storage_from_config(app.config, app.instance_path).local_path(recording.storage_key)
    data = path.read_bytes()
    assert data == wav_bytes(sim.recordings[rsid])
    assert recording.sha256 == hashlib.sha256(data).hexdigest()
    assert recording.size_bytes == len(data) and recording.channels == 2
    assert recording.deleted_at_carrier and sim.recordings[rsid].deleted
    return recording


def test_a_recorded_call_is_downloaded_once_linked_and_deleted_at_the_carrier(
    app, deps, sim, recorded, runner, client
):
    rsid = recorded
    # Twilio may repeat a callback, or deliver one late: replay both, signed.
    twilio = Twilio(client)
    call_sid = row(deps, rsid).call_sid
    base = {"AccountSid": ACCOUNT, "CallSid": call_sid, "RecordingSid": rsid}
    done = base | {"RecordingStatus": "completed", "RecordingDuration": "10"}
    assert twilio.post("/twilio/recording", done).status_code == 204
    late = base | {"RecordingStatus": "in-progress"}
    assert twilio.post("/twilio/recording", late).status_code == 204
    assert deps.queues[DOWNLOAD_QUEUE].job_ids == [job_id(rsid)]
    work(runner)
    recording = assert_stored_once(app, deps, sim, rsid, attempts=1)
    assert recording.duration_seconds == 10 and recording.callback_status == "completed"
    with deps.session_factory() as s:
        call = s.scalars(select(Call).where(Call.call_sid == call_sid)).one()
    assert recording.call_id == call.id
    # The same callback again after the download: no second job, no second file.
    assert twilio.post("/twilio/recording", done).status_code == 204
    assert deps.queues[DOWNLOAD_QUEUE].count == 0
    work(runner)
    assert row(deps, rsid).stored_at == recording.stored_at
    assert files(app) == [recording.storage_key]


def test_a_failing_download_is_retried(app, deps, sim, recorded, runner):
    sim.plan_media_faults(*["error"] * 4)  # the first attempt's four requests all 500
    work(runner)
    assert_stored_once(app, deps, sim, recorded, attempts=2)


def test_a_cut_and_then_an_altered_file_are_rejected_and_retried(app, deps, sim, recorded, runner):
    sim.plan_media_faults("truncate", "tamper")
    work(runner)
    assert_stored_once(app, deps, sim, recorded, attempts=3)


def test_a_work_horse_killed_mid_download_leaves_no_file_and_the_retry_stores_one(
    app, deps, sim, recorded, runner, monkeypatch, tmp_path
):
    fetch = TwilioCarrier.fetch_recording_media
    killed = tmp_path / "killed-once"

    def killed_after_the_first_chunk(self, sid, fmt="wav"):
        media = fetch(self, sid, fmt)
        if killed.exists():
            return media
        chunks = media._chunks

        def first_then_sigkill():
            yield next(chunks)  # written into the store's temporary file
            killed.touch()
            os.kill(os.getpid(), signal.SIGKILL)  # the work horse dies: no cleanup at all

        media._chunks = first_then_sigkill()
        return media

    monkeypatch.setattr(TwilioCarrier, "fetch_recording_media", killed_after_the_first_chunk)
    work(runner)
    assert killed.exists()
    assert_stored_once(app, deps, sim, recorded, attempts=2)


def test_retries_that_run_out_leave_the_row_failed_with_the_reason(
    app, deps, sim, recorded, runner, client
):
    sim.plan_media_faults(*["error"] * 16)  # four attempts of four requests
    work(runner)
    recording = row(deps, recorded)
    assert recording.status == RecordingStatus.FAILED and recording.attempts == 4
    assert "HTTP 500" in recording.error and files(app) == []
    assert not recording.deleted_at_carrier and not sim.recordings[recorded].deleted
    failed = FailedJobRegistry(DOWNLOAD_QUEUE, connection=deps.redis)
    assert failed.get_job_ids() == [job_id(recorded)]
    # The carrier's callback posted again (by a person, once the carrier answers): the
    # failed job is replaced and the download tried anew.
    done = {
        "AccountSid": ACCOUNT,
        "CallSid": recording.call_sid,
        "RecordingSid": recorded,
        "RecordingStatus": "completed",
        "RecordingDuration": "10",
    }
    assert Twilio(client).post("/twilio/recording", done).status_code == 204
    assert row(deps, recorded).status == RecordingStatus.PENDING
    assert deps.queues[DOWNLOAD_QUEUE].job_ids == [job_id(recorded)]
    work(runner)
    assert_stored_once(app, deps, sim, recorded, attempts=5)
