"""The fair floor of bench/webhook_latency.py: the least a correct webhook handler does.

The bare baseline (``baseline.py``) answers a constant and nothing else; a correct handler
must also check Twilio's signature and write the call. This app does exactly that much,
with the libraries as their documentation shows them, and nothing of the engine's:

* ``RequestValidator(TWILIO_AUTH_TOKEN).validate(url, request.form, signature)`` on
  ``PUBLIC_BASE_URL`` + the path + the query string (what Twilio signs); 403 otherwise;
* one ``INSERT INTO floor_calls (call_sid, created_at) VALUES (...) ON CONFLICT (call_sid)
  DO NOTHING`` through SQLAlchemy Core, on a pooled connection of an
  engine built once per worker, into the database the app uses (``FLOOR_DATABASE_URL``,
  set by the bench to the app's); on SQLite the connection gets the app's pragmas (WAL,
  ``synchronous=NORMAL``, a busy timeout), so both pay the same for a commit;
* the same constant TwiML documents as the bare baseline (204 for the status callback).

The table is the floor's own (``floor_calls``), created by the bench before the servers
start. Replayed, a request's CallSid is already there and the insert does nothing; with
``--unique-calls`` every voice request inserts a row, as the app inserts its Call row.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from baseline import HOLD_TWIML, MENU_TWIML, VOICE_TWIML
from flask import Flask, Response, request
from sqlalchemy import Column, DateTime, MetaData, String, Table, create_engine, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from twilio.request_validator import RequestValidator

metadata = MetaData()
floor_calls = Table(
    "floor_calls",
    metadata,
    Column("call_sid", String(64), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


def make_engine(url: str):
    """A pooled engine; on SQLite with the app's pragmas (crm_core/db.py)."""
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

    return engine


def _insert_statement(engine):
    insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    return insert(floor_calls).on_conflict_do_nothing(index_elements=["call_sid"])


app = Flask(__name__)
if os.environ.get("FLOOR_DATABASE_URL"):  # the bench sets it; the module imports without it
    BASE_URL = os.environ["PUBLIC_BASE_URL"].rstrip("/")
    validator = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"])
    engine = make_engine(os.environ["FLOOR_DATABASE_URL"])
    INSERT = _insert_statement(engine)


def handle(answer: Response | str) -> Response:
    """Signature, one insert, the constant answer."""
    query = request.query_string.decode("latin-1")
    url = BASE_URL + request.path + (f"?{query}" if query else "")
    if not validator.validate(url, request.form, request.headers.get("X-Twilio-Signature", "")):
        return Response("invalid signature", status=403, mimetype="text/plain")
    with engine.begin() as connection:
        connection.execute(
            INSERT,
            {
                "call_sid": request.form.get("CallSid", ""),
                "created_at": datetime.now(UTC),
            },
        )
    if isinstance(answer, Response):
        return answer
    return Response(answer, status=200, mimetype="text/xml")


@app.post("/twilio/voice")
def voice() -> Response:
    return handle(VOICE_TWIML)


@app.post("/twilio/voice/status")
def status() -> Response:
    return handle(Response(status=204))


@app.post("/twilio/ivr/menu")
def menu() -> Response:
    return handle(MENU_TWIML)


@app.post("/twilio/acd/hold")
def hold() -> Response:
    return handle(HOLD_TWIML)
