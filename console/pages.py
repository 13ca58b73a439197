"""The pages a person opens; the softphone and the wallboard join them in later issues."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

bp = Blueprint("pages", __name__, template_folder="templates")


@bp.get("/")
def index():
    return render_template("index.html", user=current_user)


@bp.get("/healthz")
def healthz():
    """Liveness for a load balancer: the database and Redis both answer."""
    from flask import current_app
    from sqlalchemy import text

    deps = current_app.extensions["callcenter"]
    with deps.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    deps.redis.ping()
    return {"status": "ok"}
