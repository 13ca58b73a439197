"""Retention: recordings past RECORDING_RETENTION_DAYS are deleted (file, carrier copy, row
kept as history) unless on legal hold, by the daily rq job and by ``callcenter recordings
purge``; a customer's erasure deletes their recordings too. The carrier is the simulator's
REST app in this thread; the clock is a ManualClock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rq import SimpleWorker
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from crm_core.audit import AuditEntry
from crm_core.models import Customer
from crm_core.privacy import erase_customer
from recording import retention
from recording.models import Recording, RecordingStatus
from recording.storage import Storage
from telephony.carrier import CarrierUnavailable
from telephony.context import provided
from telephony.simulator.engine import Simulator
from telephony.simulator.model import Recording as SimRecording
from telephony.simulator.rest import make_rest_app
from telephony.simulator.transport import WsgiAdapter, WsgiTransport

API = "http://simulator.test"
ACCOUNT = "AC" + "0" * 32


@pytest.fixture
def app(database_url, redis_url, clock, tmp_path):
    from tests.conftest import make_app

    yield from make_app(
        database_url,
        redis_url,
        clock,
        tmp_path,
        TWILIO_ACCOUNT_SID=ACCOUNT,
        TWILIO_AUTH_TOKEN="12345",
        TWILIO_API_BASE_URL=API,
        RECORDING_RETENTION_DAYS="30",
    )


@pytest.fixture
def sim(app, deps, clock):
    sim = Simulator(
        clock=clock,
        transport=WsgiTransport(app),
        account_sid=ACCOUNT,
        auth_token="12345",
        api_base_url=API,
    )
    deps.carrier.http.session.mount(API, WsgiAdapter(make_rest_app(sim)))
    return sim


def _at_carrier(sim, rec) -> SimRecording:
    """The carrier's copy of our recording (the pipeline may have kept it there)."""
    copy = SimRecording(
        sid=rec.recording_sid,
        account_sid=ACCOUNT,
        call_sid=rec.call_sid,
        duration=60,
        channels=2,
        source="StartCallRecordingAPI",
        created_at=rec.created_at,
    )
    sim.recordings[rec.recording_sid] = copy
    return copy


def _row(deps, recording_id) -> Recording:
    with deps.session_factory() as s:
        return s.get(Recording, recording_id)


def _actions(deps, action) -> list[AuditEntry]:
    with deps.session_factory() as s:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list(s.scalars(query))


def test_purge_deletes_what_is_past_retention_unless_held(deps, clock, sim, recordings, app):
    old = recordings.add()
    held = recordings.add(legal_hold=True)
    failed = recordings.add(status=RecordingStatus.FAILED)
    carrier_copy = _at_carrier(sim, old)
    clock.advance(days=20)
    recent = recordings.add()
    clock.advance(days=11)  # old ones: 31 days, recent: 11
    storage = provided(app.extensions).get(Storage)
    result = retention.purge(deps.session_factory, deps.clock, deps.carrier, storage, 30)
    assert sorted(result.recordings) == sorted([old.id, failed.id])
    assert result.files_removed == 1 and result.carrier_removed == 1 and result.left == 0
    gone = _row(deps, old.id)
    assert gone.status == RecordingStatus.DELETED and gone.deleted_reason == "retention"
    assert gone.deleted_at == clock.now() and gone.storage_key is None
    assert gone.deleted_at_carrier and carrier_copy.deleted
    assert gone.sha256 == old.sha256  # the row stays as history
    assert storage.size(old.storage_key) is None
    assert storage.size(held.storage_key) == held.size_bytes
    assert storage.size(recent.storage_key) == recent.size_bytes
    assert _row(deps, held.id).status == RecordingStatus.STORED
    assert _row(deps, failed.id).deleted_reason == "retention"
    deletions = _actions(deps, "recording.delete")
    assert {e.target for e in deletions} == {f"recording:{old.id}", f"recording:{failed.id}"}
    assert all(e.actor_id is None and e.detail["reason"] == "retention" for e in deletions)
    # Idempotent:
    again = retention.purge(deps.session_factory, deps.clock, deps.carrier, storage, 30)
    assert again.recordings == [] and again.files_removed == again.carrier_removed == 0
    assert len(_actions(deps, "recording.delete")) == 2


def test_a_carrier_outage_is_finished_by_the_next_run(deps, clock, sim, recordings, app):
    rec = recordings.add()
    copy = _at_carrier(sim, rec)
    clock.advance(days=31)

    class Down:  # the off-machine carrier not answering: the one thing stubbed here
        def delete_recording(self, sid):
            raise CarrierUnavailable("no answer", operation="delete_recording")

    working, deps.carrier = deps.carrier, Down()
    storage = provided(app.extensions).get(Storage)
    try:
        first = retention.purge(deps.session_factory, deps.clock, deps.carrier, storage, 30)
    finally:
        deps.carrier = working
    assert first.recordings == [rec.id] and first.files_removed == 1 and first.left == 1
    assert not _row(deps, rec.id).deleted_at_carrier and not copy.deleted
    second = retention.purge(deps.session_factory, deps.clock, deps.carrier, storage, 30)
    assert second.recordings == [] and second.carrier_removed == 1 and copy.deleted
    assert _row(deps, rec.id).deleted_at_carrier


def test_the_retention_setting_is_checked(deps):
    assert retention.retention_days(deps.config) == 30
    assert retention.retention_days({}) == retention.DEFAULT_RETENTION_DAYS == 365
    for bad in ("0", "-1", "a year", "1.5"):
        with pytest.raises(Exception, match="RECORDING_RETENTION_DAYS"):
            retention.retention_days({"RECORDING_RETENTION_DAYS": bad})


def test_the_daily_job_purges_and_schedules_the_next_day(app, deps, clock, sim, recordings):
    rec = recordings.add()
    _at_carrier(sim, rec)
    clock.advance(days=31)  # 2026-02-05 15:00 UTC
    queue = deps.queues["low"]
    job = queue.enqueue(retention.JOB)
    with app.app_context():
        SimpleWorker([queue], connection=deps.redis).work(burst=True)
    job.refresh()
    assert job.is_finished, job.latest_result()
    assert job.return_value()["recordings"] == [rec.id]
    assert _row(deps, rec.id).status == RecordingStatus.DELETED
    scheduled = ScheduledJobRegistry(queue=queue)
    assert scheduled.get_job_ids() == ["recording-retention-20260206"]
    when = scheduled.get_scheduled_time("recording-retention-20260206")
    assert when == datetime(2026, 2, 6, 3, 15, tzinfo=UTC)
    # Every worker start asks for it: still one job.
    retention.ensure_scheduled(queue, clock.now())
    retention.ensure_scheduled(queue, clock.now() + timedelta(hours=5))
    assert scheduled.get_job_ids() == ["recording-retention-20260206"]


def test_a_day_scheduled_under_the_jobs_old_path_is_scheduled_again(deps, clock):
    """A purge scheduled before the job moved to recording.jobs would fail to import, and
    with it the chain of days: a worker's start replaces it."""
    queue = deps.queues["low"]
    when = retention.next_run(clock.now())
    old = queue.enqueue_at(when, "recording.retention.purge_expired", job_id=retention.job_id(when))
    job = retention.ensure_scheduled(queue, clock.now())
    assert job.id == old.id and job.func_name == retention.JOB
    assert ScheduledJobRegistry(queue=queue).get_job_ids() == [retention.job_id(when)]


def test_next_run_is_the_next_quarter_past_three_utc():
    at = datetime(2026, 3, 1, 3, 15, tzinfo=UTC)
    assert retention.next_run(at - timedelta(seconds=1)) == at
    assert retention.next_run(at) == at + timedelta(days=1)
    assert retention.next_run(at + timedelta(hours=20)) == at + timedelta(days=1)


def test_the_recordings_command(runner, deps, clock, sim, recordings):
    old = recordings.add()
    held = recordings.add()
    clock.advance(days=31)
    assert (
        runner.invoke(args=["recordings", "hold", str(held.id), "--reason", "case 7"]).exit_code
        == 0
    )
    listed = runner.invoke(args=["recordings", "list"])
    assert listed.exit_code == 0 and old.recording_sid in listed.output
    assert "HOLD" in listed.output
    dry = runner.invoke(args=["recordings", "purge", "--dry-run"])
    assert dry.exit_code == 0 and f"would delete 1 recordings past 30 days: {old.id}" in dry.output
    assert _row(deps, old.id).status == RecordingStatus.STORED
    done = runner.invoke(args=["recordings", "purge"])
    assert done.exit_code == 0 and f"deleted 1 recordings past 30 days: {old.id}" in done.output
    assert _row(deps, old.id).status == RecordingStatus.DELETED
    deleted = runner.invoke(args=["recordings", "list", "--status", "deleted"])
    assert "retention" in deleted.output and held.recording_sid not in deleted.output
    assert runner.invoke(args=["recordings", "unhold", str(held.id)]).exit_code == 0
    assert runner.invoke(args=["recordings", "purge"]).output.startswith("deleted 1 ")
    missing = runner.invoke(args=["recordings", "hold", "999999", "--reason", "x"])
    assert missing.exit_code == 1 and "[recording]" in missing.output
    holds = [(e.action, e.detail.get("reason")) for e in _actions(deps, "recording.hold")]
    assert holds == [("recording.hold", "case 7")]


def _customer(deps, clock) -> int:
    with deps.session_factory.begin() as s:
        customer = Customer(first_name="Maria", created_at=clock.now(), updated_at=clock.now())
        s.add(customer)
        s.flush()
        return customer.id


def test_erasure_deletes_the_customers_recordings_after_commit(api, app, deps, clock, recordings):
    customer = _customer(deps, clock)
    theirs = recordings.add(customer_id=customer)
    held = recordings.add(customer_id=customer, legal_hold=True)
    someone_else = recordings.add(customer_id=_customer(deps, clock))
    storage = provided(app.extensions).get(Storage)
    # An erasure that rolls back deletes nothing.
    with deps.session_factory() as s:
        erase_customer(s, customer, clock, hooks=deps.erasure_hooks)
        s.rollback()
    assert storage.size(theirs.storage_key) == theirs.size_bytes
    assert _row(deps, theirs.id).status == RecordingStatus.STORED
    erased = api.post(f"/api/customers/{customer}/erase", as_="admin")
    assert erased.status_code == 204
    row = _row(deps, theirs.id)
    assert row.status == RecordingStatus.DELETED and row.deleted_reason == "erasure"
    assert row.storage_key is None and storage.size(theirs.storage_key) is None
    assert _row(deps, held.id).status == RecordingStatus.STORED  # the hold wins
    assert storage.size(held.storage_key) == held.size_bytes
    assert _row(deps, someone_else.id).status == RecordingStatus.STORED
    kept = _actions(deps, "recording.erasure_held")
    assert [e.target for e in kept] == [f"recording:{held.id}"]
    # The carrier's copies go in a job (a carrier call has no place in the request).
    jobs = deps.queues["low"].get_jobs()
    assert [(j.func_name, j.args) for j in jobs] == [(retention.FINISH_JOB, ([theirs.id],))]
    assert api.get(f"/api/recordings/{theirs.id}/media", as_="admin").status_code == 404


def test_the_erasure_job_deletes_the_carriers_copies(app, deps, clock, sim, recordings):
    customer = _customer(deps, clock)
    rec = recordings.add(customer_id=customer)
    copy = _at_carrier(sim, rec)
    with deps.session_factory.begin() as s:
        erase_customer(s, customer, clock, hooks=deps.erasure_hooks)
    with app.app_context():
        SimpleWorker([deps.queues["low"]], connection=deps.redis).work(burst=True)
    assert copy.deleted and _row(deps, rec.id).deleted_at_carrier
