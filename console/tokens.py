"""API tokens for administrators: the JSON API and the page that uses it.

    GET    /api/tokens[?username=&revoked=1]     → {"tokens": [...]}, newest first
    POST   /api/tokens  {"username", "name", "expires"?: "90d" | "12h" | "2027-01-31" | null}
                                                 → 201 {"token": "cct_…", ...}: shown this once
    DELETE /api/tokens/<id>                      → the token, now revoked (again: unchanged)
    GET    /admin/tokens                         the page (static/tokens.js)

Only admins: a token acts as its user until it expires or is revoked, whatever happens to
that user's console sessions (a logout or a new password does not end it), so making one is
an administrator's act, like adding a user; each creation and revocation is audited with
the admin's name. The same operations are ``callcenter tokens create|list|revoke``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, g, render_template, request, url_for
from sqlalchemy import select

from console.api import ADMIN, _body
from console.auth import require_role
from crm_core import users
from crm_core.clock import Clock
from crm_core.db import Database
from crm_core.errors import InvalidInput
from crm_core.models import User
from telephony.context import need

bp = Blueprint("tokens", __name__)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def token_dict(view: users.TokenView, now: datetime) -> dict[str, Any]:
    """A token as the API shows it: never its hash, only the first characters to tell it."""
    row, user = view.row, view.user
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "user": {"id": user.id, "username": user.username, "display_name": user.display_name},
        "created_at": _iso(row.created_at),
        "last_used_at": _iso(row.last_used_at),
        "expires_at": _iso(row.expires_at),
        "revoked_at": _iso(row.revoked_at),
        "state": view.state(now),
    }


def _text(body: dict, field: str, *, required: bool = True) -> str | None:
    value = body.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"Say which {field} (a text).", field=field)
    return value


@bp.get("/api/tokens")
@require_role(*ADMIN)
def list_tokens():
    username = request.args.get("username")
    include_revoked = request.args.get("revoked") in ("1", "true", "yes")
    with need(Database).read_session_factory() as session:
        user_id = users.get_by_username(session, username[:64]).id if username else None
        views = users.list_tokens(session, user_id=user_id, include_revoked=include_revoked)
        now = need(Clock).now()
        return {"tokens": [token_dict(v, now) for v in views]}


@bp.post("/api/tokens")
@require_role(*ADMIN)
def create_token():
    body = _body()
    if not isinstance(body, dict):
        raise InvalidInput("Send a JSON object with username, name and expires.")
    username = _text(body, "username")[:64]
    name = _text(body, "name")
    expires = body.get("expires")
    if expires is not None and not isinstance(expires, str):
        raise InvalidInput("expires is a text such as 90d, 12h or 2027-01-31.", field="expires")
    with need(Database).session_factory.begin() as session:
        user = users.get_by_username(session, username)
        at = users.parse_expiry(expires, need(Clock).now())
        row, token = users.create_token(
            session, user.id, name, need(Clock), expires_at=at, actor_id=g.principal.id
        )
        answer = token_dict(users.TokenView(row, user), need(Clock).now()) | {"token": token}
    return answer, 201, {"Cache-Control": "no-store"}  # a credential: no cache may keep it


@bp.delete("/api/tokens/<int:token_id>")
@require_role(*ADMIN)
def revoke_token(token_id: int):
    clock = need(Clock)
    with need(Database).session_factory.begin() as session:
        row, _ = users.revoke_token(session, token_id, clock, actor_id=g.principal.id)
        return token_dict(users.TokenView(row, row.user), clock.now())


@bp.get("/admin/tokens")
@require_role(*ADMIN)
def tokens_page():
    """The tokens, and a form to make one for any active user (picked by name)."""
    with need(Database).read_session_factory() as session:
        people = session.scalars(
            select(User).where(User.active.is_(True)).order_by(User.display_name, User.username)
        )
        choices = [
            {"username": u.username, "display_name": u.display_name, "role": u.role.value}
            for u in people
        ]
    settings = {
        "tokens": url_for("tokens.list_tokens"),
        "revoke": url_for("tokens.revoke_token", token_id=0).removesuffix("0") + "ID",
        "me": url_for("api.me"),
        "users": choices,
    }
    return render_template("tokens.html", settings=settings)
