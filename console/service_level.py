"""Service level over a day: ``GET /api/acd/service-level``, what the wallboard's chart draws.

Service level is the share of callers answered within the queue's threshold
(``service_level_seconds``) among those answered or abandoned, as the live tiles count it
(routing/snapshot.py). Here it is computed from SQL, so any past day can be read and a
restart of Redis loses nothing:

- an *answer* is an accepted offer (``routing_offers``, outcome ``accepted``): its
  ``outcome_at`` is the moment the agent took the call. The caller's wait is the one the
  router measured, written by the ticker to the announced estimates
  (``routing_wait_estimates.actual_wait_seconds``) at once, or to the call's row
  (``calls.wait_seconds``) when the call ends. A caller answered at once never heard an
  estimate, so until their call ends only the call's age bounds their wait: within the
  threshold if even that bound is, otherwise counted once the call has ended (the chart
  refreshes when the stream says a call ended);
- an *abandon* is an announced estimate whose wait ended ``abandoned``; the moment is the
  wait's start (``announced_at - waited_seconds``) plus the whole wait. A caller who hung
  up while the first agent's phone rang heard no estimate, and SQL does not record them.

Each event falls in the bucket of the moment it happened (as the live counters do), so a
caller who waited across a bucket's edge counts once, where the wait ended. A queue's day
runs from midnight to midnight in the queue's time zone (``time_zone``, else
``DEFAULT_TIME_ZONE``), its buckets measured from that midnight in real time: a day when
the clocks change has 46 or 50 half hours, each labelled with its local start. ``date``
defaults to today in each queue's own zone. The threshold is the queue's current one.

Two bounded reads for any number of queues: the answers and the abandons of the union of
the queues' days (each caller one row, by an index on time), bucketed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, request
from sqlalchemy import and_, func, select

from console.api import LEADS
from console.auth import require_role
from console.pages import service_level_target
from crm_core.acd import OfferRecord, WaitEstimate
from crm_core.acd_schemas import OfferOutcome, WaitOutcome
from crm_core.errors import InvalidInput, NotFound
from crm_core.models import Call

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

    def bucket(self, at: datetime) -> Bucket | None:
        if not self.start <= at < self.end:
            return None
        return self.buckets[int((at - self.start) // self.step)]


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


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def answers(session, start: datetime, end: datetime, names: list[str]) -> list[tuple]:
    """(queue, answered at, wait in seconds or None, the call's start or None) for every
    accepted offer in [start, end)."""
    waits = (
        select(WaitEstimate.call_sid, func.max(WaitEstimate.actual_wait_seconds).label("wait"))
        .where(
            WaitEstimate.outcome == WaitOutcome.ANSWERED,
            WaitEstimate.announced_at >= start - timedelta(days=1),
            WaitEstimate.announced_at < end,
        )
        .group_by(WaitEstimate.call_sid)
        .subquery()
    )
    query = (
        select(
            OfferRecord.queue_name,
            OfferRecord.outcome_at,
            func.coalesce(waits.c.wait, Call.wait_seconds),
            Call.created_at,
        )
        .outerjoin(waits, waits.c.call_sid == OfferRecord.call_sid)
        .outerjoin(Call, Call.call_sid == OfferRecord.call_sid)
        .where(
            OfferRecord.outcome == OfferOutcome.ACCEPTED,
            OfferRecord.outcome_at >= start,
            OfferRecord.outcome_at < end,
            OfferRecord.queue_name.in_(names),
        )
    )
    return [tuple(row) for row in session.execute(query)]


def abandons(session, start: datetime, end: datetime, names: list[str]) -> list[tuple]:
    """(queue, abandoned at) for every caller whose wait ended abandoned in [start, end).
    A caller hears many estimates; the last one (its queue, its times) stands for them."""
    last = (
        select(WaitEstimate.call_sid, func.max(WaitEstimate.id).label("id"))
        .where(
            WaitEstimate.outcome == WaitOutcome.ABANDONED,
            # a wait is at most a day (MAX_WAIT), so earlier announcements cannot end today
            WaitEstimate.announced_at >= start - timedelta(days=1),
            WaitEstimate.announced_at < end,
        )
        .group_by(WaitEstimate.call_sid)
        .subquery()
    )
    query = select(
        WaitEstimate.queue_name,
        WaitEstimate.announced_at,
        WaitEstimate.waited_seconds,
        WaitEstimate.actual_wait_seconds,
    ).join(last, and_(WaitEstimate.id == last.c.id))
    out = []
    for queue, announced, waited, actual in session.execute(query):
        if queue in names:
            at = _aware(announced) + timedelta(seconds=(actual or 0) - (waited or 0))
            if start <= at < end:
                out.append((queue, at))
    return out


def service_level(session, days: list[Day]) -> None:
    """Fill the days' buckets from SQL (two reads for all of them)."""
    if not days:
        return
    start, end = min(d.start for d in days), max(d.end for d in days)
    by_queue = {d.queue.name: d for d in days}
    names = list(by_queue)
    for queue, at, wait, call_start in answers(session, start, end, names):
        day = by_queue[queue]
        bucket = day.bucket(_aware(at))
        if bucket is None:
            continue
        threshold = day.queue.service_level_seconds
        if wait is None and call_start is not None:
            bound = (_aware(at) - _aware(call_start)).total_seconds()
            if bound > threshold:
                continue  # answered, but how long they waited is known when the call ends
            wait = bound
        bucket.answered += 1
        if wait is not None and wait <= threshold:
            bucket.answered_within += 1
    for queue, at in abandons(session, start, end, names):
        bucket = by_queue[queue].bucket(at)
        if bucket is not None:
            bucket.abandoned += 1


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
    d = current_app.extensions["callcenter"]
    config = current_app.config
    minutes = _minutes(request.args.get("minutes"))
    queues = list(d.router.queues().values())
    name = request.args.get("queue")
    if name is not None:
        queues = [q for q in queues if q.name == name[:64]]
        if not queues:
            raise NotFound(f"no queue {name[:64]!r}", field="queue")
    now = d.clock.now()
    days = []
    for q in sorted(queues, key=lambda q: q.name):
        zone = ZoneInfo(q.time_zone or config["DEFAULT_TIME_ZONE"])
        days.append(day_of(q, zone, _date(request.args.get("date"), zone, now), minutes))
    with d.read_session_factory() as session:
        service_level(session, days)
    target = service_level_target(config)
    return {"bucket_minutes": minutes, "queues": [report(day, target) for day in days]}
