"""``callcenter recordings``: list the recordings, purge those past retention now, and put
one on legal hold or lift it. Registered by ``app.py``; each command runs inside the app's
context and asks ``need(...)`` for what it uses.
"""

from __future__ import annotations

import click

from crm_core.clock import Clock
from crm_core.db import Database
from telephony.context import need


@click.group()
def recordings() -> None:
    """Call recordings: list them, delete those past the retention period, legal hold."""


def _recording_line(r) -> str:
    hold = " HOLD" if r.legal_hold else ""
    gone = f" ({r.deleted_reason} {r.deleted_at:%Y-%m-%d})" if r.deleted_at else ""
    size = f"{r.size_bytes}B" if r.size_bytes is not None else "-"
    return (
        f"{r.id:>6}  {r.recording_sid}  {r.call_sid:<34} {r.status.value:<8} "
        f"{r.created_at:%Y-%m-%d %H:%M}  {r.duration_seconds or 0:>5}s  {size:>10}{hold}{gone}"
    )


@recordings.command("list")
@click.option("--call", help="Only the recordings of this call (its Twilio id, CA…)")
@click.option(
    "--status",
    type=click.Choice(["pending", "stored", "failed", "absent", "deleted"]),
    help="Only the recordings in this state",
)
@click.option(
    "--limit", default=50, show_default=True, type=click.IntRange(1, 10000), help="How many"
)
def recordings_list(call: str | None, status: str | None, limit: int) -> None:
    """List the newest recordings: id, recording and call ids, state, when, length, size
    and legal hold."""
    from sqlalchemy import select

    from recording.models import Recording

    query = select(Recording).order_by(Recording.created_at.desc(), Recording.id.desc())
    if call:
        query = query.where(Recording.call_sid == call)
    if status:
        query = query.where(Recording.status == status)
    with need(Database).session_factory() as session:
        for r in session.scalars(query.limit(limit)):
            click.echo(_recording_line(r))


@recordings.command("purge")
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted")
def recordings_purge(dry_run: bool) -> None:
    """Delete now the recordings older than RECORDING_RETENTION_DAYS days (except those
    on legal hold), as the daily job does, and finish deletions an earlier run left
    unfinished (files, the carrier's copies)."""
    from crm_core.settings import Settings
    from recording import retention
    from recording.storage import Storage
    from telephony.carrier import Carrier

    days = need(Settings).recording_retention_days
    sessions, storage = need(Database).session_factory, need(Storage)
    result = retention.purge(sessions, need(Clock), need(Carrier), storage, days, dry_run=dry_run)
    ids = ", ".join(map(str, result.recordings)) or "none"
    if dry_run:
        click.echo(f"would delete {len(result.recordings)} recordings past {days} days: {ids}")
        return
    click.echo(
        f"deleted {len(result.recordings)} recordings past {days} days: {ids}; "
        f"{result.files_removed} files and {result.carrier_removed} carrier copies removed"
        + (f"; {result.left} carrier copies left for the next run" if result.left else "")
    )


@recordings.command("hold")
@click.argument("recording_id", type=int)
@click.option("--reason", required=True, help="Why it must be kept (case, request)")
def recordings_hold(recording_id: int, reason: str) -> None:
    """Put a recording on legal hold: kept past retention and through erasure."""
    _set_hold(recording_id, True, reason)


@recordings.command("unhold")
@click.argument("recording_id", type=int)
@click.option("--reason", help="Why the hold ends")
def recordings_unhold(recording_id: int, reason: str | None) -> None:
    """Lift a recording's legal hold (retention then applies to it again)."""
    _set_hold(recording_id, False, reason)


def _set_hold(recording_id: int, hold: bool, reason: str | None) -> None:
    from recording.retention import set_hold

    with need(Database).session_factory.begin() as session:
        r = set_hold(session, need(Clock), recording_id, hold, reason, None)
        click.echo(_recording_line(r))
