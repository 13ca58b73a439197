"""Users (agents, supervisors, admins), their passwords and their integration tokens.

The operator's changes (``callcenter users …``) go through the functions below that take an
``actor``: each change and its audit entry are written in the caller's transaction.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from crm_core.audit import audit
from crm_core.clock import Clock
from crm_core.errors import Conflict, InvalidInput, NotFound
from crm_core.models import NAME_LEN, ApiToken, Role, User
from crm_core.schemas import UserIn, parse_skills

TOKEN_PREFIX = "cct_"


# A fixed hash to check against when the user does not exist, so a login for an unknown
# name costs the same time as one with a wrong password (no user enumeration by timing).
# Made on first use, not at import: hashing is slow by design.
@functools.cache
def _dummy_hash() -> str:
    return generate_password_hash("not-a-real-password")


def create_user(session: Session, data: UserIn, clock: Clock, *, actor: str | None = None) -> User:
    """A new active user; with ``actor`` (who asked, e.g. ``"cli"``) the creation is audited."""
    if session.scalars(select(User.id).where(User.username == data.username)).first():
        raise Conflict(f"user {data.username} already exists", field="username")
    user = User(
        username=data.username,
        display_name=data.display_name or data.username,
        role=data.role,
        skills=data.skills,
        softphone_identity=softphone_identity(data.username),
        password_hash=generate_password_hash(data.password),
        active=True,
        created_at=clock.now(),
    )
    session.add(user)
    session.flush()
    if actor is not None:
        _audit(session, clock, actor, "user.create", user, role=user.role.value)
    return user


def softphone_identity(username: str) -> str:
    """Twilio Client identities are alphanumerics and underscores."""
    return "agent_" + re.sub(r"[^A-Za-z0-9_]", "_", username)


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}", field="user_id")
    return user


def get_by_username(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None:
        raise NotFound(f"no user {username}", field="username")
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None or not user.active:
        check_password_hash(_dummy_hash(), password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


def set_password(session: Session, user_id: int, password: str) -> None:
    if not 8 <= len(password) <= 256:
        raise InvalidInput("a password has 8 to 256 characters", field="password")
    get_user(session, user_id).password_hash = generate_password_hash(password)


def change_password(
    session: Session, clock: Clock, username: str, password: str, *, actor: str
) -> User:
    """Give ``username`` a new password (the old one stops working at once)."""
    user = get_by_username(session, username)
    set_password(session, user.id, password)
    _audit(session, clock, actor, "user.password", user)
    return user


def set_active(
    session: Session, clock: Clock, username: str, active: bool, *, actor: str
) -> tuple[User, bool]:
    """Deactivate (no login, no API token works) or reactivate ``username``.

    Returns the user and whether anything changed; doing it twice is harmless and audited
    once. Tokens are kept, not revoked: they work again when the user is reactivated.
    """
    user = get_by_username(session, username)
    if user.active == active:
        return user, False
    user.active = active
    _audit(session, clock, actor, "user.reactivate" if active else "user.deactivate", user)
    return user, True


def update_user(
    session: Session,
    clock: Clock,
    username: str,
    *,
    actor: str,
    role: str | None = None,
    skills: str | dict[str, int] | None = None,
    display_name: str | None = None,
) -> tuple[User, dict[str, Any]]:
    """Change only what is given (None: keep). Returns the user and ``{field: [before,
    after]}`` for what really changed; nothing is audited when nothing changed."""
    user = get_by_username(session, username)
    new: dict[str, Any] = {}
    if role is not None:
        try:
            new["role"] = Role(role.strip().lower())
        except ValueError:
            roles = ", ".join(r.value for r in Role)
            raise InvalidInput(f"{role!r} is not a role: use {roles}", field="role") from None
    if skills is not None:
        new["skills"] = parse_skills(skills)
    if display_name is not None:
        name = " ".join(display_name.split())
        if not 1 <= len(name) <= NAME_LEN:
            raise InvalidInput(f"a name has 1 to {NAME_LEN} characters", field="name")
        new["display_name"] = name
    changes: dict[str, Any] = {}
    for field, value in new.items():
        before = getattr(user, field)
        if before != value:
            setattr(user, field, value)
            changes[field] = [_plain(before), _plain(value)]
    if changes:
        session.flush()
        _audit(session, clock, actor, "user.update", user, changes=changes)
    return user, changes


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Role) else value


def _audit(session: Session, clock: Clock, actor: str, action: str, user: User, **detail):
    audit(
        session,
        clock,
        actor_id=None,
        actor=actor,
        action=action,
        target=f"user:{user.id}",
        username=user.username,
        **detail,
    )


def set_skills(session: Session, user_id: int, skills: str | dict[str, int]) -> User:
    user = get_user(session, user_id)
    user.skills = parse_skills(skills)
    return user


def set_role(session: Session, user_id: int, role: str) -> User:
    try:
        role_value = Role(role)
    except ValueError:
        raise InvalidInput(f"role must be one of {', '.join(Role)}", field="role") from None
    user = get_user(session, user_id)
    user.role = role_value
    return user


def _digest(token: str) -> str:
    # Tokens are 256 random bits, so a plain SHA-256 is enough to make a stolen table useless;
    # a slow password hash would only make every API request slow.
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, user_id: int, name: str, clock: Clock) -> tuple[ApiToken, str]:
    """A new API token for ``user_id``. Returns the row and the token, which is shown once."""
    user = get_user(session, user_id)
    name = name.strip()
    if not name or len(name) > 120:
        raise InvalidInput("a token needs a name of 1 to 120 characters", field="name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=_digest(token),
        prefix=token[:10],
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    return row, token


def user_for_token(session: Session, token: str, clock: Clock) -> User | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == _digest(token))).first()
    if row is None or row.revoked_at is not None or not row.user.active:
        return None
    row.last_used_at = clock.now()
    return row.user


def revoke_token(session: Session, token_id: int, clock: Clock) -> None:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"no token {token_id}", field="token_id")
    row.revoked_at = row.revoked_at or clock.now()
