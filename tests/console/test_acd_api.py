"""The ACD's configuration API: queues, agents' skills, offers explained; roles; bad input."""

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.supervise import reason_parts
from crm_core import acd

SPANISH = {
    "name": "spanish-sales",
    "display_name": "Ventas",
    "required_skills": {"sales": 1, "spanish": 5},
    "max_wait_seconds": 120,
    "overflow_action": "queue",
    "overflow_queue": "sales",
}


def put(api, path, **kw):
    return api.request("PUT", path, **kw)


def test_admin_creates_and_changes_queues_supervisors_read_them(api):
    created = api.post(
        "/api/queues", json={"name": "sales", "required_skills": "sales:1"}, as_="admin"
    )
    assert created.status_code == 201, created.json
    assert created.json["required_skills"] == {"sales": 1}
    assert (
        created.json["strategy"] == "longest_idle" and created.json["offer_timeout_seconds"] == 15
    )
    spanish = api.post("/api/queues", json=SPANISH, as_="admin")
    assert spanish.status_code == 201 and spanish.json["overflow_queue"] == "sales"
    changed = api.patch(
        "/api/queues/spanish-sales",
        json={"strategy": "skills_weighted", "wrap_up_seconds": 60},
        as_="admin",
    )
    assert changed.status_code == 200, changed.json
    assert changed.json["strategy"] == "skills_weighted" and changed.json["max_wait_seconds"] == 120
    listed = api.get("/api/queues", as_="supervisor")
    assert listed.status_code == 200
    assert [q["name"] for q in listed.json["queues"]] == ["sales", "spanish-sales"]
    assert listed.json["queues"][1]["wrap_up_seconds"] == 60


def test_agents_cannot_configure_or_look(api):
    api.post("/api/queues", json={"name": "sales"}, as_="admin")
    agent_id, _ = api.user("agent")
    for method, path, body in [
        ("POST", "/api/queues", {"name": "service"}),
        ("PATCH", "/api/queues/sales", {"wrap_up_seconds": 0}),
        ("PUT", f"/api/agents/{agent_id}/skills", {"skills": {"sales": 10}}),
        ("GET", "/api/queues", None),
        ("GET", f"/api/agents/{agent_id}/skills", None),
        ("GET", "/api/calls/CA1/offers", None),
    ]:
        response = api.request(method, path, json=body, as_="agent")
        assert response.status_code == 403, (method, path)
        assert response.json["error"]["id"] == "forbidden"
    for method, path, body in [
        ("POST", "/api/queues", {"name": "service"}),
        ("PATCH", "/api/queues/sales", {"wrap_up_seconds": 0}),
        ("PUT", f"/api/agents/{agent_id}/skills", {"skills": {"sales": 10}}),
    ]:
        assert api.request(method, path, json=body, as_="supervisor").status_code == 403
    anonymous = api.client.get("/api/queues")
    assert anonymous.status_code == 401


def test_bad_queues_name_the_field(api):
    api.post("/api/queues", json={"name": "sales"}, as_="admin")
    for body, status, field in [
        ({"name": "Sales Team"}, 400, "name"),
        ({"name": "x", "offer_timeout_seconds": 3}, 400, "offer_timeout_seconds"),
        ({"name": "x", "offer_timeout_seconds": "15"}, 400, "offer_timeout_seconds"),
        ({"name": "x", "strategy": "random"}, 400, "strategy"),
        ({"name": "x", "required_skills": {"sales": 11}}, 400, "required_skills"),
        ({"name": "x", "max_wait_seconds": 60}, 400, "overflow_action"),
        ({"name": "x", "overflow_action": "queue"}, 400, "overflow_queue"),
        ({"name": "x", "overflow_action": "queue", "overflow_queue": "x"}, 400, "overflow_queue"),
        (
            {"name": "x", "overflow_action": "queue", "overflow_queue": "none"},
            400,
            "overflow_queue",
        ),
        ({"name": "x", "priority": 1}, 400, "priority"),
        ({"name": "sales"}, 409, "name"),
    ]:
        response = api.post("/api/queues", json=body, as_="admin")
        assert response.status_code == status, (body, response.json)
        assert response.json["error"]["field"] == field, (body, response.json)
    for body, field in [
        ({"name": "renamed"}, "name"),
        ({"wrap_up_seconds": 1801}, "wrap_up_seconds"),
        ({"overflow_action": "queue", "overflow_queue": "sales"}, "overflow_queue"),
        ({"display_name": None}, None),
    ]:
        response = api.patch("/api/queues/sales", json=body, as_="admin")
        if field is None:  # null display name: back to the name
            assert response.status_code == 200 and response.json["display_name"] == "sales"
            continue
        assert response.status_code == 400 and response.json["error"]["field"] == field, body
    missing = api.patch("/api/queues/nope", json={"wrap_up_seconds": 5}, as_="admin")
    assert missing.status_code == 404 and missing.json["error"]["id"] == "not-found"


def test_agent_skills(api):
    ana_id, _ = api.user("agent", "ana", skills={"sales": 8})
    shown = api.get(f"/api/agents/{ana_id}/skills", as_="supervisor")
    assert shown.status_code == 200
    assert shown.json | {"id": 0} == {
        "id": 0,
        "username": "ana",
        "display_name": "ana",
        "role": "agent",
        "skills": {"sales": 8},
        "softphone_identity": "agent_ana",
    }
    changed = put(api, f"/api/agents/{ana_id}/skills", json={"skills": {"spanish": 7}}, as_="admin")
    assert changed.status_code == 200 and changed.json["skills"] == {"spanish": 7}
    as_text = put(api, f"/api/agents/{ana_id}/skills", json={"skills": "sales:2"}, as_="admin")
    assert as_text.json["skills"] == {"sales": 2}
    for body, field in [
        ({"skills": {"sales": 0}}, "skills"),
        ({"skills": {"Sales!": 3}}, "skills"),
        ({"skills": {"sales": "high"}}, "skills"),
        ({}, "skills"),
        ({"skills": {}, "level": 3}, "level"),
    ]:
        bad = put(api, f"/api/agents/{ana_id}/skills", json=body, as_="admin")
        assert bad.status_code == 400 and bad.json["error"]["field"] == field, body
    assert (
        put(api, "/api/agents/999999/skills", json={"skills": {}}, as_="admin").status_code == 404
    )
    assert api.get("/api/agents/999999/skills", as_="admin").status_code == 404


def test_why_this_agent_got_this_call(api, deps):
    ana_id, _ = api.user("agent", "ana")
    offered_at = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
    with deps.session_factory.begin() as session:
        acd.record_offers(
            session,
            [
                {
                    "offered_at": offered_at,
                    "queue_name": "sales",
                    "call_sid": "CA1",
                    "entry_id": "e1",
                    "agent_id": ana_id,
                    "strategy": "skills_weighted",
                    "rule": "best sales level (8), then longest idle",
                    "candidates": [
                        {"agent_id": ana_id, "score": 8, "eligible_reason": "sales 8 >= 1"}
                    ],
                }
            ],
        )
        acd.set_offer_outcome(session, "e1", ana_id, "accepted", offered_at)
    response = api.get("/api/calls/CA1/offers", as_="supervisor")
    assert response.status_code == 200
    (offer,) = response.json["offers"]
    assert offer["agent_id"] == ana_id and offer["outcome"] == "accepted"
    assert offer["rule"].startswith("best sales level") and offer["strategy"] == "skills_weighted"
    assert offer["candidates"][0]["eligible_reason"] == "sales 8 >= 1"
    assert offer["offered_at"] == "2026-01-05T15:00:00+00:00"
    assert api.get("/api/calls/CA9/offers", as_="admin").json == {"call_sid": "CA9", "offers": []}


def test_non_json_bodies(api):
    for method, path in [("POST", "/api/queues"), ("PATCH", "/api/queues/sales")]:
        text = api.request(
            method, path, data="name=sales", headers={"Content-Type": "text/plain"}, as_="admin"
        )
        assert text.status_code == 400 and text.json["error"]["id"] == "invalid-input"
        array = api.request(method, path, json=["sales"], as_="admin")
        assert array.status_code == 400
    broken = put(
        api,
        "/api/agents/1/skills",
        data="{not json",
        headers={"Content-Type": "application/json"},
        as_="admin",
    )
    assert broken.status_code == 400


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3)
    ),
    max_leaves=10,
)
QUEUE_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        name: JSON
        | st.sampled_from(["sales", "queue", "voicemail", "overflow", "ring_all", "", "sales:1"])
        | st.integers(-5, 200)
        for name in acd.QueueIn.model_fields
    },
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    target=st.sampled_from(["POST /api/queues", "PATCH /api/queues/sales", "PUT skills"]),
    body=QUEUE_FIELDS | JSON,
)
def test_fuzzed_bodies_never_500(api, target, body):
    api.post("/api/queues", json={"name": "sales"}, as_="admin")  # 409 after the first time
    if target == "PUT skills":
        user_id, _ = api.user("agent", "ana")
        method, path, body = "PUT", f"/api/agents/{user_id}/skills", {"skills": body}
    else:
        method, path = target.split(" ")
    response = api.request(method, path, json=body, as_="admin")
    assert response.status_code < 500, (path, body, response.json)
    assert response.is_json


# ---------------------------------------------------------------- what the wallboard reads


def _queues(deps, clock, *names):
    from crm_core.acd_schemas import QueueIn
    from crm_core.schemas import parse

    with deps.session_factory.begin() as s:
        for name in names:
            data = {"name": name, "required_skills": {name: 1}, "empty_action": "wait"}
            acd.create_queue(s, parse(QueueIn, data), clock)


def test_waiting_names_the_callers_and_the_agents_calls(api, deps, clock):
    from tests.routing.conftest import agent

    _queues(deps, clock, "sales", "service")
    created = api.post(
        "/api/customers",
        json={"first_name": "Maria", "last_name": "Lopez", "phones": ["+13135550100"]},
    )
    assert created.status_code == 201, created.json
    router = deps.router
    router.set_presence(agent(7, sales=3), "available")
    router.enqueue("CA1", "sales", call_sid="CA1", phone="+13135550100")  # offered to agent 7
    router.enqueue("CA2", "service", call_sid="CA2", phone="+13135550177")
    body = api.get("/api/acd/waiting", as_="supervisor").json
    assert body["queues"]["service"] == [
        {
            "entry": "CA2",
            "phone": "+13135550177",
            "name": None,  # nobody has the number
            "kind": "call",
            "priority": 0,
            "waited_seconds": 0,
        }
    ]
    assert body["calls"] == {
        "CA1": {"phone": "+13135550100", "name": "Maria Lopez", "kind": "call", "queue": "sales"}
    }
    assert router.accept(7, "CA1").state == "connected"
    router.enqueue("CA3", "sales", call_sid="CA3", phone="+13135550100")
    body = api.get("/api/acd/waiting", as_="supervisor").json
    assert [(c["entry"], c["name"]) for c in body["queues"]["sales"]] == [("CA3", "Maria Lopez")]
    assert body["calls"]["CA1"]["name"] == "Maria Lopez"
    assert api.get("/api/acd/waiting", as_="agent").status_code == 403


def test_the_queue_snapshot_counts_answers_within_the_threshold(api, deps, clock):
    """The wallboard's totals row sums ``answered_within`` over the queues: the service
    level of all queues together is not the average of their percentages."""
    from tests.routing.conftest import agent

    _queues(deps, clock, "sales", "service")
    router = deps.router
    router.set_presence(agent(7, sales=3), "available")
    router.enqueue("CA1", "sales", call_sid="CA1")  # offered at once
    assert router.accept(7, "CA1").state == "connected"  # answered within the threshold
    router.enqueue("CA2", "service", call_sid="CA2")
    router.enqueue("CA3", "service", call_sid="CA3")
    clock.advance(30)
    router.caller_gone("CA2")  # abandoned
    router.set_presence(agent(8, service=3), "available")  # CA3 offered after 30 s
    assert router.accept(8, "CA3").state == "connected"  # answered, not within 20 s
    queues = api.get("/api/acd/queues", as_="supervisor").json["queues"]
    today = {q["queue"]: q["today"] for q in queues}
    assert (today["sales"]["answered_within"], today["sales"]["answered"]) == (1, 1)
    assert (today["service"]["answered_within"], today["service"]["answered"]) == (0, 1)
    assert today["service"]["abandoned"] == 1


def test_why_sets_its_clock_times_apart_for_the_viewers_zone(api, deps, clock):
    from routing.why import _clock
    from tests.routing.conftest import agent

    _queues(deps, clock, "sales")
    router = deps.router
    router.set_presence(agent(7, sales=3), "available")
    idle_since = clock.now()
    clock.advance(300)
    router.enqueue("CA1", "sales", call_sid="CA1", phone="+13135550100")
    body = api.get("/api/acd/calls/CA1/why", as_="supervisor").json
    assert len(body["reason_parts"]) == len(body["reasons"])
    times = []
    for reason, parts in zip(body["reasons"], body["reason_parts"], strict=True):
        # Put back in the router's zone, the parts are the reason word for word.
        text = ""
        for p in parts:
            if "time" in p:
                when = datetime.fromisoformat(p["time"])
                times.append(when)
                text += _clock(router, when)
            else:
                text += p["text"]
        assert text == reason
    assert idle_since in times  # "idle since …": an instant the page shows in its own zone


CLOCKS = st.sampled_from(["09:30:05", "10:00:00", "23:59:59"])


@settings(deadline=None)  # the machine is shared: timing is not what this tests
@given(
    pieces=st.lists(st.one_of(st.text(max_size=12), CLOCKS), max_size=8),
    known=st.sets(CLOCKS, max_size=3),
)
def test_reason_parts_put_back_together_are_the_reason(pieces, known):
    """Whatever the reason's text, its parts with each time put back as the clock text it
    came from are the reason word for word, and only known clock texts become times."""
    reason = "".join(pieces)
    times = {clock: f"2026-01-05T{clock}+00:00" for clock in known}
    back = {iso: clock for clock, iso in times.items()}
    parts = reason_parts(reason, times)
    assert "".join(back[p["time"]] if "time" in p else p["text"] for p in parts) == reason
    assert all(p.get("text") != "" for p in parts)
    assert {p["time"] for p in parts if "time" in p} <= set(back)
