"""Users (agents, supervisors, admins), their passwords and their integration tokens.

The operator's changes (``callcenter users …``) go through the functions below that take an
``actor``: each change and its audit entry are written in the caller's transaction.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from crm_core.audit import audit
from crm_core.clock import Clock
from crm_core.errors import Conflict, InvalidInput, NotFound, Unauthorized
from crm_core.models import NAME_LEN, ApiToken, Role, User
from crm_core.schemas import UserIn, parse_skills

TOKEN_PREFIX = "cct_"
# A token's last use is written at most this often (seconds), so that an integration's
# every request does not also write to the database.
LAST_USED_EVERY = 60


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
    """A new password, which also ends every session opened with the old one."""
    if not 8 <= len(password) <= 256:
        raise InvalidInput("a password has 8 to 256 characters", field="password")
    user = get_user(session, user_id)
    user.password_hash = generate_password_hash(password)
    end_sessions(session, user.id)


def end_sessions(session: Session, user_id: int) -> None:
    """Every console session of ``user_id`` stops working at its next request, wherever
    its cookie is (another browser, a copy): the sessions carry the generation they were
    opened in (console/auth.py), and this moves it on. One UPDATE, safe against another
    process doing the same at once."""
    session.execute(
        update(User)
        .where(User.id == user_id)
        .values(session_generation=User.session_generation + 1)
        .execution_options(synchronize_session="fetch")
    )


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
    """Deactivate (no login, no session, no API token works) or reactivate ``username``.

    Returns the user and whether anything changed; doing it twice is harmless and audited
    once. Tokens are kept, not revoked: they work again when the user is reactivated.
    """
    user = get_by_username(session, username)
    if user.active == active:
        return user, False
    user.active = active
    if not active:  # a session opened before must not come back with a reactivation
        end_sessions(session, user.id)
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


def create_token(
    session: Session,
    user_id: int,
    name: str,
    clock: Clock,
    *,
    expires_at: datetime | None = None,
    actor: str | None = None,
    actor_id: int | None = None,
) -> tuple[ApiToken, str]:
    """A new API token for ``user_id``, working until ``expires_at`` (None: until revoked).
    Returns the row and the token, which is shown once. With ``actor`` or ``actor_id`` the
    creation is audited."""
    user = get_user(session, user_id)
    name = " ".join(name.split())
    if not name or len(name) > 120:
        raise InvalidInput("a token needs a name of 1 to 120 characters", field="name")
    now = clock.now()
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("a token's expiry must be in the future", field="expires")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=_digest(token),
        prefix=token[:10],
        created_at=now,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    if actor is not None or actor_id is not None:
        _audit_token(session, clock, "token.create", row, actor, actor_id, user=user)
    return row, token


EXPIRY = re.compile(r"([0-9]{1,5})\s*([dhw])")
EXPIRY_UNITS = {"h": "hours", "d": "days", "w": "weeks"}
MAX_EXPIRY = timedelta(days=5 * 366)


def parse_expiry(text: str | None, now: datetime) -> datetime | None:
    """``90d``, ``12h``, ``2w``, a date (the token stops at the start of that day, UTC) or
    an ISO 8601 time with its offset; empty or ``never``: no expiry."""
    text = (text or "").strip().lower()
    if text in ("", "never"):
        return None
    found = EXPIRY.fullmatch(text)
    try:
        if found:
            at = now + timedelta(**{EXPIRY_UNITS[found[2]]: int(found[1])})
        elif len(text) == 10:
            day = date.fromisoformat(text)
            at = datetime(day.year, day.month, day.day, tzinfo=UTC)
        else:
            at = datetime.fromisoformat(text)
            if at.tzinfo is None:
                raise InvalidInput(
                    "an expiry time needs a UTC offset, e.g. 2027-01-05T09:00:00Z",
                    field="expires",
                )
    except (ValueError, OverflowError):
        raise InvalidInput(
            f"{text!r} is no expiry: use e.g. 90d, 12h, 2w, a date (2027-01-31) or never",
            field="expires",
        ) from None
    if at <= now:
        raise InvalidInput("a token's expiry must be in the future", field="expires")
    if at - now > MAX_EXPIRY:
        raise InvalidInput("a token's expiry is at most five years away", field="expires")
    return at


class TokenRefused(Unauthorized):
    """A token we issued that no longer works; its ``error_id`` says why."""


class TokenExpired(TokenRefused):
    error_id = "token-expired"


class TokenRevoked(TokenRefused):
    error_id = "token-revoked"


class TokenUserInactive(TokenRefused):
    error_id = "token-user-deactivated"


_TOKEN_LOOKUP = select(ApiToken, User).join(User, User.id == ApiToken.user_id)


def user_for_token(session: Session, token: str, clock: Clock) -> User | None:
    """The user a bearer token acts as; None when it is none of ours. A token of ours that
    no longer works raises TokenRefused (401 with a sentence saying why).

    One SELECT per request; the last use is written only when the stored one is older
    than LAST_USED_EVERY (a conditional UPDATE, so concurrent requests write it once),
    in the caller's transaction."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    found = session.execute(_TOKEN_LOOKUP.where(ApiToken.token_hash == _digest(token))).first()
    if found is None:
        return None
    row, user = found
    now = clock.now()
    if row.revoked_at is not None:
        raise TokenRevoked(f"The API token {row.name!r} ({row.prefix}…) was revoked.")
    if row.expires_at is not None and row.expires_at <= now:
        raise TokenExpired(
            f"The API token {row.name!r} ({row.prefix}…) expired at "
            f"{row.expires_at:%Y-%m-%d %H:%M} UTC."
        )
    if not user.active:
        raise TokenUserInactive(
            f"The API token {row.name!r} acts as {user.username}, who is deactivated."
        )
    stale = now - timedelta(seconds=LAST_USED_EVERY)
    if row.last_used_at is None or row.last_used_at < stale:
        session.execute(
            update(ApiToken)
            .where(
                ApiToken.id == row.id,
                or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < stale),
            )
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
    return user


@dataclass(frozen=True)
class TokenView:
    """A token as people see it: whose, what for, and whether it still works."""

    row: ApiToken
    user: User

    def state(self, now: datetime) -> str:
        if self.row.revoked_at is not None:
            return "revoked"
        if self.row.expires_at is not None and self.row.expires_at <= now:
            return "expired"
        return "active" if self.user.active else "user deactivated"


def list_tokens(
    session: Session, *, user_id: int | None = None, include_revoked: bool = False
) -> list[TokenView]:
    """Tokens, newest first; only ``user_id``'s when given, revoked ones when asked."""
    query = _TOKEN_LOOKUP.order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    if not include_revoked:
        query = query.where(ApiToken.revoked_at.is_(None))
    return [TokenView(row, user) for row, user in session.execute(query)]


def revoke_token(
    session: Session,
    token_id: int,
    clock: Clock,
    *,
    actor: str | None = None,
    actor_id: int | None = None,
) -> tuple[ApiToken, bool]:
    """The token stops working at once; revoking it again changes nothing. Returns the row
    and whether it changed (audited when it did, with ``actor`` or ``actor_id``)."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"There is no API token {token_id}.", field="token_id")
    if row.revoked_at is not None:
        return row, False
    row.revoked_at = clock.now()
    if actor is not None or actor_id is not None:
        _audit_token(session, clock, "token.revoke", row, actor, actor_id, user=row.user)
    return row, True


def _audit_token(session, clock, action, row, actor, actor_id, *, user: User) -> None:
    audit(
        session,
        clock,
        actor_id=actor_id,
        actor=actor,
        action=action,
        target=f"api_token:{row.id}",
        name=row.name,
        prefix=row.prefix,
        username=user.username,
        expires_at=row.expires_at.isoformat() if row.expires_at else None,
    )
