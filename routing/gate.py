"""May the router place this call now? The do-not-call list and the calling window.

A small gate for the callbacks the ACD places (callback-in-queue); the outbound dialer's
issue completes the rules (per-state windows, holidays, frequency caps). The window is the
federal one (47 CFR 64.1200(c)(1)): 8 a.m. to 9 p.m. at the called party's location, taken
from the number's time zone, or the center's when the number spans several.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from crm_core.customers import may_call
from crm_core.phones import time_zone_of

OPENS, CLOSES = time(8, 0), time(21, 0)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""  # "do_not_call" or "outside_calling_hours"
    not_before: datetime | None = None  # when the window opens again


def calling_window(phone: str, at: datetime, default_zone: str) -> Verdict:
    zone = ZoneInfo(time_zone_of(phone) or default_zone)
    local = at.astimezone(zone)
    if OPENS <= local.time() < CLOSES:
        return Verdict(True)
    day = local.date() if local.time() < OPENS else local.date() + timedelta(days=1)
    opens = datetime.combine(day, OPENS, tzinfo=zone)
    return Verdict(False, "outside_calling_hours", opens)


class Gate:
    def __init__(self, session_factory: sessionmaker[Session], default_zone: str) -> None:
        self.session_factory = session_factory
        self.default_zone = default_zone

    def __call__(self, phone: str, at: datetime) -> Verdict:
        with self.session_factory() as session:
            if not may_call(session, phone):
                return Verdict(False, "do_not_call")
        return calling_window(phone, at, self.default_zone)
