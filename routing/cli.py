"""The ACD's commands: ``queues`` (skills, strategy, timers, overflow, hours), ``holidays``
(days the queues close or keep special hours), ``agents`` (who takes calls, with which
skills) and ``ticker`` (the queues' timer on its own). Registered by ``app.py``; each
command runs inside the app's context and asks ``need(...)`` for what it uses.
"""

from __future__ import annotations

import contextlib
import re
import signal
import sys
from typing import Any

import click
from flask import current_app

from crm_core.acd_schemas import EmptyAction, QueueStrategy
from crm_core.clock import Clock
from crm_core.db import Database
from telephony.context import need, provided


@click.group()
def queues() -> None:
    """Call queues: the skills they need, how the agent is picked, how long a call rings,
    and what happens when callers wait too long or nobody can answer."""


def _queue_options(fn):
    """The options ``queues add`` and ``queues set`` share; only those given are used."""
    options = [
        click.option("--display-name", help="Name shown to people (default: NAME)"),
        click.option(
            "--skill",
            "skills",
            multiple=True,
            metavar="NAME:LEVEL",
            help="A required skill minimum, repeatable (--skill sales:1 --skill spanish:5); "
            "'none' clears them",
        ),
        click.option(
            "--strategy",
            type=click.Choice([s.value for s in QueueStrategy]),
            help="How the agent who gets the call is picked",
        ),
        click.option(
            "--offer-timeout",
            type=int,
            help="Seconds a call rings for an agent before it goes to the next (5-120)",
        ),
        click.option("--wrap-up", type=int, help="Seconds of wrap-up after a call (0-1800)"),
        click.option("--service-level", type=int, help="Target: answered within these seconds"),
        click.option(
            "--max-wait",
            metavar="SECONDS|none",
            help="Longest wait before the overflow (none: no limit)",
        ),
        click.option(
            "--overflow",
            metavar="voicemail|callback|queue:NAME|none",
            help="Where callers go after the longest wait",
        ),
        click.option(
            "--empty",
            type=click.Choice([a.value for a in EmptyAction]),
            help="What a caller gets when nobody who could take the call is logged in",
        ),
        click.option(
            "--escalate-after",
            metavar="SECONDS|none",
            help="Each time a caller has waited this long, the skill minimums drop (none: never)",
        ),
        click.option("--relax", type=int, help="Levels each skill minimum drops each time"),
        click.option("--ring-all-max", type=int, help="Most agents a ring-all call rings at once"),
        click.option("--hold-script", help="The call script callers hear while they wait"),
        click.option("--callback-attempts", type=int, help="Times a callback is tried"),
        click.option("--callback-retry-minutes", type=int, help="Minutes between attempts"),
        click.option(
            "--hours",
            metavar="'mon-fri 09:00-20:00; sat 09:00-18:00'|none",
            help="When the queue answers; none: always",
        ),
        click.option(
            "--time-zone",
            metavar="ZONE",
            help="Time zone of the hours, e.g. America/Chicago (default: DEFAULT_TIME_ZONE)",
        ),
        click.option(
            "--disposition-required/--no-disposition-required",
            default=None,
            help="Agents stay in wrap-up until the call's disposition is saved",
        ),
        click.option("--active/--inactive", default=None, help="Takes calls, or not"),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


_QUEUE_OPTIONS = {  # option → QueueIn field
    "display_name": "display_name",
    "strategy": "strategy",
    "offer_timeout": "offer_timeout_seconds",
    "wrap_up": "wrap_up_seconds",
    "service_level": "service_level_seconds",
    "empty": "empty_action",
    "relax": "escalation_relax_levels",
    "ring_all_max": "max_agents_ring_all",
    "hold_script": "hold_script",
    "callback_attempts": "callback_attempts",
    "callback_retry_minutes": "callback_retry_minutes",
    "time_zone": "time_zone",
    "disposition_required": "disposition_required",
    "active": "active",
}


def _queue_fields(options: dict[str, Any]) -> dict[str, Any]:
    data = {f: options[o] for o, f in _QUEUE_OPTIONS.items() if options[o] is not None}
    if options["skills"]:
        skills = ",".join(options["skills"])
        data["required_skills"] = {} if skills == "none" else skills
    for option, name in (
        ("max_wait", "max_wait_seconds"),
        ("escalate_after", "escalation_after_seconds"),
    ):
        raw = options[option]
        if raw is None:
            continue
        if raw != "none" and not re.fullmatch(r"[0-9]{1,6}", raw):
            from crm_core.errors import InvalidInput

            raise InvalidInput(f"{name} must be whole seconds or none", field=name)
        data[name] = None if raw == "none" else int(raw)
    if options["hours"] is not None:
        data["hours"] = "" if options["hours"] == "none" else options["hours"]
    if options["overflow"] is not None:
        action, _, target = options["overflow"].partition(":")
        data["overflow_action"] = None if action == "none" else action
        data["overflow_queue"] = target or None
    return data


def _queue_line(q) -> str:
    skills = ",".join(f"{k}:{v}" for k, v in sorted(q.required_skills.items())) or "-"
    overflow = q.overflow_action.value if q.overflow_action else "-"
    if q.overflow_queue:
        overflow += f":{q.overflow_queue}"
    wait = f"{q.max_wait_seconds}s" if q.max_wait_seconds else "no max wait"
    state = "" if q.active else " (inactive)"
    hours = "; ".join(f"{d} " + " ".join(f"{a}-{b}" for a, b in i) for d, i in q.hours.items())
    wrap = f"wrap {q.wrap_up_seconds}s"
    if q.disposition_required:
        wrap += " (disposition required)"
    return (
        f"{q.name:<16} {q.strategy.value:<16} {skills:<20} offer {q.offer_timeout_seconds}s "
        f"{wrap}  {wait} → {overflow}  empty: {q.empty_action.value}  "
        f"hours: {hours or 'always'}{' ' + q.time_zone if q.time_zone else ''}{state}"
    )


@queues.command("add")
@click.argument("name")
@_queue_options
def queues_add(name: str, **options) -> None:
    """Create the queue NAME (a lowercase slug such as sales or spanish-sales)."""
    from crm_core import acd
    from crm_core.schemas import parse

    data = parse(acd.QueueIn, {"name": name, **_queue_fields(options)})
    with need(Database).session_factory.begin() as session:
        click.echo(_queue_line(acd.queue_config(acd.create_queue(session, data, need(Clock)))))


@queues.command("set")
@click.argument("name")
@_queue_options
def queues_set(name: str, **options) -> None:
    """Change the queue NAME: only the options given change."""
    from crm_core import acd
    from crm_core.schemas import parse

    data = parse(acd.QueueUpdate, _queue_fields(options))
    with need(Database).session_factory.begin() as session:
        queue = acd.update_queue(session, name, data, need(Clock))
        click.echo(_queue_line(acd.queue_config(queue)))


@queues.command("list")
def queues_list() -> None:
    """List every queue with strategy, skills, timers, overflow, hours and what happens
    when nobody can answer."""
    from crm_core import acd

    with need(Database).session_factory() as session:
        for q in acd.list_queues(session):
            click.echo(_queue_line(acd.queue_config(q)))


@click.group()
def holidays() -> None:
    """Days the queues are closed, or open for special hours."""


@holidays.command("add")
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]), metavar="DAY")
@click.argument("name")
@click.option("--queue", help="Only this queue (default: every queue with business hours)")
@click.option("--hours", metavar="'10:00-14:00'", help="Open these hours instead of closed")
def holidays_add(day, name: str, queue: str | None, hours: str | None) -> None:
    """Close every queue that has business hours on DAY (written 2026-12-25), or open it
    for the --hours given only. NAME is what the holiday is called."""
    from crm_core import acd
    from crm_core.hours import add_holiday

    with need(Database).session_factory.begin() as session:
        queue_id = acd.get_queue(session, queue).id if queue else None
        add_holiday(session, day.date(), name, queue_id=queue_id, hours=hours)
    click.echo(f"{day.date()} {name}: {'open ' + hours if hours else 'closed'}")


@holidays.command("list")
def holidays_list() -> None:
    """List the holidays from today on."""
    from crm_core.acd import RoutingQueue
    from crm_core.hours import list_holidays

    with need(Database).session_factory() as session:
        for h in list_holidays(session, since=need(Clock).now().date()):
            queue = session.get(RoutingQueue, h.queue_id).name if h.queue_id else "every queue"
            special = " ".join(f"{a}-{b}" for a, b in h.hours) if h.hours else "closed"
            click.echo(f"{h.day}  {h.name:<30} {queue:<16} {special}")


@click.group()
def agents() -> None:
    """Agents and supervisors who take calls, and their skills."""


def _agent_line(a) -> str:
    skills = ",".join(f"{k}:{v}" for k, v in sorted(a.skills.items())) or "-"
    return (
        f"{a.id:>4}  {a.username:<20} {a.role.value:<10} {skills:<30} client:{a.softphone_identity}"
    )


@agents.command("list")
def agents_list() -> None:
    """List the active agents and supervisors with their skills and softphone name."""
    from crm_core import acd

    with need(Database).session_factory() as session:
        for agent in acd.list_agents(session):
            click.echo(_agent_line(agent))


@agents.command("skills")
@click.argument("username")
@click.argument("skills", nargs=-1, metavar="[SKILL:LEVEL]...")
@click.option("--clear", is_flag=True, help="Remove every skill")
def agents_skills(username: str, skills: tuple[str, ...], clear: bool) -> None:
    """Show USERNAME's skills, or replace them with the SKILL:LEVEL pairs given (1-10)."""
    from crm_core import acd
    from crm_core.users import get_by_username

    with need(Database).session_factory.begin() as session:
        user = get_by_username(session, username)
        if skills or clear:
            click.echo(_agent_line(acd.set_agent_skills(session, user.id, ",".join(skills))))
        else:
            click.echo(_agent_line(acd.AgentInfo.of(user)))


@click.command()
def ticker() -> None:
    """Run only the queues' timer: it moves a call on when nobody answers the ring, ends
    agents' wrap-up, lowers skill minimums for callers who wait long, sends callers past
    the longest wait to the overflow, places callbacks when due and saves the queues'
    history in the database. Any number may run."""
    from routing.ticker import Ticker

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    running = Ticker(provided(current_app.extensions))
    click.echo("ACD ticker running (Ctrl-C to stop)")
    with contextlib.suppress(KeyboardInterrupt):
        running.run()


def take_offline(user_id: int) -> bool:
    """Make the agent offline in the ACD (``users deactivate``); a call ringing for them
    goes to the next agent. True if they are on a call, which is not taken from them."""
    from crm_core.users import get_user
    from routing.config import profile
    from routing.errors import IllegalTransition
    from routing.model import AgentState
    from routing.offers import Dispatcher
    from routing.service import Router

    router, dispatcher = need(Router), need(Dispatcher)
    doc = router.agent(user_id) or {}
    if doc.get("state") in (None, AgentState.OFFLINE):
        return False
    if doc.get("state") == AgentState.BUSY:
        return True
    if doc.get("state") == AgentState.RESERVED and doc.get("offer"):
        entry = str(doc["offer"])[:64]
        outcome = router.release(user_id, entry, "withdrawn")
        dispatcher.stop_ringing(entry, user_id)
        dispatcher.run(outcome.actions)
    with need(Database).session_factory() as session:
        agent = profile(get_user(session, user_id))
    try:
        dispatcher.run(router.set_presence(agent, AgentState.OFFLINE).actions)
    except IllegalTransition:  # a call reached them meanwhile
        return True
    return False
