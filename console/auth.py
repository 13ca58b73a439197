"""Who is asking: session login for the pages, bearer tokens for integrations, roles, CSRF."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Request,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_login import LoginManager, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFProtect
from redis import Redis

from crm_core import users as user_service
from crm_core.clock import Clock
from crm_core.db import Database
from crm_core.errors import Forbidden, Unauthorized
from crm_core.models import Role, User
from telephony.context import need

bp = Blueprint("auth", __name__, template_folder="templates")
csrf = CSRFProtect()
login_manager = LoginManager()
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
SIGNED_WEBHOOK_PREFIX = "/twilio/"  # DESIGN.md, the telephony contract


@dataclass(frozen=True)
class Principal:
    """The signed-in user as the request sees it (no live ORM object crosses requests)."""

    id: int
    username: str
    display_name: str
    role: Role
    via_token: bool = False
    generation: int = 0  # the user's session generation when this login was made
    is_authenticated: bool = True
    is_active: bool = True
    is_anonymous: bool = False

    def get_id(self) -> str:
        return str(self.id)

    @classmethod
    def of(cls, user: User, via_token: bool = False) -> Principal:
        return cls(
            user.id,
            user.username,
            user.display_name,
            user.role,
            via_token,
            user.session_generation,
        )


# The key of the session generation in the signed session cookie. A session whose number
# is not the user's current one (logged out, new password, deactivated since) is no login.
GENERATION_KEY = "_gen"


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, for the people's screens only.

    Twilio's webhooks (``/twilio/...``, telephony's blueprint) carry no cookie and are
    authenticated by their signature; opening and saving a cookie session for each of them
    was a tenth of a webhook's cost. They get Flask's null session, which refuses writes.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(SIGNED_WEBHOOK_PREFIX):
            return None  # Flask then uses make_null_session()
        return super().open_session(app, request)


def init_auth(app: Flask) -> None:
    app.session_interface = ConsoleSessionInterface()
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(user_id: str) -> Principal | None:
        if not user_id.isascii() or not user_id.isdigit():
            return None
        with need(Database).read_session_factory() as db:
            user = db.get(User, int(user_id))  # the row read anyway: the check is free
            if user is None or not user.active:
                return None
            if session.get(GENERATION_KEY) != user.session_generation:
                return None  # ended by a logout, a new password or a deactivation
            return Principal.of(user)

    @login_manager.request_loader
    def load_from_token(req) -> Principal | None:
        header = req.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        with need(Database).session_factory() as db:
            try:
                user = user_service.user_for_token(db, token.strip(), need(Clock))
            except user_service.TokenRefused as exc:
                # Anonymous, and the API says why (unauthorized); raised here, it would be
                # raised again by every later look at current_user, the error page's too.
                g.token_refused = exc
                return None
            principal = Principal.of(user, via_token=True) if user is not None else None
            db.commit()  # the token's last use, when it was due (user_for_token)
            return principal

    @login_manager.unauthorized_handler
    def unauthorized():
        if request.path.startswith("/api/"):
            raise g.get("token_refused") or Unauthorized(
                "log in, or send Authorization: Bearer <token>"
            )
        return redirect(url_for("auth.login", next=request.full_path))

    @app.before_request
    def check_csrf() -> None:
        """Cookie-authenticated writes need the CSRF token; bearer-token calls carry no
        ambient credential, and Twilio webhooks are verified by signature instead."""
        if request.method not in UNSAFE:
            return
        view = current_app.view_functions.get(request.endpoint or "")
        if getattr(view, "signed_webhook", False):
            return
        if request.headers.get("Authorization", "").lower().startswith("bearer "):
            return
        csrf.protect()


def require_role(*roles: Role):
    """Only signed-in users with one of ``roles`` (every role when none is given)."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            if roles and current_user.role not in roles:
                raise Forbidden(
                    f"this needs the {' or '.join(r.value for r in roles)} role",
                    role=current_user.role.value,
                )
            g.principal = current_user
            return view(*args, **kwargs)

        wrapper.roles = tuple(roles) or tuple(Role)  # read by the role-matrix test
        return wrapper

    return decorator


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths, so the login page is no open redirect."""
    if not target:
        return url_for("pages.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("pages.index")
    return target


# Failed logins allowed per window, per username and per client address; past them the
# form answers 429 without checking the password, until the window (injected clock) ends.
LOGIN_WINDOW_SECONDS = 15 * 60
LOGIN_FAILURES_PER_USER = 5
LOGIN_FAILURES_PER_ADDRESS = 30


class LoginThrottle:
    """Counts failed logins in Redis, in fixed windows of the injected clock (so tests and
    every process agree), keys expiring after two windows."""

    def __init__(self, redis: Redis, clock: Clock) -> None:
        self.redis, self.clock = redis, clock

    def _keys(self, username: str, address: str) -> tuple[str, str, int]:
        now = self.clock.now().timestamp()
        window = int(now // LOGIN_WINDOW_SECONDS)
        left = int((window + 1) * LOGIN_WINDOW_SECONDS - now) + 1
        user = f"login-failures:user:{username.lower()}:{window}"
        return user, f"login-failures:address:{address}:{window}", left

    def blocked(self, username: str, address: str) -> int | None:
        """Seconds until the window ends when this login may not be tried now, else None."""
        user, addr, left = self._keys(username, address)
        failures_user, failures_addr = (int(v or 0) for v in self.redis.mget(user, addr))
        too_many = (
            failures_user >= LOGIN_FAILURES_PER_USER or failures_addr >= LOGIN_FAILURES_PER_ADDRESS
        )
        return left if too_many else None

    def failed(self, username: str, address: str) -> None:
        user, addr, _ = self._keys(username, address)
        pipe = self.redis.pipeline(transaction=True)
        for key in (user, addr):
            pipe.incr(key)
            pipe.expire(key, 2 * LOGIN_WINDOW_SECONDS)
        pipe.execute()


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        username = request.form.get("username", "")[:64]
        password = request.form.get("password", "")[:256]
        throttle, address = LoginThrottle(need(Redis), need(Clock)), request.remote_addr or "-"
        wait = throttle.blocked(username, address)
        if wait is not None:
            flash(f"Too many failed logins. Try again in {max(1, wait // 60)} minutes.")
            page = render_template("login.html", username=username)
            return page, 429, {"Retry-After": str(wait)}
        with need(Database).read_session_factory() as db:
            user = user_service.authenticate(db, username, password)
            principal = Principal.of(user) if user is not None else None
        if principal is not None:
            login_user(principal)
            session[GENERATION_KEY] = principal.generation
            return redirect(_safe_next(request.args.get("next")))
        throttle.failed(username, address)
        flash("Wrong username or password.")
        return render_template("login.html", username=username), 401
    return render_template("login.html", username="")


@bp.post("/logout")
def logout():
    """Ends this user's sessions on the server, not only this cookie: a copy of it, and the
    user's sessions in other browsers, stop working too."""
    if current_user.is_authenticated and not current_user.via_token:
        with need(Database).session_factory.begin() as db:
            user_service.end_sessions(db, current_user.id)
    logout_user()
    session.pop(GENERATION_KEY, None)
    return redirect(url_for("auth.login"))
