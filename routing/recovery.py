"""When Redis lost its data: notice it at once, rebuild the ACD from SQL and the carrier.

The router keeps an epoch key. A Redis restarted without its data (or flushed) no longer
has it. Every ticker looks for it on a timer of its own, every ``CHECK_SECONDS`` whatever
its sweep or drain is doing (routing/ticker.py); the first process to find it missing sets
a new one (SET NX: exactly one wins) and rebuilds, in this order:

* what the router wrote since the loss is drained into SQL (routing/ticker.py ``drain``),
  so that the recount below holds every wait that has ended;
* the callers still holding in the carrier's queues go back in line, each at the time it
  joined the queue (the carrier's ``date_enqueued``), in the queue named like the carrier's;
  a priority or skills the IVR gave it are not kept anywhere else and start over as normal;
* the calls bridged to an agent go back as connected, their agent busy on them: a Call row
  that has not ended, whose agent the row names (set when the agent's phone answers; else
  the agent who accepted its last offer, routing_offers), and whose conference the carrier
  has in progress. Their end then counts as any call's (the Call row's talk time, the
  agent's wrap-up). The agent's leg is not known again (the carrier is not asked for the
  conference's participants): the agent's in-call controls need the page to rejoin;
* today's counters the wallboard shows are recounted from SQL (routing_waits, calls): the
  durable truth, never the few seconds of counting Redis did since the loss; so are the
  agents' calls and talk of the day (their state stays offline, not heard from since:
  ``since`` is unset until their page posts);
* every other agent is offline (the agents' hash is gone), and a ``reannounce`` event asks
  every agent's page to post its presence again (console/static/agent.js), so nobody is
  double-booked: an agent comes back when the page says so, not before.

A web process that meets a missing epoch (``ensure``) rebuilds the same way, so a caller
arriving first after the loss is not routed against an empty router.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import func, select

from crm_core.acd_records import OfferRecord, WaitRecord, epoch_ms
from crm_core.acd_schemas import OfferOutcome, WaitOutcome
from crm_core.models import Call, CallStatus, User
from routing import lifecycle
from routing.config import profile
from routing.results import Reply
from routing.scripts import ms
from telephony.carrier import CarrierError

if TYPE_CHECKING:
    from sqlalchemy.orm import sessionmaker

    from routing.service import Router

log = logging.getLogger("callcenter.routing.recovery")
CHECK_SECONDS = 0.5  # how often a ticker looks for the epoch
LIVE = (CallStatus.QUEUED, CallStatus.INITIATED, CallStatus.RINGING, CallStatus.IN_PROGRESS)
CALL_HOURS = 12  # a call not ended that began longer ago than this is not looked at


class Parts(lifecycle.Parts, Protocol):
    """What a rebuild is done with: a lifecycle step's parts (the router, the carrier: who
    is holding, which calls are bridged; the Dispatcher: offers to make once callers are
    back; SQL: the durable truth, the router's stream records drained into it first) and
    the read sessions."""

    @property
    def read_session_factory(self) -> sessionmaker: ...


def epoch_lost(deps: Parts, *, consumer: str = "recovery") -> bool:
    """True once, in one process, when the epoch key is missing; that process rebuilds."""
    router = deps.router
    token = f"{router.clock.now().isoformat()} {uuid.uuid4().hex}"
    if not router.redis.set(router.keys.epoch, token, nx=True):
        return False
    log.info("no routing epoch in Redis (a first start, or Redis lost its data): %s", token)
    try:
        rebuild(deps, consumer=consumer)
    except Exception:
        # Half rebuilt (SQL or Redis failed under it): the next look, here or in another
        # process, does it again; what was put back already is skipped then.
        router.redis.delete(router.keys.epoch)
        raise
    return True


def epoch_set_at(deps: Parts) -> datetime | None:
    """When the current epoch was set (a first start or the last rebuild), or None: not set
    yet, or not readable. The epoch's value starts with that time (``epoch_lost``)."""
    raw = deps.router.redis.get(deps.router.keys.epoch)
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw.decode(errors="replace").split(" ", 1)[0])
    except (ValueError, TypeError):
        return None


def ensure(deps: Parts) -> bool:
    """The epoch is there (one EXISTS), else rebuilt now; for a web process about to route."""
    if deps.router.redis.exists(deps.router.keys.epoch):
        return False
    return epoch_lost(deps, consumer="web")


def rebuild(deps: Parts, *, consumer: str = "recovery") -> dict[str, int]:
    """Put the holding callers back in line and the bridged calls back with their agents,
    recount today's figures; returns how many of each."""
    from routing.ticker import drain  # the ticker imports this module

    try:
        drain(deps, consumer)
    except Exception:  # the recount below still comes from SQL
        log.exception("the router's records since the loss could not be drained")
    deps.router.queues()  # read now, not inside the reads below (their cache reads SQL)
    restored = {"callers": _callers(deps), "calls": _calls(deps)}
    restored["agents"] = _agents(deps)
    restored["counters"] = recount(deps)
    router = deps.router
    event = json.dumps(
        {
            "type": "reannounce",
            "restored": restored["callers"],
            "calls": restored["calls"],
            "at": ms(router.clock.now()),
        }
    )
    router.redis.xadd(router.keys.events, {"e": event}, maxlen=10_000, approximate=True)
    router.redis.publish(router.keys.events, event)
    log.log(
        logging.WARNING if restored["callers"] or restored["calls"] else logging.INFO,
        "routing state rebuilt: %d holding callers back in line, %d calls back with their "
        "agents, %d agents' day figures, %d counters from SQL; agents' pages asked to "
        "re-announce",
        restored["callers"],
        restored["calls"],
        restored["agents"],
        restored["counters"],
    )
    return restored


def _callers(deps: Parts) -> int:
    router = deps.router
    try:
        holding = deps.carrier.holding_callers()
    except CarrierError:
        log.exception("could not list the callers holding at the carrier; none restored")
        return 0
    queues = router.queues()
    restored = 0
    now = router.clock.now()
    for caller in sorted(holding, key=lambda c: c.enqueued_at or now):
        if caller.queue not in queues or router.entry(caller.call_sid) is not None:
            continue
        try:
            outcome = router.enqueue(
                caller.call_sid,
                caller.queue,
                call_sid=caller.call_sid,
                enqueued_at=caller.enqueued_at,
                empty_check=False,
            )
        except Exception:  # one caller that cannot go back must not keep the others out
            log.exception("holding caller CallSid=%s not restored", caller.call_sid)
            continue
        deps.dispatcher.run(outcome.actions)
        restored += 1
    return restored


def _calls(deps: Parts) -> int:
    """The calls SQL says an agent took and that have not ended, which the carrier still has
    in conference: connected again, their agent busy."""
    router = deps.router
    now_ms, day = router.now()
    restored = 0
    for entry, doc in _taken_calls(deps):  # read first: no session held over the carrier
        if router.entry(entry["id"]) is not None:
            continue
        try:
            conference = deps.carrier.find_conference(entry["call_sid"])
        except CarrierError:
            log.exception("conference of CallSid=%s not found; not restored", entry["call_sid"])
            continue
        if conference is None:
            continue  # not bridged (or over): its caller, if holding, came back above
        entry["conference"] = conference
        entry["answered"] = min(entry["answered"], now_ms)
        reply = router.scripts("restore_call", router.keys.core, [now_ms, entry, doc, day])
        if reply[0] is Reply.OK:
            restored += 1
            log.info("call CallSid=%s back with agent %s", entry["call_sid"], doc["id"])
        else:
            log.info("call CallSid=%s not restored: %s", entry["call_sid"], reply[1])
    return restored


def _taken_calls(deps: Parts) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(entry, agent profile) of each call an agent took that SQL has not seen end: no end
    time, no talk counted, begun within ``CALL_HOURS``."""
    router = deps.router
    now = router.clock.now()
    start, _ = _day(router)
    found = []
    with deps.read_session_factory() as session:
        calls = session.scalars(
            select(Call).where(
                Call.ended_at.is_(None),
                Call.talk_seconds.is_(None),
                Call.queue.is_not(None),
                Call.status.in_(LIVE),
                Call.created_at >= now - timedelta(hours=CALL_HOURS),
            )
        ).all()
        for call in calls:
            accepted = session.scalars(
                select(OfferRecord)
                .where(
                    OfferRecord.call_sid == call.call_sid,
                    OfferRecord.outcome == OfferOutcome.ACCEPTED,
                )
                .order_by(OfferRecord.outcome_at.desc(), OfferRecord.id.desc())
                .limit(1)
            ).first()
            agent_id = call.agent_id or (accepted.agent_id if accepted else None)
            user = session.get(User, agent_id) if agent_id is not None else None
            if user is None or not user.active:
                continue
            wait = session.scalars(
                select(WaitRecord)
                .where(
                    WaitRecord.call_sid == call.call_sid,
                    WaitRecord.outcome == WaitOutcome.ANSWERED,
                )
                .order_by(WaitRecord.id.desc())
                .limit(1)
            ).first()
            answered = _ms(
                (wait.ended_at if wait else None)
                or (accepted.outcome_at if accepted else None)
                or call.answered_at
                or now
            )
            calls_today, talk_today = session.execute(  # the calls over (talk counted)
                select(func.count(Call.id), func.coalesce(func.sum(Call.talk_seconds), 0)).where(
                    Call.agent_id == user.id,
                    Call.talk_seconds.is_not(None),
                    Call.created_at >= start,
                )
            ).one()
            entry = {
                "id": call.call_sid,
                "call_sid": call.call_sid,
                "queue": call.queue,
                "t0": _ms(wait.entered_at) if wait else answered,
                "qt": _ms(wait.entered_at) if wait else answered,
                "answered": answered,
                "kind": "call",
                "phone": call.from_number or False,
                "lang": call.language or "en-US",
            }
            doc = {
                **_profile(router, user),
                "calls": int(calls_today or 0),
                "talk": int(talk_today or 0),
            }
            found.append((entry, doc))
    return found


def _agents(deps: Parts) -> int:
    """Every agent who took calls today gets the day's calls and talk back (from SQL)."""
    router = deps.router
    now_ms, day = router.now()
    start, end = _day(router)
    with deps.read_session_factory() as session:
        rows = session.execute(
            select(User, func.count(Call.id), func.coalesce(func.sum(Call.talk_seconds), 0))
            .join(Call, Call.agent_id == User.id)
            .where(
                Call.talk_seconds.is_not(None),
                Call.created_at >= start,
                Call.created_at < end,
                User.active.is_(True),
            )
            .group_by(User.id)
        ).all()
        docs = [(_profile(router, user), int(n or 0), int(talk or 0)) for user, n, talk in rows]
    for doc, calls, talk in docs:
        router.scripts(
            "restore_agent",
            [router.keys.agents, router.keys.counts],
            [now_ms, {**doc, "calls": calls, "talk": talk}, day],
        )
    return len(docs)


def _profile(router: Router, user: User) -> dict[str, Any]:
    agent = profile(user)
    return {
        "id": agent.id,
        "identity": agent.identity,
        "name": agent.name,
        "skills": dict(agent.skills),
        "queues": [q.name for q in router.queues_of(agent.skills)],
    }


def recount(deps: Parts) -> int:
    """Today's counters (``stats``, what the wallboard's "today" shows) from SQL: the ended
    waits of today (routing_waits), the talk of today's calls, and the callers in the
    router now who have not been answered yet (entered, not ended). Returns how many."""
    router = deps.router
    _, day = router.now()
    start, end = _day(router)
    queues = router.queues()
    values: dict[str, int] = {}

    def add(field: str, value: Any) -> None:
        if value:
            values[field] = values.get(field, 0) + int(value)

    with deps.read_session_factory() as session:
        rows = session.execute(
            select(
                WaitRecord.queue_name,
                WaitRecord.outcome,
                WaitRecord.waited_ms,
            ).where(WaitRecord.ended_ms >= epoch_ms(start), WaitRecord.ended_ms < epoch_ms(end))
        ).all()
        for queue, outcome, waited in rows:
            add(f"{queue}|entered", 1)
            if outcome == WaitOutcome.ANSWERED:
                config = queues.get(queue)
                threshold = (config.service_level_seconds if config else 20) * 1000
                add(f"{queue}|answered", 1)
                add(f"{queue}|wait_ms", waited)
                add(f"{queue}|answered_in_sl", 1 if waited <= threshold else 0)
            elif outcome == WaitOutcome.ABANDONED:
                add(f"{queue}|abandoned", 1)
        talk = session.execute(
            select(Call.queue, func.sum(Call.talk_seconds))
            .where(Call.queue.is_not(None), Call.created_at >= start, Call.created_at < end)
            .group_by(Call.queue)
        ).all()
        for queue, seconds in talk:
            add(f"{queue}|talk_ms", (seconds or 0) * 1000)
    for raw in router.redis.hvals(router.keys.entries):
        entry = json.loads(raw)
        if entry.get("state") in ("waiting", "offered", "scheduled") and not entry.get("transfer"):
            add(f"{entry['queue']}|entered", 1)
    now_ms, _ = router.now()
    router.scripts("restore_stats", [router.keys.stats(day)], [now_ms, values])
    return len(values)


def _day(router: Router) -> tuple[datetime, datetime]:
    """Today in the router's zone, as UTC instants (half-open)."""
    local = router.clock.now().astimezone(router.zone)
    midnight = datetime.combine(local.date(), datetime.min.time(), router.zone)
    following = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), router.zone)
    return midnight.astimezone(UTC), following.astimezone(UTC)


def _ms(at: datetime) -> int:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return ms(at)
