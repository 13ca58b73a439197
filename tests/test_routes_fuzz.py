"""Garbage to every route the app has, as every kind of caller: never a 5xx.

Every rule of ``app.url_map`` and each of its methods gets hypothesis-made path values
(ids past any column's range, negative, NUL, unicode, long), query strings, and bodies
(forms, JSON nested deep or holding NUL, huge numbers and wrong types, bytes that are not
JSON), from an anonymous visitor, an agent, a supervisor and an admin signed in with a
cookie (and the page's CSRF token), and an integration with an API token. The Twilio
URLs get the same garbage in correctly signed requests and must answer as Twilio needs:
TwiML, or 204 for a callback. Every method a rule does not take is a 405 naming the ones
it does. Runs as the suite does, on SQLite or on PostgreSQL (DATABASE_URL).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from crm_core.calls import log_call
from crm_core.customers import create_customer
from crm_core.leads import create_lead
from crm_core.models import CallDirection, Role, User
from crm_core.schemas import CustomerIn, LeadIn, UserIn, parse
from crm_core.users import create_token, create_user, revoke_token
from tests.telephony.conftest import PUBLIC, TOKEN, twilio_app

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
PARTS = 8  # the routes are split in this many tests (a hypothesis example covers one part)
CALLERS = ("anonymous", "agent", "supervisor", "admin", "token")
PASSWORD = "fuzz-password-1"


@pytest.fixture
def app(database_url, redis_url, clock, tmp_path):
    """Signed as Twilio signs; the carrier points at a closed loopback port, so a request
    that reaches it fails at once instead of waiting."""
    yield from twilio_app(
        database_url,
        redis_url,
        clock,
        tmp_path,
        TWILIO_API_BASE_URL="http://127.0.0.1:9",
        TWILIO_API_KEY_SID="SK" + "0" * 32,  # the softphone's token is made, not refused
        TWILIO_API_KEY_SECRET="fuzz-secret-" + "0" * 32,
        TWILIO_TWIML_APP_SID="AP" + "0" * 32,
    )


def routes(app) -> list[tuple[str, str, dict[str, str], bool]]:
    """(rule, method, {argument: converter kind}, signed webhook) for every route."""
    found = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        kinds = {
            name: type(converter).__name__.replace("Converter", "").lower()
            for name, converter in rule._converters.items()
        }
        signed = bool(getattr(view, "signed_webhook", False))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.rule, method, kinds, signed))
    return found


# ------------------------------------------------------------------------ the garbage

NASTY = ["", "\x00", "a\x00b", "é", "😀", "\u202e", "<script>", "' OR 1=1 --", "%", "../..", " "]
TEXT = st.one_of(
    st.sampled_from(NASTY),
    st.text(st.characters(codec="utf-8"), max_size=40),
    st.builds(
        lambda text, n: text * n,
        st.sampled_from(["a", "é😀", "1\x00", "x-"]),
        st.integers(100, 1000),
    ),
)
HUGE = [2**31 - 1, 2**31, 2**40, 2**63, -(2**63) - 1, 10**30, -1, 0]
NUMBER_TEXT = st.one_of(st.sampled_from([str(n) for n in HUGE] + ["1e309", "NaN", "1.5", "0x10"]))
ID = st.one_of(
    st.sampled_from(["1", "2147483647", "2147483648", "1099511627776", "9" * 30, "1" * 5000]),
    st.integers(0, 2**70).map(str),
)
SEGMENT = st.one_of(
    st.sampled_from(["CA" + "0" * 32, "CA" + "a" * 32, "sales", "me", "1"]),
    TEXT.filter(bool),
    ID,
)
FIELDS = [
    # the API's JSON fields and query arguments (crm_core.schemas, console views)
    "first_name", "last_name", "email", "phones", "phone", "number", "disposition", "notes",
    "lead_id", "customer_id", "agent_id", "owner_id", "appointment", "callback", "start_at",
    "end_at", "due_at", "type", "stage", "status", "reason", "name", "display_name", "skills",
    "required_skills", "priority", "hours", "queue", "entry", "target", "digits", "wrap_seconds",
    "temperature", "price_min", "price_max", "vehicles", "source", "role", "password",
    "username", "keep", "draft", "position", "answer", "step", "q", "limit", "offset", "days",
    "since", "before_id", "channel", "address", "language", "time_zone", "next", "csrf_token",
    # Twilio's parameters and the TwiML flow's own query arguments
    "dealer_id", "assigned_agent_id", "other_id", "user_id", "source_type", "wrap_up_seconds",
    "CallSid", "From", "To", "CallStatus", "Direction", "Digits", "SpeechResult", "Timestamp",
    "SequenceNumber", "CallDuration", "RecordingSid", "RecordingUrl", "RecordingStatus",
    "RecordingDuration", "ConferenceSid", "FriendlyName", "StatusCallbackEvent", "MessageSid",
    "Body", "QueueResult", "DialCallStatus", "lang", "tries", "option", "kind", "appt", "at",
    "agent", "needs", "action", "d",
]  # fmt: skip
NAME = st.one_of(st.sampled_from(FIELDS), TEXT)
VALUE_TEXT = st.one_of(TEXT, NUMBER_TEXT, st.sampled_from(["CA" + "0" * 32, "+13135550101"]))
SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(HUGE),
    st.integers(),
    st.floats(),  # NaN and infinities too: Python's JSON writes and reads them
    TEXT,
    st.sampled_from(["2026-01-05T15:00:00Z", "9999-12-31T23:59:59", "0000-00-00", "2026-13-45"]),
)
JSON = st.recursive(
    SCALAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NAME, inner, max_size=4),
    max_leaves=12,
)
DEEP = st.integers(33, 3000).flatmap(
    lambda n: st.sampled_from(["[" * n + "]" * n, '{"a":' * n + "1" + "}" * n])
)
BODY = st.one_of(
    st.none(),
    st.tuples(st.just("form"), st.dictionaries(NAME, VALUE_TEXT, max_size=6)),
    st.tuples(st.just("json"), st.dictionaries(NAME, JSON, max_size=6).map(json.dumps)),
    st.tuples(st.just("json"), JSON.map(json.dumps)),
    st.tuples(st.just("json"), DEEP),
    st.tuples(st.just("json"), st.sampled_from(['{"a":', "\xff\xfe", "", "{" * 100000])),
)
QUERY = st.dictionaries(NAME, VALUE_TEXT, max_size=4)
SEEDED_SID = "CA" + "f" * 32  # a call of the agent's (Callers)
# Bodies the main writes accept, for garbage to go in field by field: past the shape
# checks, to the services and the database.
VALID = {
    ("POST", "/api/customers"): {"first_name": "Fuzz", "phones": ["+13135550199"]},
    ("PATCH", "/api/customers/<int:customer_id>"): {"first_name": "Fuzz", "notes": "n"},
    ("POST", "/api/customers/<int:customer_id>/phones"): {"phone": "+13135550197"},
    ("POST", "/api/customers/<int:customer_id>/consent"): {
        "channel": "voice", "address": "+13135550101", "status": "granted", "source": "fuzz"
    },
    ("POST", "/api/leads"): {
        "customer": {"first_name": "Fuzz", "phones": ["+13135550198"]}, "source_type": "website"
    },
    ("POST", "/api/leads", "of a known customer"): {"customer_id": 1, "source_type": "phone"},
    ("POST", "/api/leads/<int:lead_id>/stage"): {"stage": "engaged"},
    ("POST", "/api/calls/<call_sid>/outcome"): {
        "disposition": "callback", "callback": {"due_at": "2026-01-06T15:00:00Z"}
    },
    ("POST", "/api/calls/<call_sid>/notes"): {"notes": "n"},
    ("POST", "/api/queues"): {"name": "fuzz", "display_name": "Fuzz"},
    ("PUT", "/api/agents/<int:user_id>/skills"): {"skills": {"sales": 1}},
    ("POST", "/api/agents/me/presence"): {"state": "available"},
}  # fmt: skip


def _garbled(valid: dict, changes: dict, drop: list) -> str:
    """``valid`` with some fields replaced by garbage (nested ones too) and some left out."""
    body = json.loads(json.dumps(valid))
    for key, value in changes.items():
        inner = next((v for v in body.values() if isinstance(v, dict) and key in v), body)
        inner[key] = value
    for key in drop:
        body.pop(key, None)
    return json.dumps(body)


SEEDED = st.just(SEEDED_SID)


def _valid_body(valid: dict):
    keys = sorted({*valid, *(k for v in valid.values() if isinstance(v, dict) for k in v)})
    return st.tuples(
        st.just("json"),
        st.builds(
            _garbled,
            st.just(valid),
            st.dictionaries(st.sampled_from(keys) | NAME, JSON, min_size=1, max_size=2),
            st.lists(st.sampled_from(keys), max_size=1),
        ),
    )


def _path(rule: str, values: dict[str, str]) -> str:
    def fill(match: re.Match) -> str:
        name = match.group(1).split(":")[-1]
        return quote(values[name], safe="/" if "path:" in match.group(1) else "")

    return re.sub(r"<([^>]+)>", fill, rule)


# ------------------------------------------------------------------------ the callers


class Callers:
    """A test client per kind of caller, with the headers its writes need."""

    def __init__(self, app, deps, clock) -> None:
        self.app, self.headers, self.clients = app, {}, {}
        with deps.session_factory.begin() as s:
            for role in Role:
                create_user(s, UserIn(username=role.value, role=role, password=PASSWORD), clock)
            integration = create_user(
                s, UserIn(username="integration", role=Role.ADMIN, password=PASSWORD), clock
            )
            _, self.token = create_token(s, integration.id, "fuzz", clock)
            agent = s.scalars(select(User).where(User.username == "agent")).one()
            customer = create_customer(
                s, parse(CustomerIn, {"first_name": "Seed", "phones": ["3135550101"]}), clock
            )
            lead = create_lead(
                s, parse(LeadIn, {"customer_id": customer.id, "source_type": "phone"}), clock
            )
            call = log_call(
                s,
                call_sid=SEEDED_SID,
                direction=CallDirection.INBOUND,
                from_number="+13135550101",
                to_number="+13135550100",
                clock=clock,
                customer_id=customer.id,
                lead_id=lead.id,
                agent_id=agent.id,
            )
            # Real rows' ids, for the paths: garbage then reaches the rows, not only 404.
            self.ids = [str(i) for i in (customer.id, lead.id, call.id, agent.id)]

    def known(self, valid: dict) -> dict:
        """A copy of a valid body, naming the seeded customer where it names one."""
        body = json.loads(json.dumps(valid))
        if "customer_id" in body:
            body["customer_id"] = int(self.ids[0])
        return body

    def sign_in(self, *which: str) -> None:
        """Fresh sessions (all, or ``which``: a garbage request may have been a logout)."""
        for caller in which or CALLERS:
            client = self.app.test_client()
            page = client.get("/login").data.decode()
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            headers = {"X-CSRFToken": csrf}
            if caller in {r.value for r in Role}:
                form = {"username": caller, "password": PASSWORD, "csrf_token": csrf}
                assert client.post("/login", data=form).status_code == 302
                headers["X-CSRFToken"] = client.get("/api/me").json["csrf_token"]
            elif caller == "token":
                headers = {"Authorization": f"Bearer {self.token}"}
            self.clients[caller], self.headers[caller] = client, headers


@pytest.fixture
def callers(app, deps, clock) -> Callers:
    callers = Callers(app, deps, clock)
    callers.sign_in()
    return callers


def _send(client, method: str, path: str, query: dict, body, headers: dict, *, sign: bool):
    url = path + (f"?{urlencode(query)}" if query else "")
    kwargs: dict = {"headers": dict(headers)}
    form: dict = {}
    if body is not None:
        kind, content = body
        if kind == "form" or sign:
            form = content if isinstance(content, dict) else {}
            kwargs["data"] = form
        else:
            kwargs["data"] = content.encode("utf-8", "surrogatepass")
            kwargs["content_type"] = "application/json"
    if sign:  # as Twilio signs: the URL, then the form's fields (none for a GET)
        params = form if method == "POST" else {}
        if method != "POST":
            kwargs.pop("data", None)
        validator = RequestValidator(TOKEN)
        kwargs["headers"]["X-Twilio-Signature"] = validator.compute_signature(PUBLIC + url, params)
    return client.open(url, method=method, buffered=False, **kwargs)


def _trouble(response, signed: bool) -> str | None:
    """What is wrong with the answer, or None."""
    status = response.status_code
    if status >= 500:
        return f"answered {status}: {response.get_data()[:300]!r}"
    if signed:
        if status == 204:
            return None
        if status != 200 or response.mimetype != "text/xml":
            return f"a webhook answered {status} {response.mimetype}"
        try:
            root = ET.fromstring(response.get_data())
        except ET.ParseError as exc:
            return f"a webhook answered XML that does not parse: {exc}"
        if root.tag != "Response":
            return f"a webhook answered <{root.tag}>, not TwiML"
    return None


@settings(
    max_examples=10,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # every route is in each example: no shrinking
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@pytest.mark.parametrize("part", range(PARTS))
@given(data=st.data())
def test_garbage_to_every_route_never_answers_5xx(app, callers, part, data):
    failures = []
    for rule, method, kinds, signed in routes(app)[part::PARTS]:
        ids = st.sampled_from(callers.ids) | ID
        values = {
            name: data.draw(ids if kind == "integer" else SEEDED | SEGMENT, label=name)
            for name, kind in kinds.items()
        }
        path = _path(rule, values)
        query = data.draw(QUERY, label="query")
        bodies = BODY
        for key, valid in VALID.items():
            if key[:2] == (method, rule):
                bodies = _valid_body(callers.known(valid)) | bodies
        body = data.draw(bodies, label="body") if method != "GET" or signed else None
        caller = "anonymous" if signed else data.draw(st.sampled_from(CALLERS), label="caller")
        client, headers = callers.clients[caller], callers.headers[caller]
        try:
            response = _send(client, method, path, query, body, headers, sign=signed)
        except Exception as exc:  # an error handler itself failed
            failures.append(f"{method} {path[:120]} as {caller}: raised {exc!r}")
            continue
        try:
            trouble = _trouble(response, signed)
        finally:
            response.close()
        if rule == "/logout":
            callers.sign_in(caller)
        if trouble:
            failures.append(
                f"{method} {path[:120]} ?{query!r:.200} {body!r:.200} as {caller}: {trouble}"
            )
    assert not failures, "\n".join(failures)


ID_FIELDS = ["customer_id", "lead_id", "dealer_id", "assigned_agent_id", "owner_id", "agent_id"]


@pytest.mark.parametrize("value", [2**31, 2**63, -(2**63) - 1, 10**30])
def test_ids_past_integer_in_a_body_are_refused_not_sent_to_the_database(app, callers, value):
    """Every id field of every valid body above (nested ones in their object), one at a
    time, set past INTEGER's range: a 4xx naming it, never the database's refusal."""
    failures = []
    for (method, rule, *_), valid in VALID.items():
        path = _path(
            rule,
            {"customer_id": callers.ids[0], "lead_id": callers.ids[1], "user_id": callers.ids[3]}
            | {"call_sid": SEEDED_SID},
        )
        for field in ID_FIELDS:
            body = callers.known(valid)
            if field == "customer_id" and "customer" in body:
                continue  # a lead has a customer_id or a customer, never both
            target = body["callback"] if field == "owner_id" and "callback" in body else body
            target[field] = value
            token = callers.headers["token"]
            response = callers.clients["token"].open(path, method=method, json=body, headers=token)
            if response.status_code >= 500:
                failures.append(f"{method} {path} {field}={value}: {response.status_code}")
    assert not failures, "\n".join(failures)


def test_every_method_a_route_does_not_take_is_405_naming_those_it_does(app, callers):
    failures = []
    by_path: dict[str, set[str]] = {}
    for rule, method, kinds, _ in routes(app):
        path = _path(rule, dict.fromkeys(kinds, "1"))
        by_path.setdefault(path, set()).add(method)
    for path, allowed in by_path.items():
        for method in sorted(set(METHODS) - allowed):
            for caller in ("anonymous", "admin"):
                client, headers = callers.clients[caller], callers.headers[caller]
                response = client.open(path, method=method, headers=headers, buffered=False)
                status, allow = response.status_code, response.headers.get("Allow", "")
                response.close()
                named = set(allow.replace(" ", "").split(",")) >= allowed
                if status != 405 or not named:
                    failures.append(f"{method} {path} as {caller}: {status}, Allow: {allow!r}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    "path", ["/twilio/voice", "/twilio/voice/status", "/twilio/voice/fallback", "/twilio/sms"]
)
def test_twilio_urls_set_to_http_get_are_answered_as_for_post(app, callers, path):
    """A number's URLs may be set to HTTP GET in Twilio's console: the same answer, the
    parameters read from the signed query string; unsigned is still 403."""
    client = app.test_client()
    query = {
        "CallSid": "CA" + "b" * 32,
        "AccountSid": "AC" + "0" * 32,
        "From": "+13135550101",
        "To": "+13135550100",
        "CallStatus": "ringing",
        "Direction": "inbound",
        "MessageSid": "SM" + "b" * 32,
        "Body": "HELP",
    }
    response = _send(client, "GET", path, query, None, {}, sign=True)
    assert _trouble(response, signed=True) is None
    assert response.status_code == (204 if path.endswith("/status") else 200)
    if path == "/twilio/voice":
        assert b"<Gather" in response.get_data()
    response.close()
    assert client.get(f"{path}?{urlencode(query)}").status_code == 403


def test_a_revoked_token_on_a_page_is_anonymous_and_on_the_api_told_why(app, deps, callers):
    """The refusal is raised once: the error page's own look at who is asking must not
    raise it again (that was a 500)."""
    from crm_core.models import ApiToken

    with deps.session_factory.begin() as s:
        token = s.scalars(select(ApiToken).where(ApiToken.name == "fuzz")).one()
        revoke_token(s, token.id, deps.clock)
    client, headers = callers.clients["token"], callers.headers["token"]
    for path in ("/qa", "/agent", "/no-such-page", "/demo/phone"):
        assert client.get(path, headers=headers).status_code < 500, path
    answer = client.get("/api/me", headers=headers)
    assert answer.status_code == 401 and answer.json["error"]["id"] == "token-revoked"


def test_the_guards_answer_in_sentences(callers):
    """What a caller is told (console/guards.py): each refusal names what to fix."""
    client, headers = callers.clients["admin"], callers.headers["admin"]
    path = client.get("/api/calls/CA%00", headers=headers)
    assert path.status_code == 400 and path.json["error"]["field"] == "path"
    deep = client.post(
        "/api/customers", data="[" * 5000, content_type="application/json", headers=headers
    )
    assert deep.status_code == 400 and deep.json["error"]["id"] == "invalid-json"
    nul = client.post("/api/customers", json={"first_name": "a\x00"}, headers=headers)
    assert nul.status_code == 400 and nul.json["error"]["field"] == "first_name"
    huge = client.get("/api/customers/1099511627776", headers=headers)
    assert huge.status_code == 404
    big = client.post(
        "/api/customers", data="[" * 2_000_000, content_type="application/json", headers=headers
    )
    assert big.status_code == 413
    wrong = client.get("/logout", headers={**headers, "Accept": "text/html"})
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "OPTIONS, POST"
    assert b"GET is not possible here; use POST." in wrong.data
