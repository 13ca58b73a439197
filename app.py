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
    if name == "Worker":  # ``rq worker -w app.Worker``: the job bootstrap, building its app
        from console.worker import worker_class

        return worker_class(create_app)
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
    from telephony.twiml import ScriptTexts

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
            ScriptTexts: deps.scripts,  # what telephony's safe answers need of the library
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
    "worker": ("console.worker:worker", "Run the background worker (jobs, and the queues' timer)."),
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


# Declared here, not in console/cli.py, so that ``callcenter users … --help`` imports none
# of the packages (tests/test_cli.py); the work is console's (console/cli.py).
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
    from console.cli import add_user

    add_user(username, role, skills, display_name, password)


@users.command("list")
def users_list() -> None:
    """List every user with role and skills; deactivated users are marked."""
    from console.cli import list_users

    list_users()


@users.command("set-password")
@click.argument("username")
@click.password_option(help="Asked for (twice) when not given")
def users_set_password(username: str, password: str) -> None:
    """Give USERNAME a new password of 8 to 256 characters; the old one stops working."""
    from console.cli import set_password

    set_password(username, password)


@users.command("deactivate")
@click.argument("username")
def users_deactivate(username: str) -> None:
    """Stop USERNAME from logging in and their API tokens from working, and take them
    out of the call queues. Reactivating restores both."""
    from console.cli import set_user_active

    set_user_active(username, False)


@users.command("reactivate")
@click.argument("username")
def users_reactivate(username: str) -> None:
    """Let USERNAME log in again; their API tokens work again. They start offline."""
    from console.cli import set_user_active

    set_user_active(username, True)


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
    from console.cli import update_user

    if role is None and skills is None and display_name is None:
        raise click.UsageError("give at least one of --role, --skills or --name")
    update_user(username, role, skills, display_name)


if __name__ == "__main__":  # ``python -m app worker``: what ``run`` starts beside the server
    cli()
