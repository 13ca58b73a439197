"""Business hours and holidays: when a queue answers.

A queue's ``hours`` map weekdays to opening intervals in its time zone (the installation's
``DEFAULT_TIME_ZONE`` when the queue names none): ``{"mon": [["09:00", "20:00"]], ...}``; a day
that is not there is closed; no hours at all means always open, holidays too (roadside
assistance). They
can be written as text too: ``"mon-fri 09:00-20:00; sat 09:00-18:00"``. A holiday closes a
day, for one queue or for all, or gives it special hours (``"10:00-14:00"``).
"""

from __future__ import annotations

import re
import threading
import time as monotonic_time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import JSON, Date, ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from crm_core.db import Base
from crm_core.errors import InvalidInput

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00"
_INTERVAL = re.compile(rf"^({_TIME})-({_TIME})$")
_DAYS = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun)(?:-(mon|tue|wed|thu|fri|sat|sun))?$")
LOOKAHEAD_DAYS = 14

Hours = dict[str, list[list[str]]]


class Holiday(Base):
    """A day a queue (or every queue, when ``queue_id`` is None) is closed, or has special
    ``hours`` (a list of ``["HH:MM", "HH:MM"]``)."""

    __tablename__ = "holidays"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(120))
    queue_id: Mapped[int | None] = mapped_column(
        ForeignKey("routing_queues.id", ondelete="CASCADE")
    )
    hours: Mapped[list[list[str]] | None] = mapped_column(JSON)

    __table_args__ = (Index("ix_holidays_day", "day"),)


def _intervals(text: str, field: str) -> list[list[str]]:
    out = []
    for part in re.split(r"[,\s]+", text.strip()):
        if not part:
            continue
        match = _INTERVAL.match(part)
        if match is None or match.group(1) >= match.group(2):
            raise InvalidInput(f"{part!r} is not an interval like 09:00-18:00", field=field)
        out.append([match.group(1), match.group(2)])
    return out


def parse_hours(value: Any, field: str = "hours") -> Hours:
    """Hours from a mapping (``{"mon": [["09:00", "18:00"]]}`` or ``{"mon": "09:00-18:00"}``)
    or from text (``"mon-fri 09:00-18:00; sat 09:00-13:00"``); ``{}`` is always open."""
    if value is None or value == "" or value == {}:
        return {}
    hours: Hours = {}
    if isinstance(value, str):
        for clause in value.split(";"):
            clause = clause.strip().lower()
            if not clause:
                continue
            days, _, times = clause.partition(" ")
            match = _DAYS.match(days)
            if match is None or not times.strip():
                raise InvalidInput(f"{clause!r} is not like 'mon-fri 09:00-18:00'", field=field)
            first = WEEKDAYS.index(match.group(1))
            last = WEEKDAYS.index(match.group(2) or match.group(1))
            if last < first:
                raise InvalidInput(f"{days!r}: the days run backwards", field=field)
            for day in WEEKDAYS[first : last + 1]:
                hours.setdefault(day, []).extend(_intervals(times, field))
    elif isinstance(value, Mapping):
        for day, intervals in value.items():
            if day not in WEEKDAYS:
                raise InvalidInput(f"{day!r} is not one of {', '.join(WEEKDAYS)}", field=field)
            if isinstance(intervals, str):
                hours[day] = _intervals(intervals, field)
            elif isinstance(intervals, list):
                hours[day] = _intervals(
                    " ".join(
                        f"{i[0]}-{i[1]}" if isinstance(i, list | tuple) and len(i) == 2 else "?"
                        for i in intervals
                    ),
                    field,
                )
            else:
                raise InvalidInput(f"{day}: give intervals like 09:00-18:00", field=field)
    else:
        raise InvalidInput("hours are text like 'mon-fri 09:00-18:00' or a mapping", field=field)
    return {day: sorted(hours[day]) for day in WEEKDAYS if hours.get(day)}


def parse_zone(value: str | None, field: str = "time_zone") -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise InvalidInput("time_zone is text, an IANA time zone", field=field)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"{value!r} is not an IANA time zone", field=field) from None
    return value


@dataclass(frozen=True)
class Openness:
    open: bool
    holiday: str | None = None  # the holiday's name, when one decides the day
    next_open: datetime | None = None  # when closed: the next opening (within two weeks)


def _at(day: date, hhmm: str, zone: ZoneInfo) -> datetime:
    if hhmm == "24:00":
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return datetime.combine(day, time.fromisoformat(hhmm), tzinfo=zone)


def is_open(
    hours: Hours,
    zone_name: str,
    at: datetime,
    holidays: Mapping[date, tuple[str, list[list[str]] | None]] | None = None,
) -> Openness:
    """Is the queue open at ``at``? ``holidays``: day → (name, special hours or None)."""
    if not hours:  # always open, holidays included: roadside assistance never closes
        return Openness(True)
    zone = ZoneInfo(zone_name)
    holidays = holidays or {}
    local = at.astimezone(zone)

    def day_intervals(day: date) -> tuple[list[list[str]] | None, str | None]:
        if day in holidays:
            name, special = holidays[day]
            return (special or []), name
        if not hours:
            return None, None  # always open
        return hours.get(WEEKDAYS[day.weekday()], []), None

    today, holiday = day_intervals(local.date())
    if today is None:
        return Openness(True)
    for start, end in today:
        if _at(local.date(), start, zone) <= local < _at(local.date(), end, zone):
            return Openness(True, holiday)
    for offset in range(LOOKAHEAD_DAYS + 1):
        day = local.date() + timedelta(days=offset)
        intervals, _ = day_intervals(day)
        if intervals is None:
            return Openness(False, holiday, datetime.combine(day, time(0), tzinfo=zone))
        for start, _end in intervals:
            opening = _at(day, start, zone)
            if opening > local:
                return Openness(False, holiday, opening)
    return Openness(False, holiday, None)


# ----------------------------------------------------------------------------- holidays


def add_holiday(
    session: Session,
    day: date,
    name: str,
    *,
    queue_id: int | None = None,
    hours: str | list[list[str]] | None = None,
) -> Holiday:
    """Close ``day`` (every queue, or one), or give it special ``hours`` ("10:00-14:00")."""
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise InvalidInput("a holiday needs a name (up to 120 characters)", field="name")
    special = None
    if hours:
        text = hours if isinstance(hours, str) else " ".join(f"{a}-{b}" for a, b in hours)
        special = _intervals(text, "hours")
    holiday = Holiday(day=day, name=name, queue_id=queue_id, hours=special)
    session.add(holiday)
    session.flush()
    return holiday


def list_holidays(session: Session, *, since: date | None = None) -> list[Holiday]:
    query = select(Holiday).order_by(Holiday.day, Holiday.id)
    if since is not None:
        query = query.where(Holiday.day >= since)
    return list(session.scalars(query))


def holidays_for(
    holidays: Iterable[Holiday], queue_id: int
) -> dict[date, tuple[str, list[list[str]] | None]]:
    """The days that concern one queue: its own holidays win over the all-queue ones."""
    days: dict[date, tuple[str, list[list[str]] | None]] = {}
    for h in sorted(holidays, key=lambda h: h.queue_id is not None):
        if h.queue_id is None or h.queue_id == queue_id:
            days[h.day] = (h.name, h.hours)
    return days


HOLIDAY_CACHE_SECONDS = 5.0


class HolidayCache:
    """The holidays near a day (the day before to two weeks after: what ``is_open`` looks
    at), read from SQL at most every ``ttl`` seconds of wall time, as the router caches
    queues: the auto-attendant asks on every call, an edit reaches every process within
    ``ttl``. Rows carry ``day``, ``name``, ``queue_id`` and ``hours`` (``holidays_for``)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        ttl: float = HOLIDAY_CACHE_SECONDS,
        monotonic: Callable[[], float] = monotonic_time.monotonic,
    ) -> None:
        self.session_factory, self.ttl, self.monotonic = session_factory, ttl, monotonic
        self._lock = threading.Lock()
        self._rows: list[Any] = []
        self._key: tuple[date, float] | None = None

    def __call__(self, day: date) -> list[Any]:
        key = self._key
        if key is None or key[0] != day or self.monotonic() - key[1] >= self.ttl:
            with self._lock:
                query = select(Holiday.day, Holiday.name, Holiday.queue_id, Holiday.hours).where(
                    Holiday.day >= day - timedelta(days=1),
                    Holiday.day <= day + timedelta(days=LOOKAHEAD_DAYS + 1),
                )
                with self.session_factory() as session:
                    self._rows = list(session.execute(query))
                self._key = (day, self.monotonic())
        return self._rows

    def invalidate(self) -> None:
        self._key = None
