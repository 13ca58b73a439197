"""Service level over a day: ``GET /api/acd/service-level``, what the wallboard's chart draws.

Service level is the share of callers answered within the queue's threshold
(``service_level_seconds``) among those answered or abandoned, as the live tiles count it
(routing/snapshot.py). Here it is counted from SQL, so any past day can be read and a
restart of Redis loses nothing: from ``routing_waits``, one row per caller's wait in a
queue, written by the ticker when the wait ends with the router's own measure of it. So it
is exact: a caller who hung up while the first agent's phone rang is an abandon, an answer
counts at once with its wait; a call handed from agent to agent counts once, and its caller
hanging up during the handover is no abandon (routing/ticker.py). Overflowed waits and kept
places (callbacks) are in neither.

Each wait falls in the bucket of the moment it ended (answered or abandoned, as the live
counters count it), so a caller who waited across a bucket's edge counts once, where the
wait ended. A queue's day runs from midnight to midnight in the queue's time zone
(``time_zone``, else ``DEFAULT_TIME_ZONE``), its buckets measured from that midnight in
real time: a day when the clocks change has 46 or 50 half hours, each labelled with its
local start. ``date`` defaults to today in each queue's own zone. The threshold is the
queue's current one (the one the response names), for every bucket.

One grouped query for any number of queues: per queue and bucket, the answers, those
within the threshold and the abandons. The bucket is integer arithmetic on the wait's end
in epoch milliseconds (``(ended_ms - the queue's midnight) / bucket length``), exact on
SQLite and PostgreSQL alike; stored times are UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, request
from sqlalchemy import case, func, select

from console.api import LEADS
from console.auth import require_role
from console.pages import service_level_target
from crm_core.acd_records import WaitRecord, epoch_ms
from crm_core.acd_schemas import WaitOutcome
from crm_core.clock import Clock
from crm_core.db import Database
from crm_core.errors import InvalidInput, NotFound
from crm_core.settings import Settings
from routing.service import Router
from telephony.context import need

bp = Blueprint("service_level", __name__)
BUCKET_MINUTES = (30, 60)


@dataclass
class Bucket:
    start: datetime  # UTC
    answered: int = 0
    answered_within: int = 0
    abandoned: int = 0

    def add(self, other: Bucket) -> None:
        self.answered += other.answered
        self.answered_within += other.answered_within
        self.abandoned += other.abandoned

    def to_dict(self, zone: ZoneInfo) -> dict[str, Any]:
        handled = self.answered + self.abandoned
        return {
            "start": self.start.astimezone(zone).isoformat(),
            "offered": handled,  # the service level's denominator: answered or abandoned
            "answered": self.answered,
            "answered_within": self.answered_within,
            "abandoned": self.abandoned,
            "service_level": round(self.answered_within / handled, 3) if handled else None,
        }


@dataclass
class Day:
    """One queue's day: its UTC bounds and buckets."""

    queue: Any  # crm_core.acd.QueueConfig
    zone: ZoneInfo
    date: date
    start: datetime
    end: datetime
    step: timedelta
    buckets: list[Bucket] = field(default_factory=list)


def day_of(queue, zone: ZoneInfo, day: date, minutes: int) -> Day:
    """The queue's day as UTC instants, half-open, cut into ``minutes``-long buckets."""
    start = datetime.combine(day, datetime.min.time(), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone).astimezone(UTC)
    step = timedelta(minutes=minutes)
    out = Day(queue, zone, day, start, end, step)
    at = start
    while at < end:
        out.buckets.append(Bucket(at))
        at += step
    return out


def _date(raw: str | None, zone: ZoneInfo, now: datetime) -> date:
    if not raw:
        return now.astimezone(zone).date()
    try:
        if len(raw) != 10:
            raise ValueError
        day = date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput("date must be a day as YYYY-MM-DD", field="date") from None
    if not 1970 <= day.year <= 9998:  # a day the clock arithmetic can hold, with a margin
        raise InvalidInput("date must be between 1970 and 9998", field="date")
    return day


def _minutes(raw: str | None) -> int:
    if raw in (None, ""):
        return BUCKET_MINUTES[0]
    if raw not in {str(m) for m in BUCKET_MINUTES}:
        raise InvalidInput("minutes must be 30 or 60", field="minutes")
    return int(raw)


def counts(session, days: list[Day]) -> list[tuple]:
    """(queue, bucket index, answered, answered within, abandoned) for every bucket of the
    days that had a call: one grouped query (the days share one bucket length)."""
    step = days[0].step // timedelta(milliseconds=1)
    names = {d.queue.name: d for d in days}

    def per_queue(value) -> Any:
        return case({n: value(d) for n, d in names.items()}, value=WaitRecord.queue_name)

    start = per_queue(lambda d: epoch_ms(d.start))
    end = per_queue(lambda d: epoch_ms(d.end))
    threshold = per_queue(lambda d: d.queue.service_level_seconds * 1000)
    answered = WaitRecord.outcome == WaitOutcome.ANSWERED
    waits = (
        select(
            WaitRecord.queue_name.label("queue"),
            ((WaitRecord.ended_ms - start) // step).label("bucket"),
            case((answered, 1), else_=0).label("answered"),
            case((answered & (WaitRecord.waited_ms <= threshold), 1), else_=0).label("within"),
            case((WaitRecord.outcome == WaitOutcome.ABANDONED, 1), else_=0).label("abandoned"),
        )
        .where(
            # the union of the days first (the index on ended_ms), then each queue's own
            WaitRecord.ended_ms >= min(epoch_ms(d.start) for d in days),
            WaitRecord.ended_ms < max(epoch_ms(d.end) for d in days),
            WaitRecord.queue_name.in_(list(names)),
            WaitRecord.outcome.in_([WaitOutcome.ANSWERED, WaitOutcome.ABANDONED]),
            WaitRecord.ended_ms >= start,
            WaitRecord.ended_ms < end,
        )
        .subquery()
    )
    # Grouped outside: PostgreSQL would not take a GROUP BY expression with bound values
    # as the same expression as the selected one.
    query = select(
        waits.c.queue,
        waits.c.bucket,
        func.sum(waits.c.answered),
        func.sum(waits.c.within),
        func.sum(waits.c.abandoned),
    ).group_by(waits.c.queue, waits.c.bucket)
    return [tuple(row) for row in session.execute(query)]


def service_level(session, days: list[Day]) -> None:
    """Fill the days' buckets from SQL (one query for all of them)."""
    if not days:
        return
    by_queue = {d.queue.name: d for d in days}
    for queue, index, answered, within, abandoned in counts(session, days):
        day = by_queue[queue]
        if 0 <= index < len(day.buckets):
            bucket = day.buckets[index]
            bucket.answered += int(answered or 0)
            bucket.answered_within += int(within or 0)
            bucket.abandoned += int(abandoned or 0)


def report(day: Day, target: float) -> dict[str, Any]:
    total = Bucket(day.start)
    for b in day.buckets:
        total.add(b)
    whole = total.to_dict(day.zone)
    del whole["start"]
    q = day.queue
    return {
        "queue": q.name,
        "display_name": q.display_name,
        "date": day.date.isoformat(),
        "time_zone": day.zone.key,
        "service_level_seconds": q.service_level_seconds,
        "target": target,
        "buckets": [b.to_dict(day.zone) for b in day.buckets],
        "total": whole,
    }


@bp.get("/acd/service-level")
@require_role(*LEADS)
def service_level_view():
    """Per queue (or the one ``queue``), the day's buckets: ``?date=YYYY-MM-DD`` (today in
    each queue's zone), ``&minutes=30|60``."""
    settings = need(Settings)
    minutes = _minutes(request.args.get("minutes"))
    queues = list(need(Router).queues().values())
    name = request.args.get("queue")
    if name is not None:
        queues = [q for q in queues if q.name == name[:64]]
        if not queues:
            raise NotFound(f"no queue {name[:64]!r}", field="queue")
    now = need(Clock).now()
    days = []
    for q in sorted(queues, key=lambda q: q.name):
        zone = ZoneInfo(q.time_zone or settings.default_time_zone)
        days.append(day_of(q, zone, _date(request.args.get("date"), zone, now), minutes))
    with need(Database).read_session_factory() as session:
        service_level(session, days)
    target = service_level_target(settings)
    return {"bucket_minutes": minutes, "queues": [report(day, target) for day in days]}
