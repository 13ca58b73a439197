"""The application factory, the ``callcenter`` command and the job bootstrap.

``create_app`` reads the settings once (crm_core.settings: defaults → environment → the
``config`` argument), builds every dependency once (database, Redis, rq queues, clock,
carrier, router…), files each under its type for ``need(...)`` and registers the
blueprints. Nothing runs at import time; ``gunicorn "app:create_app()"`` serves it.

``cli`` is the ``callcenter`` command: the app's own commands (db, users, worker, routes,
shell) and each package's group from its ``cli.py`` (PACKAGE_COMMANDS), every command run
inside the app's context. ``Worker`` runs every package's rq jobs inside it too.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
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
    from crm_core.privacy import ErasureHooks
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
    erasure_hooks: ErasureHooks  # what each package removes when a customer is erased
    router: Router | None = None  # the ACD (routing.service), built from the above
    dispatcher: Dispatcher | None = None  # carries the router's decisions out on the carrier
    scripts: Library | None = None  # the call-script library (scripts/), reloaded on change
    holidays: HolidayCache | None = None  # holidays near a day, re-read every few seconds
    provides: dict[type, Any] = field(default_factory=dict)  # type → instance (need())
    pid: int = field(default_factory=os.getpid)  # the process that built it (after_fork)

    def get(self, kind: type) -> Any:
        """The instance filed under ``kind`` (telephony.context.need)."""
        try:
            return self.provides[kind]
        except KeyError:
            raise LookupError(f"the app provides no {kind.__name__}") from None

    def use_carrier(self, carrier: Carrier) -> None:
        """Talk to the carrier through ``carrier`` from now on (the development server's
        real port, a forked job's own connections)."""
        from telephony.carrier import Carrier

        self.carrier = carrier
        self.provides[Carrier] = carrier
        if self.dispatcher is not None:
            self.dispatcher.carrier = carrier

    def after_fork(self) -> None:
        """In a process forked from the one that built the bag (rq's work horse): a carrier
        of its own, instead of sharing the parent's pooled HTTP connections."""
        if self.pid == os.getpid():
            return
        from telephony.twilio_carrier import TwilioCarrier

        self.pid = os.getpid()
        self.use_carrier(TwilioCarrier.from_config(self.settings.as_config()))

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


def __getattr__(name: str) -> Any:
    """``SETTINGS`` (every setting's environment variable) and ``Worker`` (the job
    bootstrap), made on first use: the command starts without importing pydantic or rq."""
    if name == "SETTINGS":
        from crm_core.settings import Settings

        return frozenset(field.upper() for field in Settings.names())
    if name == "Worker":  # ``rq worker -w app.Worker``
        return _worker_class()
    raise AttributeError(name)


def build_deps(settings: Settings, instance_path: str, clock: Clock | None = None) -> Deps:
    """Every collaborator, built once from the settings and filed under its type."""
    import redis as redis_module
    from rq import Queue

    from crm_core.clock import Clock, SystemClock
    from crm_core.db import Database
    from crm_core.drafts import outcome_pending
    from crm_core.hours import HolidayCache
    from crm_core.privacy import ErasureHooks
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
        erasure_hooks=ErasureHooks([erase_texts]),
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
            ErasureHooks: deps.erasure_hooks,
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
    """The app. ``config``: settings by their upper-case names (over the environment's),
    Flask's own keys, and for tests ``INSTANCE_PATH`` and ``CLOCK``."""
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

# ---------------------------------------------------------------- the callcenter command

# Each package's commands (its cli.py), imported only when used: ``callcenter --help`` lists
# them from here and imports click alone. name → (where, the line the command list shows).
PACKAGE_COMMANDS = {
    "agents": ("routing.cli:agents", "Agents and supervisors who take calls, and their skills."),
    "demo": ("console.cli:demo", "Try the call center on this machine: set up a demo dealership."),
    "holidays": ("routing.cli:holidays", "Days the queues are closed, or open for special hours."),
    "queues": ("routing.cli:queues", "Call queues: the skills they need, how the agent is picked."),
    "recordings": ("recording.cli:recordings", "Call recordings: list, retention, legal hold."),
    "run": ("console.cli:run_command", "Run the web server and the background worker together."),
    "scripts": ("scripts.cli:scripts_group", "Call scripts: the greeting and menu, the pitch."),
    "simulator": ("telephony.cli:simulator", "Run the simulated phone carrier on its own."),
    "ticker": ("routing.cli:ticker", "Run only the queues' timer."),
    "tokens": ("console.cli:tokens", "API tokens, which let other systems use the API."),
}


class _Commands(click.Group):
    """The ``callcenter`` command: its own commands below and each package's group, every
    one run inside the app's context (``_in_app``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *PACKAGE_COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in PACKAGE_COMMANDS:
            module, _, attr = PACKAGE_COMMANDS[name][0].partition(":")
            self.add_command(getattr(importlib.import_module(module), attr), name)
        command = self.commands.get(name)
        return _in_app(command) if command is not None else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list, without importing the packages whose commands are not loaded."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names))
        rows = []
        for name in names:
            if name in self.commands:
                rows.append((name, self.commands[name].get_short_help_str(limit)))
            else:
                rows.append((name, PACKAGE_COMMANDS[name][1]))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _in_app(command: click.Command) -> click.Command:
    """Make ``command`` (a group: each of its commands) run inside the app's context."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _in_app(sub)
    elif command.callback is not None and not hasattr(command.callback, "in_app"):
        command.callback = _with_app(command.callback)
    return command


def _with_app(fn):
    """Run the command inside the app's context, building the app only now: ``--help`` and
    mistyped options never connect to the database or Redis. The test runner hands in its
    own app (Flask's ScriptInfo), as ``flask.cli.with_appcontext`` would take it. A domain
    error becomes a one-line message naming the field, exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from flask import current_app
        from flask.cli import ScriptInfo

        from crm_core.errors import CallCenterError

        if not current_app:
            ctx = click.get_current_context()
            info = ctx.find_object(ScriptInfo)
            if info is None:
                info = ScriptInfo(create_app=create_app, set_debug_flag=False)
            ctx.with_resource(info.load_app().app_context())
        try:
            return fn(*args, **kwargs)
        except CallCenterError as exc:
            where = f" [{exc.field}]" if exc.field else ""
            raise click.ClickException(f"{exc.message}{where}") from None
        except Exception as exc:
            if _no_schema(exc):
                raise click.ClickException(
                    "the database has no tables yet: run callcenter db upgrade first"
                ) from None
            raise

    wrapper.in_app = True
    return wrapper


def _no_schema(exc: Exception) -> bool:
    """A new installation's database, before ``db upgrade`` (SQLite or PostgreSQL)."""
    from sqlalchemy.exc import DBAPIError

    if not isinstance(exc, DBAPIError):
        return False
    return "no such table" in str(exc.orig) or getattr(exc.orig, "sqlstate", "") == "42P01"


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
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
    from crm_core.db import Database
    from crm_core.settings import Settings
    from migrations import upgrade
    from telephony.context import need

    upgrade(need(Settings).database_url, revision)
    url = need(Database).engine.url.render_as_string(hide_password=True)
    click.echo(f"database at {url}: {revision}")


@db.command("current")
def db_current() -> None:
    """Show which schema version the database is at."""
    from crm_core.db import Database
    from migrations import current
    from telephony.context import need

    click.echo(current(need(Database).engine) or "empty (run: callcenter db upgrade)")


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
def users_add(username, role, skills, display_name, password) -> None:
    """Create a user who can log in to the console."""
    from crm_core.audit import CLI
    from crm_core.clock import Clock
    from crm_core.db import Database
    from crm_core.schemas import UserIn, parse
    from crm_core.users import create_user
    from telephony.context import need

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
    with need(Database).session_factory.begin() as session:
        user = create_user(session, data, need(Clock), actor=CLI)
        click.echo(
            f"user {user.username} ({user.role.value}) created, id {user.id}, "
            f"softphone client:{user.softphone_identity}"
        )


@users.command("list")
def users_list() -> None:
    """List every user with role and skills; deactivated users are marked."""
    from sqlalchemy import select

    from crm_core.db import Database
    from crm_core.models import User
    from telephony.context import need

    with need(Database).session_factory() as session:
        for u in session.scalars(select(User).order_by(User.username)):
            skills = ",".join(f"{k}:{v}" for k, v in sorted(u.skills.items())) or "-"
            state = "" if u.active else " (deactivated)"
            click.echo(f"{u.id:>4}  {u.username:<20} {u.role.value:<10} {skills}{state}")


@users.command("set-password")
@click.argument("username")
@click.password_option(help="Asked for (twice) when not given")
def users_set_password(username: str, password: str) -> None:
    """Give USERNAME a new password of 8 to 256 characters; the old one stops working."""
    from crm_core.audit import CLI
    from crm_core.clock import Clock
    from crm_core.db import Database
    from crm_core.users import change_password
    from telephony.context import need

    with need(Database).session_factory.begin() as session:
        user = change_password(session, need(Clock), username, password, actor=CLI)
        click.echo(f"password of {user.username} changed")


@users.command("deactivate")
@click.argument("username")
def users_deactivate(username: str) -> None:
    """Stop USERNAME from logging in and their API tokens from working, and take them
    out of the call queues. Reactivating restores both."""
    from crm_core.audit import CLI
    from crm_core.clock import Clock
    from crm_core.db import Database
    from crm_core.users import set_active
    from routing.cli import take_offline
    from telephony.context import need

    with need(Database).session_factory.begin() as session:
        user, changed = set_active(session, need(Clock), username, False, actor=CLI)
        user_id, name = user.id, user.username
    click.echo(f"{name} deactivated" if changed else f"{name} was already deactivated")
    busy = take_offline(user_id)
    if busy:
        click.echo(
            f"{name} is on a call now: it goes on, and they stay in the call queues until it "
            f"ends; run this command again after the call to take them out"
        )


@users.command("reactivate")
@click.argument("username")
def users_reactivate(username: str) -> None:
    """Let USERNAME log in again; their API tokens work again. They start offline."""
    from crm_core.audit import CLI
    from crm_core.clock import Clock
    from crm_core.db import Database
    from crm_core.users import set_active
    from telephony.context import need

    with need(Database).session_factory.begin() as session:
        user, changed = set_active(session, need(Clock), username, True, actor=CLI)
        click.echo(f"{user.username} reactivated" if changed else f"{user.username} is active")


@users.command("set")
@click.argument("username")
@click.option("--role", help="agent, supervisor or admin")
@click.option("--skills", help="Skills and levels 1-10, e.g. sales:8,spanish:5 (none: clear)")
@click.option("--name", "display_name", help="Display name")
def users_set(
    username: str, role: str | None, skills: str | None, display_name: str | None
) -> None:
    """Change USERNAME's role, skills or display name; only the options given change.
    New skills reach the call queues when the agent next sets their status."""
    from crm_core.audit import CLI
    from crm_core.clock import Clock
    from crm_core.db import Database
    from crm_core.users import update_user
    from telephony.context import need

    if role is None and skills is None and display_name is None:
        raise click.UsageError("give at least one of --role, --skills or --name")
    with need(Database).session_factory.begin() as session:
        user, changes = update_user(
            session,
            need(Clock),
            username,
            actor=CLI,
            role=role,
            skills=("" if skills is not None and skills.strip() == "none" else skills),
            display_name=display_name,
        )
        skills_text = ",".join(f"{k}:{v}" for k, v in sorted(user.skills.items())) or "-"
        line = f"{user.username} ({user.display_name}): {user.role.value}, skills {skills_text}"
        click.echo(line if changes else f"nothing changed: {line}")


# The rq worker's timing. A job whose worker died (SIGKILL, the machine lost) stays
# "started" until its heartbeat lapses; a worker's registry cleanup then retries it (rq's
# StartedJobRegistry cleanup, AbandonedJobError). rq's own heartbeat outlives its worker by
# a minute and its cleanup runs every ten: a download cut short would wait that long.
WORKER_TTL = 25  # s: rq blocks on its queues for this less 15 s, then heartbeats and cleans
JOB_MONITORING_SECONDS = 5  # s between a running job's heartbeats
JOB_HEARTBEAT_GRACE = 15  # s a heartbeat may be late before the job counts as abandoned
MAINTENANCE_SECONDS = 5  # s: registry cleanup, at the worker's next wake-up after this


@functools.cache
def _worker_class() -> type:
    from rq import Worker as RqWorker

    class Worker(RqWorker):
        """The one job bootstrap: rq's worker, running every job — whichever package it
        comes from — inside the app's context, so that a job function asks ``need(...)``
        for what it uses (``need(Database)``, ``need(Carrier)``, ``need(Settings)``…) as a
        view does, and never builds an app. ``callcenter worker`` hands it the app it built;
        ``rq worker -w app.Worker`` builds one from the environment when it starts working
        (rq makes instances of its own too, to read a worker's state: those build none).

        rq runs each job in a work horse forked from the worker. The horse inherits the
        app: the database engines open connections of their own in a new process
        (crm_core.db), Redis's pool does too (redis-py checks the pid), and the carrier,
        whose pooled HTTP connections the worker's ACD ticker uses, is replaced by one of
        the horse's own (``Deps.after_fork``)."""

        def __init__(self, *args: Any, app: Flask | None = None, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.app = app

        def work(self, *args: Any, **kwargs: Any) -> bool:
            if self.app is None:  # ``rq worker -w app.Worker``: built before any fork
                self.app = create_app()
            return super().work(*args, **kwargs)

        def perform_job(self, job, queue, execution) -> bool:  # in the work horse
            from telephony.context import provided

            with self.app.app_context():
                provided(self.app.extensions).after_fork()
                return super().perform_job(job, queue, execution)

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

    Worker.__module__ = __name__
    return Worker


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
    from flask import current_app

    from routing.ticker import Ticker
    from telephony.context import provided

    logging.getLogger("rq.worker").addFilter(_quiet_cleanups)
    app = current_app._get_current_object()
    d = provided(app.extensions)
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
        _worker_class()(
            list(d.queues),  # by name: rq makes them on its own connection
            connection=connection,
            worker_ttl=WORKER_TTL,
            job_monitoring_interval=JOB_MONITORING_SECONDS,
            maintenance_interval=MAINTENANCE_SECONDS,
            app=app,
        ).work(burst=burst, with_scheduler=True)
    finally:
        if ticker is not None:
            ticker.stop()
        connection.connection_pool.disconnect()


if __name__ == "__main__":  # ``python -m app worker``: what ``run`` starts beside the server
    cli()
