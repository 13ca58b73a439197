"""The application factory and the ``callcenter`` command.

``create_app`` reads the configuration (defaults → environment → the ``config`` argument),
builds every dependency once (session factory, Redis, rq queues, clock) and registers the
blueprints. Nothing runs at import time; ``gunicorn "app:create_app()"`` serves it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

# Only what ``callcenter --help`` needs is imported here; everything else is imported where
# it is used (create_app, build_deps, each command), so the command starts quickly.
if TYPE_CHECKING:
    import redis
    from flask import Flask
    from rq import Queue
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import sessionmaker

    from crm_core.clock import Clock
    from crm_core.db import Database
    from crm_core.hours import HolidayCache
    from crm_core.settings import Settings
    from routing.offers import Dispatcher
    from routing.service import Router
    from scripts import Library
    from telephony.carrier import Carrier

log = logging.getLogger("callcenter")

QUEUE_NAMES = ("high", "default", "low")  # rq queues, worked in this order


@dataclass
class Deps:
    """What the app builds once and hands to views, jobs and commands (DESIGN.md rule 3)."""

    settings: Settings
    config: dict[str, Any]  # the settings by their upper-case names (Settings.as_config)
    database: Database
    engine: Engine
    read_engine: Engine  # GET requests: autocommit on PostgreSQL (crm_core.db.make_read_engine)
    session_factory: sessionmaker
    read_session_factory: sessionmaker
    redis: redis.Redis
    queues: dict[str, Queue]
    clock: Clock
    carrier: Carrier
    erasure_hooks: list[Any] = field(default_factory=list)
    router: Router | None = None  # the ACD (routing.service), built from the above
    dispatcher: Dispatcher | None = None  # carries the router's decisions out on the carrier
    scripts: Library | None = None  # the call-script library (scripts/), reloaded on change
    holidays: HolidayCache | None = None  # holidays near a day, re-read every few seconds
    provides: dict[type, Any] = field(default_factory=dict)  # type → instance (need())

    def get(self, kind: type) -> Any:
        """The instance filed under ``kind`` (telephony.context.need)."""
        try:
            return self.provides[kind]
        except KeyError:
            raise LookupError(f"the app provides no {kind.__name__}") from None

    def close(self) -> None:
        """Release pooled connections (tests and short-lived commands)."""
        self.carrier.close()
        self.database.close()
        self.redis.close()


def load_config(overrides: dict[str, Any] | None, instance_path: str) -> dict[str, Any]:
    """The settings (crm_core.settings) by their upper-case names, as Flask's config has
    them: defaults → environment → ``overrides``."""
    return _load_settings(overrides, instance_path).as_config()


def _load_settings(overrides: dict[str, Any] | None, instance_path: str) -> Settings:
    from crm_core.settings import Settings

    settings = Settings.load(overrides, instance_path)
    if not settings.twilio_verify_signatures:
        log.warning("TWILIO_VERIFY_SIGNATURES is off: anyone can post to /twilio/*")
    return settings


def _instance_secret(instance_path: str) -> str:
    from crm_core.settings import instance_secret

    return instance_secret(instance_path)


def __getattr__(name: str) -> Any:
    """``SETTINGS``: every setting's environment variable, made on first use (the command
    starts without importing pydantic)."""
    if name == "SETTINGS":
        from crm_core.settings import Settings

        return frozenset(field.upper() for field in Settings.names())
    raise AttributeError(name)


def build_deps(settings: Settings, instance_path: str, clock: Clock | None = None) -> Deps:
    import redis as redis_module
    from rq import Queue

    from crm_core.clock import Clock, SystemClock
    from crm_core.db import Database
    from crm_core.drafts import outcome_pending
    from crm_core.hours import HolidayCache
    from crm_core.settings import Mirrored, Settings
    from routing.config import QueueCache
    from routing.connection import connect
    from routing.gate import Gate
    from routing.lifecycle import record_wrap
    from routing.offers import Dispatcher
    from routing.service import Router
    from scripts import Library
    from telephony.carrier import DEMO_NUMBER, Carrier
    from telephony.messaging import erase_texts
    from telephony.twilio_carrier import TwilioCarrier

    config = Mirrored(settings.as_config())
    config.attach(settings)
    database = Database.connect(settings.database_url)
    connection = connect(settings.redis_url, instance_path)
    deps = Deps(
        settings=settings,
        config=config,
        database=database,
        engine=database.engine,
        read_engine=database.read_engine,
        session_factory=database.session_factory,
        read_session_factory=database.read_session_factory,
        redis=connection,
        queues={name: Queue(name, connection=connection) for name in QUEUE_NAMES},
        clock=clock or SystemClock(),
        carrier=TwilioCarrier.from_config(config),
        erasure_hooks=[erase_texts],
    )
    deps.scripts = Library(settings.scripts_dir, deps.clock)
    deps.holidays = HolidayCache(deps.read_session_factory)
    deps.router = Router(
        connection,
        deps.clock,
        QueueCache(deps.session_factory),
        time_zone=settings.default_time_zone,
        outcome_pending=functools.partial(outcome_pending, deps.session_factory),
    )
    deps.dispatcher = Dispatcher(
        deps.router,
        deps.carrier,
        base_url=settings.public_base_url,
        caller_id=settings.twilio_caller_id or DEMO_NUMBER,
        gate=Gate(deps.session_factory, settings.default_time_zone),
        on_wrapped=functools.partial(record_wrap, deps.session_factory, deps.clock),
    )
    deps.provides.update(
        {
            Settings: settings,
            Database: database,
            Clock: deps.clock,
            redis_module.Redis: deps.redis,
            Carrier: deps.carrier,
            Router: deps.router,
            Dispatcher: deps.dispatcher,
            Library: deps.scripts,
            HolidayCache: deps.holidays,
        }
    )
    return deps


@functools.cache
def _flask_class() -> type[Flask]:
    """Flask, with a config whose writes of a setting reach the typed settings too."""
    from flask import Config, Flask

    from crm_core.settings import Mirrored

    class MirroredConfig(Mirrored, Config):
        pass

    class App(Flask):
        config_class = MirroredConfig

    return App


def create_app(config: dict[str, Any] | None = None) -> Flask:
    config = dict(config or {})
    instance_path = config.pop("INSTANCE_PATH", None) or os.environ.get("INSTANCE_PATH")
    clock = config.pop("CLOCK", None)
    from telephony.context import EXTENSION

    app = _flask_class()(__name__, instance_path=instance_path, instance_relative_config=True)
    settings = _load_settings(config, app.instance_path)
    app.config.update(settings.as_config())
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_base_url.startswith("https://"),
        WTF_CSRF_CHECK_DEFAULT=False,  # checked in console.auth, where Bearer calls are exempt
        MAX_CONTENT_LENGTH=1024 * 1024,
    )
    # Flask's own keys and the app's switches (TESTING, WTF_*, DEMO_MODE...): not settings.
    app.config.update({k: v for k, v in config.items() if k.lower() not in settings.names()})
    app.config.attach(settings)  # from now on a setting written here reaches the settings
    app.extensions[EXTENSION] = build_deps(settings, app.instance_path, clock)

    from console import init_console
    from console.guards import init_guards
    from console.security import init_security
    from console.tokens import bp as tokens_bp
    from ivr.views import bp as ivr_bp
    from recording import init_recording
    from routing.views import bp as routing_bp
    from telephony.views import bp as telephony_bp

    init_guards(app)  # first: the int converter and the request checks every route gets
    init_console(app)
    app.register_blueprint(telephony_bp)
    app.register_blueprint(ivr_bp)
    app.register_blueprint(routing_bp)
    init_recording(app)
    app.register_blueprint(tokens_bp)  # /api/tokens and /admin/tokens, for admins
    init_security(app)  # the browser's defences (CSP, framing, HSTS) on every answer
    return app


# ---------------------------------------------------------------- the callcenter command


def _with_app(fn):
    """Run the command inside the app's context, building the app only now: ``--help`` and
    mistyped options never connect to the database or Redis. The test runner hands in its
    own app (Flask's ScriptInfo), as ``flask.cli.with_appcontext`` would take it."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from flask import current_app
        from flask.cli import ScriptInfo

        if not current_app:
            ctx = click.get_current_context()
            info = ctx.find_object(ScriptInfo)
            if info is None:
                info = ScriptInfo(create_app=create_app, set_debug_flag=False)
            ctx.with_resource(info.load_app().app_context())
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if _no_schema(exc):
                raise click.ClickException(
                    "the database has no tables yet: run callcenter db upgrade first"
                ) from None
            raise

    return wrapper


def _no_schema(exc: Exception) -> bool:
    """A new installation's database, before ``db upgrade`` (SQLite or PostgreSQL)."""
    from sqlalchemy.exc import DBAPIError

    if not isinstance(exc, DBAPIError):
        return False
    return "no such table" in str(exc.orig) or getattr(exc.orig, "sqlstate", "") == "42P01"


class CommandGroup(click.Group):
    """A click group whose commands (and subgroups' commands) run with the app built."""

    def command(self, *args, **kwargs):
        def decorator(fn):
            return click.Group.command(self, *args, **kwargs)(_with_app(fn))

        return decorator

    def group(self, *args, **kwargs):
        kwargs.setdefault("cls", CommandGroup)
        return click.Group.group(self, *args, **kwargs)


class _LazyChoice(click.Choice):
    """A choice among an enum's values, read from its module only when first needed (a
    command's help or its use), not when the ``callcenter`` command starts."""

    def __init__(self, target: str) -> None:
        self._target = target
        self.case_sensitive = True

    @functools.cached_property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        module, _, name = self._target.partition(":")
        return tuple(m.value for m in getattr(importlib.import_module(module), name))


@click.group(cls=CommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Run and manage the call center: set up the database, add users and API tokens,
    configure queues, holidays and call scripts, and run the servers and the demo.

    Settings are read from environment variables (see the Configuration table in the
    README); with none set, everything runs on this machine with a local database and a
    simulated phone carrier.
    """


@cli.command("routes")
@click.option(
    "--sort",
    type=click.Choice(["endpoint", "methods", "domain", "rule", "match"]),
    default="endpoint",
    show_default=True,
    help="Order of the list",
)
@click.option("--all-methods", is_flag=True, help="Also show HEAD and OPTIONS")
def routes(sort: str, all_methods: bool) -> None:
    """List every web address the app answers, with its methods."""
    from flask.cli import routes_command

    click.get_current_context().invoke(routes_command, sort=sort, all_methods=all_methods)


@cli.command("shell")
def shell() -> None:
    """Open a Python prompt with the app loaded (for troubleshooting)."""
    from flask.cli import shell_command

    click.get_current_context().invoke(shell_command)


def _app() -> Flask:
    from flask import current_app

    return current_app._get_current_object()


def deps() -> Deps:
    return _app().extensions["callcenter"]


def _domain_errors() -> type[Exception]:
    from crm_core.errors import CallCenterError

    return CallCenterError


def _fail_clearly(fn):
    """Domain errors become a one-line message naming the field, exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except _domain_errors() as exc:
            where = f" [{exc.field}]" if exc.field else ""
            raise click.ClickException(f"{exc.message}{where}") from None

    return wrapper


@cli.group()
def db() -> None:
    """Set up the database, or bring it up to date after an upgrade."""


@db.command("upgrade")
@click.option(
    "--revision", default="head", help="The schema version to go to (default: the newest)"
)
def db_upgrade(revision: str) -> None:
    """Create the database tables, or bring them up to date, and load the built-in
    reference data. Safe to run again."""
    from migrations import upgrade

    url = deps().config["DATABASE_URL"]
    upgrade(url, revision)
    click.echo(f"database at {deps().engine.url.render_as_string(hide_password=True)}: {revision}")


@db.command("current")
def db_current() -> None:
    """Show which schema version the database is at."""
    from migrations import current

    click.echo(current(deps().engine) or "empty (run: callcenter db upgrade)")


@cli.group()
def users() -> None:
    """People who log in to the console: agents, supervisors and admins. Every change made
    here is written to the audit log."""


@users.command("add")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice(["agent", "supervisor", "admin"]),
    default="agent",
    show_default=True,
)
@click.option("--skills", default="", help="Skills and levels 1-10, e.g. sales:8,spanish:5")
@click.option("--name", "display_name", default=None, help="Display name (default: username)")
@click.password_option(help="Asked for (twice) when not given")
@_fail_clearly
def users_add(username, role, skills, display_name, password) -> None:
    """Create a user who can log in to the console."""
    from crm_core.audit import CLI
    from crm_core.schemas import UserIn, parse
    from crm_core.users import create_user

    data = parse(
        UserIn,
        {
            "username": username,
            "role": role,
            "skills": skills,
            "display_name": display_name,
            "password": password,
        },
    )
    d = deps()
    with d.session_factory.begin() as session:
        user = create_user(session, data, d.clock, actor=CLI)
        click.echo(
            f"user {user.username} ({user.role.value}) created, id {user.id}, "
            f"softphone client:{user.softphone_identity}"
        )


@users.command("list")
def users_list() -> None:
    """List every user with role and skills; deactivated users are marked."""
    from sqlalchemy import select

    from crm_core.models import User

    with deps().session_factory() as session:
        for u in session.scalars(select(User).order_by(User.username)):
            skills = ",".join(f"{k}:{v}" for k, v in sorted(u.skills.items())) or "-"
            state = "" if u.active else " (deactivated)"
            click.echo(f"{u.id:>4}  {u.username:<20} {u.role.value:<10} {skills}{state}")


@users.command("set-password")
@click.argument("username")
@click.password_option(help="Asked for (twice) when not given")
@_fail_clearly
def users_set_password(username: str, password: str) -> None:
    """Give USERNAME a new password of 8 to 256 characters; the old one stops working."""
    from crm_core.audit import CLI
    from crm_core.users import change_password

    d = deps()
    with d.session_factory.begin() as session:
        user = change_password(session, d.clock, username, password, actor=CLI)
        click.echo(f"password of {user.username} changed")


@users.command("deactivate")
@click.argument("username")
@_fail_clearly
def users_deactivate(username: str) -> None:
    """Stop USERNAME from logging in and their API tokens from working, and take them
    out of the call queues. Reactivating restores both."""
    from crm_core.audit import CLI
    from crm_core.users import set_active

    d = deps()
    with d.session_factory.begin() as session:
        user, changed = set_active(session, d.clock, username, False, actor=CLI)
        user_id, name = user.id, user.username
    click.echo(f"{name} deactivated" if changed else f"{name} was already deactivated")
    busy = _take_offline(d, user_id)
    if busy:
        click.echo(
            f"{name} is on a call now: it goes on, and they stay in the call queues until it "
            f"ends; run this command again after the call to take them out"
        )


def _take_offline(d: Deps, user_id: int) -> bool:
    """Make the agent offline in the ACD; a call ringing for them goes to the next agent.
    True if they are on a call, which is not taken from them."""
    from crm_core.users import get_user
    from routing.config import profile
    from routing.model import AgentState
    from routing.scripts import IllegalTransition

    doc = d.router.agent(user_id) or {}
    if doc.get("state") in (None, AgentState.OFFLINE):
        return False
    if doc.get("state") == AgentState.BUSY:
        return True
    if doc.get("state") == AgentState.RESERVED and doc.get("offer"):
        entry = str(doc["offer"])[:64]
        outcome = d.router.release(user_id, entry, "withdrawn")
        d.dispatcher.stop_ringing(entry, user_id)
        d.dispatcher.run(outcome.actions)
    with d.session_factory() as session:
        agent = profile(get_user(session, user_id))
    try:
        d.dispatcher.run(d.router.set_presence(agent, AgentState.OFFLINE).actions)
    except IllegalTransition:  # a call reached them meanwhile
        return True
    return False


@users.command("reactivate")
@click.argument("username")
@_fail_clearly
def users_reactivate(username: str) -> None:
    """Let USERNAME log in again; their API tokens work again. They start offline."""
    from crm_core.audit import CLI
    from crm_core.users import set_active

    d = deps()
    with d.session_factory.begin() as session:
        user, changed = set_active(session, d.clock, username, True, actor=CLI)
        click.echo(f"{user.username} reactivated" if changed else f"{user.username} is active")


@users.command("set")
@click.argument("username")
@click.option("--role", help="agent, supervisor or admin")
@click.option("--skills", help="Skills and levels 1-10, e.g. sales:8,spanish:5 (none: clear)")
@click.option("--name", "display_name", help="Display name")
@_fail_clearly
def users_set(
    username: str, role: str | None, skills: str | None, display_name: str | None
) -> None:
    """Change USERNAME's role, skills or display name; only the options given change.
    New skills reach the call queues when the agent next sets their status."""
    from crm_core.audit import CLI
    from crm_core.users import update_user

    if role is None and skills is None and display_name is None:
        raise click.UsageError("give at least one of --role, --skills or --name")
    d = deps()
    with d.session_factory.begin() as session:
        user, changes = update_user(
            session,
            d.clock,
            username,
            actor=CLI,
            role=role,
            skills=("" if skills is not None and skills.strip() == "none" else skills),
            display_name=display_name,
        )
        skills_text = ",".join(f"{k}:{v}" for k, v in sorted(user.skills.items())) or "-"
        line = f"{user.username} ({user.display_name}): {user.role.value}, skills {skills_text}"
        click.echo(line if changes else f"nothing changed: {line}")


@cli.group()
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
            type=_LazyChoice("crm_core.acd_schemas:QueueStrategy"),
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
            type=_LazyChoice("crm_core.acd_schemas:EmptyAction"),
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
@_fail_clearly
def queues_add(name: str, **options) -> None:
    """Create the queue NAME (a lowercase slug such as sales or spanish-sales)."""
    from crm_core import acd
    from crm_core.schemas import parse

    data = parse(acd.QueueIn, {"name": name, **_queue_fields(options)})
    d = deps()
    with d.session_factory.begin() as session:
        click.echo(_queue_line(acd.queue_config(acd.create_queue(session, data, d.clock))))


@queues.command("set")
@click.argument("name")
@_queue_options
@_fail_clearly
def queues_set(name: str, **options) -> None:
    """Change the queue NAME: only the options given change."""
    from crm_core import acd
    from crm_core.schemas import parse

    data = parse(acd.QueueUpdate, _queue_fields(options))
    d = deps()
    with d.session_factory.begin() as session:
        click.echo(_queue_line(acd.queue_config(acd.update_queue(session, name, data, d.clock))))


@queues.command("list")
def queues_list() -> None:
    """List every queue with strategy, skills, timers, overflow, hours and what happens
    when nobody can answer."""
    from crm_core import acd

    with deps().session_factory() as session:
        for q in acd.list_queues(session):
            click.echo(_queue_line(acd.queue_config(q)))


@cli.group()
def holidays() -> None:
    """Days the queues are closed, or open for special hours."""


@holidays.command("add")
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]), metavar="DAY")
@click.argument("name")
@click.option("--queue", help="Only this queue (default: every queue with business hours)")
@click.option("--hours", metavar="'10:00-14:00'", help="Open these hours instead of closed")
@_fail_clearly
def holidays_add(day, name: str, queue: str | None, hours: str | None) -> None:
    """Close every queue that has business hours on DAY (written 2026-12-25), or open it
    for the --hours given only. NAME is what the holiday is called."""
    from crm_core import acd
    from crm_core.hours import add_holiday

    d = deps()
    with d.session_factory.begin() as session:
        queue_id = acd.get_queue(session, queue).id if queue else None
        add_holiday(session, day.date(), name, queue_id=queue_id, hours=hours)
    click.echo(f"{day.date()} {name}: {'open ' + hours if hours else 'closed'}")


@holidays.command("list")
def holidays_list() -> None:
    """List the holidays from today on."""
    from crm_core.acd import RoutingQueue
    from crm_core.hours import list_holidays

    d = deps()
    with d.session_factory() as session:
        for h in list_holidays(session, since=d.clock.now().date()):
            queue = session.get(RoutingQueue, h.queue_id).name if h.queue_id else "every queue"
            special = " ".join(f"{a}-{b}" for a, b in h.hours) if h.hours else "closed"
            click.echo(f"{h.day}  {h.name:<30} {queue:<16} {special}")


@cli.group()
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

    with deps().session_factory() as session:
        for agent in acd.list_agents(session):
            click.echo(_agent_line(agent))


@agents.command("skills")
@click.argument("username")
@click.argument("skills", nargs=-1, metavar="[SKILL:LEVEL]...")
@click.option("--clear", is_flag=True, help="Remove every skill")
@_fail_clearly
def agents_skills(username: str, skills: tuple[str, ...], clear: bool) -> None:
    """Show USERNAME's skills, or replace them with the SKILL:LEVEL pairs given (1-10)."""
    from crm_core import acd
    from crm_core.users import get_by_username

    d = deps()
    with d.session_factory.begin() as session:
        user = get_by_username(session, username)
        if skills or clear:
            click.echo(_agent_line(acd.set_agent_skills(session, user.id, ",".join(skills))))
        else:
            click.echo(_agent_line(acd.AgentInfo.of(user)))


@cli.group("scripts")
def scripts_group() -> None:
    """Call scripts: the greeting and menu, what callers hear on hold, outbound scripts,
    the pitch, and the e-mail and text message templates."""


@scripts_group.command("check")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
def scripts_check(directory: str | None) -> None:
    """Check every call-script file in DIRECTORY (default: SCRIPTS_DIR, else the scripts
    that come with the software): one line per problem, as file:line: message, and exit
    status 1 if there is any."""
    from scripts import BUNDLED, check_dir

    directory = directory or _app().config["SCRIPTS_DIR"] or str(BUNDLED)
    found, problems = check_dir(directory)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        raise click.exceptions.Exit(1)
    click.echo(f"{len(found)} scripts OK in {directory}")


@scripts_group.command("list")
def scripts_list() -> None:
    """List the scripts in use: name, kind, version, languages and file; files with
    problems are listed after them."""
    library = deps().scripts
    for script in library.scripts():
        click.echo(
            f"{script.name:<20} {script.kind.value:<15} {script.version!s:<10} "
            f"{','.join(script.languages):<12} {script.path.name}"
        )
    for problem in library.errors:
        click.echo(f"problem: {problem}", err=True)


@cli.group()
def tokens() -> None:
    """API tokens, which let other systems (a dealer CRM, a lead source) use the API."""


@tokens.command("create")
@click.argument("username")
@click.option("--name", default="integration", show_default=True, help="What the token is for")
@click.option(
    "--expires",
    default="never",
    show_default=True,
    help="When it stops working: 90d, 30d, 12h, 2w, a date (2027-01-31, UTC) or never",
)
@_fail_clearly
def tokens_create(username: str, name: str, expires: str) -> None:
    """Create a token that acts as USERNAME. It is shown once, now (only a hash of it is
    kept); the other system sends it in the header "Authorization: Bearer TOKEN"."""
    from crm_core.audit import CLI
    from crm_core.users import create_token, get_by_username, parse_expiry

    d = deps()
    with d.session_factory.begin() as session:
        user_id = get_by_username(session, username).id
        at = parse_expiry(expires, d.clock.now())
        _, token = create_token(session, user_id, name, d.clock, expires_at=at, actor=CLI)
    click.echo(token)


@tokens.command("list")
@click.option("--user", "username", help="Only the tokens acting as this user")
@click.option("--all", "include_revoked", is_flag=True, help="Also the revoked tokens")
@_fail_clearly
def tokens_list(username: str | None, include_revoked: bool) -> None:
    """List the tokens, newest first: id, start of the token, what it is for, the user it
    acts as, when it was made and last used (to the minute), when it expires, and whether
    it works. Times are UTC."""
    from crm_core.users import get_by_username, list_tokens

    def at(value) -> str:
        return f"{value:%Y-%m-%d %H:%M}" if value is not None else "never"

    d = deps()
    with d.session_factory() as session:
        user_id = get_by_username(session, username).id if username else None
        views = list_tokens(session, user_id=user_id, include_revoked=include_revoked)
        now = d.clock.now()
        for v in views:
            t = v.row
            click.echo(
                f"{t.id:>5}  {t.prefix}…  {t.name[:30]:<30} {v.user.username:<16} "
                f"made {at(t.created_at)}  used {at(t.last_used_at)}  "
                f"expires {at(t.expires_at)}  {v.state(now)}"
            )
        if not views:
            click.echo("no tokens")


@tokens.command("revoke")
@click.argument("token_id", type=int)
@_fail_clearly
def tokens_revoke(token_id: int) -> None:
    """Stop token TOKEN_ID (the first column of "tokens list") working, at once. It stays
    in the list, marked revoked (with --all)."""
    from crm_core.audit import CLI
    from crm_core.users import revoke_token

    d = deps()
    with d.session_factory.begin() as session:
        row, changed = revoke_token(session, token_id, d.clock, actor=CLI)
        name = row.name
    click.echo(f"token {token_id} ({name}) {'revoked' if changed else 'was already revoked'}")


@cli.group()
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
    with deps().session_factory() as session:
        for r in session.scalars(query.limit(limit)):
            click.echo(_recording_line(r))


@recordings.command("purge")
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted")
@_fail_clearly
def recordings_purge(dry_run: bool) -> None:
    """Delete now the recordings older than RECORDING_RETENTION_DAYS days (except those
    on legal hold), as the daily job does, and finish deletions an earlier run left
    unfinished (files, the carrier's copies)."""
    from recording import retention

    d = deps()
    days = retention.retention_days(d.config)
    result = retention.purge(d, retention.storage_of(_app()), days, dry_run=dry_run)
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
@_fail_clearly
def recordings_hold(recording_id: int, reason: str) -> None:
    """Put a recording on legal hold: kept past retention and through erasure."""
    _set_hold(recording_id, True, reason)


@recordings.command("unhold")
@click.argument("recording_id", type=int)
@click.option("--reason", help="Why the hold ends")
@_fail_clearly
def recordings_unhold(recording_id: int, reason: str | None) -> None:
    """Lift a recording's legal hold (retention then applies to it again)."""
    _set_hold(recording_id, False, reason)


def _set_hold(recording_id: int, hold: bool, reason: str | None) -> None:
    from recording.retention import set_hold

    d = deps()
    with d.session_factory.begin() as session:
        r = set_hold(session, d.clock, recording_id, hold, reason, None)
        click.echo(_recording_line(r))


# The rq worker's timing. A job whose worker died (SIGKILL, the machine lost) stays
# "started" until its heartbeat lapses; a worker's registry cleanup then retries it (rq's
# StartedJobRegistry cleanup, AbandonedJobError). rq's own heartbeat outlives its worker by
# a minute and its cleanup runs every ten: a download cut short would wait that long.
WORKER_TTL = 25  # s: rq blocks on its queues for this less 15 s, then heartbeats and cleans
JOB_MONITORING_SECONDS = 5  # s between a running job's heartbeats
JOB_HEARTBEAT_GRACE = 15  # s a heartbeat may be late before the job counts as abandoned
MAINTENANCE_SECONDS = 5  # s: registry cleanup, at the worker's next wake-up after this


def _quiet_cleanups(record: logging.LogRecord) -> bool:
    """rq notes each cleanup at INFO: four lines every few seconds, nothing to act on."""
    return record.levelno > logging.INFO or "cleaning" not in str(record.msg)


@cli.command()
@click.option("--burst", is_flag=True, help="Do the jobs waiting now, then exit")
@click.option(
    "--no-ticker", is_flag=True, help="Without the timer (run callcenter ticker on its own)"
)
def worker(burst: bool, no_ticker: bool) -> None:
    """Run the background worker: it does the jobs the app queues (recording downloads,
    the daily clean-up...) and runs the queues' timer beside it (see ticker). A job cut
    short by a worker that died is taken up again by a running worker within a minute."""
    import redis
    from rq import Worker

    from routing.ticker import Ticker

    class _Worker(Worker):
        def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
            ttl = super().get_heartbeat_ttl(job, working_time) - 60  # rq adds a minute
            return max(ttl, 0) + JOB_HEARTBEAT_GRACE

        def subscribe(self) -> None:
            """rq's, with its command listener waking every second instead of every minute:
            stopping waits for the listener, which after the unsubscribe may sit out its
            whole wait (a worker that took a minute to stop, now and then)."""
            self.pubsub = self.connection.pubsub()
            self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
            self.pubsub_thread = self.pubsub.run_in_thread(
                sleep_time=1, daemon=True, exception_handler=self._pubsub_exception_handler
            )

    logging.getLogger("rq.worker").addFilter(_quiet_cleanups)
    d = deps()
    ticker = None if burst or no_ticker else Ticker(d).start()
    if not burst:  # the daily recording retention purge (recording/retention.py)
        from recording.retention import ensure_scheduled

        ensure_scheduled(d.queues["low"], d.clock.now())
    # rq's connections on a pool of their own: rq raises the socket timeout above its
    # blocking dequeue only for connections made after it starts, and a connection the
    # ticker made on the app's shorter timeout would time the dequeue out ("could not
    # connect to Redis ... Timeout reading", with back-off, while Redis is up).
    pool = d.redis.connection_pool
    connection = redis.Redis(
        connection_pool=type(pool)(connection_class=pool.connection_class, **pool.connection_kwargs)
    )
    try:
        _Worker(
            list(d.queues),  # by name: rq makes them on its own connection
            connection=connection,
            worker_ttl=WORKER_TTL,
            job_monitoring_interval=JOB_MONITORING_SECONDS,
            maintenance_interval=MAINTENANCE_SECONDS,
        ).work(burst=burst, with_scheduler=True)
    finally:
        if ticker is not None:
            ticker.stop()
        connection.connection_pool.disconnect()


@cli.command()
def ticker() -> None:
    """Run only the queues' timer: it moves a call on when nobody answers the ring, ends
    agents' wrap-up, lowers skill minimums for callers who wait long, sends callers past
    the longest wait to the overflow, places callbacks when due and saves the queues'
    history in the database. Any number may run."""
    from routing.ticker import Ticker

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    running = Ticker(deps())
    click.echo("ACD ticker running (Ctrl-C to stop)")
    with contextlib.suppress(KeyboardInterrupt):
        running.run()


@cli.command("run")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on")
def run_command(host: str, port: int) -> None:
    """Run the web server and the background worker together, for development and trying
    things out. In production run gunicorn and callcenter worker instead (see Production
    in the README). With no Twilio account set, the simulated phone carrier runs in it."""
    _serve(host, port)


WORKER_STOP_SECONDS = 20  # the worker's job in hand may finish; then it is stopped harder


def _serve(host: str, port: int) -> None:
    from werkzeug.serving import make_server

    app, d = _app(), deps()
    # Bound first, so --port 0 (any free port) works and the URLs below name the real port.
    server = make_server(host, port, app, threaded=True)
    if "PUBLIC_BASE_URL" not in os.environ:  # the default names port 5000: use the real one
        _set_public_url(app, d, f"http://{host}:{server.port}")
    wsgi, ticker = app, None
    if d.config["CARRIER"] == "simulator" and (
        d.config["TWILIO_API_BASE_URL"] == d.config["PUBLIC_BASE_URL"]
    ):
        from telephony.simulator import live
        from telephony.simulator.transport import WsgiAdapter, WsgiTransport

        sim = live.from_config(d.config)
        sim_wsgi = live.make_app(sim)
        # In one process, webhooks and the app's REST calls stay on the calling thread, as
        # in the tests: no sockets between the two halves of one process. (The simulator
        # lets go of its lock while a webhook is out, so over HTTP it works as well.)
        sim.transport = WsgiTransport(app)
        d.carrier.http.session.mount(d.config["TWILIO_API_BASE_URL"], WsgiAdapter(sim_wsgi))
        app.extensions["simulator"] = sim  # the demo's phone and traffic (console/demo.py)
        ticker = live.Ticker(sim).start()
        wsgi = live.mount(app, sim_wsgi)
        click.echo(
            f"  Local carrier simulator: call {', '.join(sim.numbers)} with POST "
            f"{d.config['PUBLIC_BASE_URL']}/simulator/calls, basic auth "
            f"{d.config['TWILIO_ACCOUNT_SID']}:{d.config['TWILIO_AUTH_TOKEN']}"
        )
    server.app = wsgi
    # The same installation, and the URL this server really has (the worker's ACD ticker
    # builds the agents' callback URLs and reaches the embedded simulator from it).
    env = dict(
        os.environ, INSTANCE_PATH=app.instance_path, PUBLIC_BASE_URL=d.config["PUBLIC_BASE_URL"]
    )
    stop = _Stop(server)
    # SIGTERM (systemd, docker, timeout) and Ctrl-C stop the worker first, while the server
    # still answers it, then the server; exit hooks then run (the embedded Redis stops with
    # its last client). A second signal stops the worker at once.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    stop.worker = subprocess.Popen([sys.executable, "-m", "app", "worker"], env=env)
    server.log_startup()
    click.echo("Press CTRL+C to quit")
    try:
        server.serve_forever()
    finally:
        _stop_worker(stop.worker)  # when the server ended otherwise (an error)
        if ticker is not None:
            ticker.stop()
        server.server_close()


class _Stop:
    """The signal handler of ``run``: starts the stop on a thread (a handler must not wait)
    and lets the server serve until the worker has finished: a job in hand may still call
    the app or the embedded simulator (a recording being downloaded)."""

    def __init__(self, server) -> None:
        self.server = server
        self.worker: subprocess.Popen | None = None
        self.started = False

    def __call__(self, signum, frame) -> None:
        if self.started:  # asked again: no more waiting for the worker's job
            if self.worker is not None and self.worker.poll() is None:
                self.worker.kill()
            return
        self.started = True
        import threading

        threading.Thread(target=self._stop, name="stop", daemon=True).start()

    def _stop(self) -> None:
        _stop_worker(self.worker)
        self.server.shutdown()  # serve_forever returns within its poll interval


def _stop_worker(worker: subprocess.Popen | None) -> None:
    """SIGTERM: rq's warm shutdown (the job in hand finishes); if it takes too long, a
    second SIGTERM (rq's cold shutdown: the job is stopped), and at last SIGKILL."""
    if worker is None:
        return
    for send, seconds in (
        (worker.terminate, WORKER_STOP_SECONDS),
        (worker.terminate, 5),
        (worker.kill, 30),
    ):
        if worker.poll() is not None:
            return
        send()
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(timeout=seconds)


def _set_public_url(app: Flask, d: Deps, url: str) -> None:
    embedded = d.config["TWILIO_API_BASE_URL"] == d.config["PUBLIC_BASE_URL"]
    for config in (app.config, d.config):
        config["PUBLIC_BASE_URL"] = url
        if embedded:
            config["TWILIO_API_BASE_URL"] = url
    from telephony.twilio_carrier import TwilioCarrier

    d.carrier.close()
    d.carrier = TwilioCarrier.from_config(d.config)
    d.dispatcher.carrier, d.dispatcher.base_url = d.carrier, url


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on")
@click.option("--port", default=5010, show_default=True, type=int, help="Port to listen on")
def simulator(host: str, port: int) -> None:
    """Run the simulated phone carrier on its own, to test without a Twilio account;
    point the app at it with TWILIO_API_BASE_URL."""
    from werkzeug.serving import run_simple

    from telephony.simulator import live

    config = dict(deps().config, TWILIO_API_BASE_URL=f"http://{host}:{port}")
    sim = live.from_config(config)
    ticker = live.Ticker(sim).start()
    click.echo(
        f"simulator on http://{host}:{port}; webhooks to {config['PUBLIC_BASE_URL']}; "
        f"numbers {', '.join(sim.numbers)}"
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        run_simple(host, port, live.make_app(sim), threaded=True)
    finally:
        ticker.stop()


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on")
@click.option("--no-serve", is_flag=True, help="Only prepare the data, do not start")
def demo(host: str, port: int, no_serve: bool) -> None:
    """Try the call center on this machine: set up a demo dealership with its users and
    queues, print the logins, and start the server (as run does)."""
    from console.demo import shutdown
    from crm_core.demo import DEMO_LOGINS, seed
    from migrations import upgrade

    d = deps()
    upgrade(d.config["DATABASE_URL"], "head")
    with d.session_factory.begin() as session:
        created = seed(session, d.clock)
    click.echo("demo data " + ("created" if created else "already there"))
    click.echo(f"\n  Open http://{host}:{port}/ and log in as:")
    for username, role, password in DEMO_LOGINS:
        click.echo(f"    {role:<11} {username:<8} password: {password}")
    click.echo(
        f"\n  Call in from the browser phone:  http://{host}:{port}/demo/phone"
        f"\n  Simulated callers and agents:    http://{host}:{port}/demo/traffic (sam or admin)"
    )
    click.echo("")
    if no_serve:
        return
    app = _app()
    app.config["DEMO_MODE"] = True  # the /demo/ pages answer (console/demo.py)
    try:
        _serve(host, port)
    finally:
        shutdown(app)


if __name__ == "__main__":  # ``python -m app worker``: what ``run`` starts beside the server
    cli()
