"""The console's commands: ``tokens`` (API tokens for other systems), the work of ``users``
(whose options app.py declares), and ``run`` and
``demo``, the development server (console/serve.py) with, for the demo, a dealership's
users and queues. Registered by ``app.py``; each command runs inside the app's context and
asks ``need(...)`` for what it uses.
"""

from __future__ import annotations

import click
from flask import current_app

from console.serve import serve
from crm_core.clock import Clock
from crm_core.db import Database
from crm_core.settings import Settings
from telephony.context import need


@click.group()
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
def tokens_create(username: str, name: str, expires: str) -> None:
    """Create a token that acts as USERNAME. It is shown once, now (only a hash of it is
    kept); the other system sends it in the header "Authorization: Bearer TOKEN"."""
    from crm_core.audit import CLI
    from crm_core.users import create_token, get_by_username, parse_expiry

    clock = need(Clock)
    with need(Database).session_factory.begin() as session:
        user_id = get_by_username(session, username).id
        at = parse_expiry(expires, clock.now())
        _, token = create_token(session, user_id, name, clock, expires_at=at, actor=CLI)
    click.echo(token)


@tokens.command("list")
@click.option("--user", "username", help="Only the tokens acting as this user")
@click.option("--all", "include_revoked", is_flag=True, help="Also the revoked tokens")
def tokens_list(username: str | None, include_revoked: bool) -> None:
    """List the tokens, newest first: id, start of the token, what it is for, the user it
    acts as, when it was made and last used (to the minute), when it expires, and whether
    it works. Times are UTC."""
    from crm_core.users import get_by_username, list_tokens

    def at(value) -> str:
        return f"{value:%Y-%m-%d %H:%M}" if value is not None else "never"

    with need(Database).session_factory() as session:
        user_id = get_by_username(session, username).id if username else None
        views = list_tokens(session, user_id=user_id, include_revoked=include_revoked)
        now = need(Clock).now()
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
def tokens_revoke(token_id: int) -> None:
    """Stop token TOKEN_ID (the first column of "tokens list") working, at once. It stays
    in the list, marked revoked (with --all)."""
    from crm_core.audit import CLI
    from crm_core.users import revoke_token

    with need(Database).session_factory.begin() as session:
        row, changed = revoke_token(session, token_id, need(Clock), actor=CLI)
        name = row.name
    click.echo(f"token {token_id} ({name}) {'revoked' if changed else 'was already revoked'}")


# ------------------------------------------------------------------- users (declared in app.py)


def add_user(username: str, role: str, skills: str, display_name: str | None, password: str):
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
    with need(Database).session_factory.begin() as session:
        user = create_user(session, data, need(Clock), actor=CLI)
        click.echo(
            f"user {user.username} ({user.role.value}) created, id {user.id}, "
            f"softphone client:{user.softphone_identity}"
        )


def list_users() -> None:
    from sqlalchemy import select

    from crm_core.models import User

    with need(Database).session_factory() as session:
        for u in session.scalars(select(User).order_by(User.username)):
            skills = ",".join(f"{k}:{v}" for k, v in sorted(u.skills.items())) or "-"
            state = "" if u.active else " (deactivated)"
            click.echo(f"{u.id:>4}  {u.username:<20} {u.role.value:<10} {skills}{state}")


def set_password(username: str, password: str) -> None:
    from crm_core.audit import CLI
    from crm_core.users import change_password

    with need(Database).session_factory.begin() as session:
        user = change_password(session, need(Clock), username, password, actor=CLI)
        click.echo(f"password of {user.username} changed")


def set_user_active(username: str, active: bool) -> None:
    """Deactivating also takes the agent out of the call queues (unless on a call)."""
    from crm_core.audit import CLI
    from crm_core.users import set_active
    from routing.cli import take_offline

    with need(Database).session_factory.begin() as session:
        user, changed = set_active(session, need(Clock), username, active, actor=CLI)
        user_id, name = user.id, user.username
    if active:
        click.echo(f"{name} reactivated" if changed else f"{name} is active")
        return
    click.echo(f"{name} deactivated" if changed else f"{name} was already deactivated")
    if take_offline(user_id):
        click.echo(
            f"{name} is on a call now: it goes on, and they stay in the call queues until it "
            f"ends; run this command again after the call to take them out"
        )


def update_user(
    username: str, role: str | None, skills: str | None, display_name: str | None
) -> None:
    from crm_core.audit import CLI
    from crm_core.users import update_user as update

    with need(Database).session_factory.begin() as session:
        user, changes = update(
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


# ------------------------------------------------------------------- the development server


@click.command("run")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on")
def run_command(host: str, port: int) -> None:
    """Run the web server and the background worker together, for development and trying
    things out. In production run gunicorn and callcenter worker instead (see Production
    in the README). With no Twilio account set, the simulated phone carrier runs in it."""
    serve(host, port)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on")
@click.option("--no-serve", is_flag=True, help="Only prepare the data, do not start")
def demo(host: str, port: int, no_serve: bool) -> None:
    """Try the call center on this machine: set up a demo dealership with its users and
    queues, print the logins, and start the server (as run does)."""
    from console.demo import shutdown
    from crm_core.demo import DEMO_LOGINS, seed
    from migrations import upgrade

    upgrade(need(Settings).database_url, "head")
    with need(Database).session_factory.begin() as session:
        created = seed(session, need(Clock))
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
    app = current_app._get_current_object()
    app.config["DEMO_MODE"] = True  # the /demo/ pages answer (console/demo.py)
    try:
        serve(host, port)
    finally:
        shutdown(app)
