"""``callcenter worker`` as its own process, as in production: killed (SIGKILL, with its work
horse and scheduler, as when the machine is lost) while a recording streams from the
carrier, the next worker started takes the download up again within a minute and stores
one verified file; and a worker waiting for jobs keeps quiet about a Redis that is up.

The carrier is the simulator's REST API on a loopback port in this process; its media
answer is slowed down (in this test, by a WSGI wrapper) so that there is a moment to kill
the worker in mid-stream. The callbacks reach the app in this thread, which queues the job
on the test Redis, where the worker processes find it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest
from rq.job import Job, JobStatus
from sqlalchemy import select
from werkzeug.serving import make_server

from recording.download_queue import DOWNLOAD_QUEUE, job_id
from recording.models import Recording, RecordingStatus
from recording.storage import PARTIAL_SUFFIX, storage_from_config
from telephony.simulator.engine import Simulator
from telephony.simulator.media import wav_bytes
from telephony.simulator.rest import make_rest_app
from telephony.simulator.transport import WsgiTransport
from tests.telephony.conftest import PUBLIC, TOKEN, twilio_app
from tests.test_serving import BIN

ACCOUNT = "AC" + "0" * 32
NUMBER = "+13135550100"
CALLER = "+13135550101"
RESUME_SECONDS = 60  # the promise: a killed download resumes within a minute
CHUNK, PAUSE = 8192, 0.25  # the slowed media: ~10 s for a 10 s dual-channel WAV


class SlowMedia:
    """The REST app, with its first recording-media answer sent a chunk at a time."""

    def __init__(self, app) -> None:
        self.app = app
        self.streaming = threading.Event()  # the first chunk is out
        self.slowed = False

    def __call__(self, environ, start_response):
        body = b"".join(self.app(environ, start_response))
        if self.slowed or not environ.get("PATH_INFO", "").endswith(".wav"):
            return [body]
        self.slowed = True
        return self._trickle(body)

    def _trickle(self, body: bytes):
        for start in range(0, len(body), CHUNK):
            yield body[start : start + CHUNK]
            self.streaming.set()
            time.sleep(PAUSE)


@pytest.fixture
def served(clock):
    sim = Simulator(clock=clock, transport=None, account_sid=ACCOUNT, auth_token=TOKEN)
    media = SlowMedia(make_rest_app(sim))
    server = make_server("127.0.0.1", 0, media, threaded=True)
    sim.api_base_url = f"http://127.0.0.1:{server.port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield sim, media
    server.shutdown()
    server.server_close()


@pytest.fixture
def app(database_url, redis_url, clock, tmp_path, served):
    sim, _ = served
    yield from twilio_app(
        database_url, redis_url, clock, tmp_path, TWILIO_API_BASE_URL=sim.api_base_url
    )


@pytest.fixture
def sim(app, served):
    sim, _ = served
    sim.transport = WsgiTransport(app)
    sim.add_number(
        NUMBER, f"{PUBLIC}/twilio/voice", status_callback=f"{PUBLIC}/twilio/voice/status"
    )
    return sim


@pytest.fixture
def recorded(sim, deps):
    """A caller recorded for 10 s (both channels); the callbacks have queued the download."""
    sim.call(CALLER, NUMBER).wait(20).hangup()
    sim.advance(3)
    (call_sid,) = sim.calls
    rsid = deps.carrier.start_recording(call_sid, status_callback=f"{PUBLIC}/twilio/recording")
    sim.advance(10)
    deps.carrier.stop_recording(call_sid, rsid)
    sim.advance(30)
    assert sim.recordings[rsid].status == "completed" and sim.errors == []
    assert deps.queues[DOWNLOAD_QUEUE].job_ids == [job_id(rsid)]
    return rsid


@pytest.fixture
def worker_env(app, database_url, redis_url, served):
    """The installation the app in this process is: same database, Redis, files, carrier."""
    sim, _ = served
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "RECORDING_"))}
    return clean | {
        "INSTANCE_PATH": app.instance_path,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "test-secret",
        "PUBLIC_BASE_URL": PUBLIC,
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_API_BASE_URL": sim.api_base_url,
    }


class Worker:
    """``callcenter worker`` in its own process, its output in a file."""

    def __init__(self, env: dict, log: Path, *args: str) -> None:
        self.log = log
        with log.open("w") as out:
            self.process = subprocess.Popen(
                [BIN / "callcenter", "worker", *args], env=env, stdout=out, stderr=out
            )

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill_all(self) -> None:
        """SIGKILL to the worker, its work horse and its scheduler (this test's processes,
        by pid): nothing of rq's runs its cleanup."""
        try:
            family = [*psutil.Process(self.process.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            family = []
        self.process.kill()
        for process in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        self.process.wait(timeout=30)
        psutil.wait_procs(family, timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill_all()


def row(deps, rsid) -> Recording:
    with deps.session_factory() as s:
        return s.scalars(select(Recording).where(Recording.recording_sid == rsid)).one()


def test_a_worker_killed_mid_download_is_resumed_by_the_next_within_a_minute(
    app, deps, sim, served, recorded, worker_env, tmp_path
):
    _, media = served
    rsid = recorded
    first = Worker(worker_env, tmp_path / "first.log", "--no-ticker")
    second = None
    try:
        assert media.streaming.wait(60), first.output
        time.sleep(1)  # a few chunks into the store's temporary file
        first.kill_all()
        job = Job.fetch(job_id(rsid), connection=deps.redis)
        assert job.get_status() == JobStatus.STARTED  # abandoned: nobody will finish it
        assert row(deps, rsid).status == RecordingStatus.PENDING

        second = Worker(worker_env, tmp_path / "second.log", "--no-ticker")
        started = time.monotonic()
        while time.monotonic() - started < RESUME_SECONDS + 30:
            now = row(deps, rsid)  # stored, then the carrier's copy deleted: the job done
            if now.status != RecordingStatus.PENDING and (
                now.status != RecordingStatus.STORED or now.deleted_at_carrier
            ):
                break
            time.sleep(0.5)
        took = time.monotonic() - started
        recording = row(deps, rsid)
        assert recording.status == RecordingStatus.STORED, (recording.error, second.output)
        assert took < RESUME_SECONDS, f"resumed after {took:.0f} s"
    finally:
        first.stop()
        if second is not None:
            second.stop()
    # One row, one file (no partial left), the very bytes the carrier had.
    with deps.session_factory() as s:
        assert len(s.scalars(select(Recording)).all()) == 1
    storage = storage_from_config(app.config, app.instance_path)
    stored = sorted(p for p in storage.root.rglob("*") if p.is_file())
    assert [p.relative_to(storage.root).as_posix() for p in stored] == [recording.storage_key]
    assert not any(p.name.endswith(PARTIAL_SUFFIX) for p in stored)
    data = stored[0].read_bytes()
    assert data == wav_bytes(sim.recordings[rsid])
    assert recording.sha256 == hashlib.sha256(data).hexdigest() and recording.size_bytes == len(
        data
    )
    assert recording.attempts == 2 and recording.deleted_at_carrier


def test_a_worker_waiting_for_jobs_does_not_report_redis_unreachable(app, worker_env, tmp_path):
    """Its blocking dequeue outlasts no socket timeout. Redis is given a short one here
    (REDIS_URL's own option, which the app honours) so that a dequeue on the app's
    connections times out, retries and is reported well within the test: idle for longer
    than that, the worker logs no "could not connect to Redis ... Timeout reading"."""
    url = worker_env["REDIS_URL"]
    url += ("&" if "?" in url else "?") + "socket_timeout=2"
    env = worker_env | {"REDIS_URL": url}
    worker = Worker(env, tmp_path / "idle.log")  # with its ACD ticker, as deployed
    try:
        deadline = time.monotonic() + 60
        while "Listening on" not in worker.output and time.monotonic() < deadline:
            assert worker.process.poll() is None, worker.output
            time.sleep(0.5)
        time.sleep(25)
        assert worker.process.poll() is None, worker.output
    finally:
        worker.stop()
    assert "could not connect to Redis" not in worker.output, worker.output
    assert "Timeout reading" not in worker.output, worker.output
