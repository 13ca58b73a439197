"""The JSON API: the screen pop, leads and their stages, calls and outcomes, bad input."""

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_core import calls
from crm_core.models import CallDirection

LEAD = {
    "customer": {"first_name": "Maria", "last_name": "Gonzalez", "phones": ["(313) 555-0101"]},
    "source_type": "marketplace",
    "source_name": "Cars.com",
    "temperature": 85,
    "vehicles": [{"relation": "interest", "make": "Toyota", "model": "RAV4", "year": 2025}],
}


def test_lead_to_screen_pop_to_stage_change(api):
    created = api.post("/api/leads", json=LEAD)
    assert created.status_code == 201, created.json
    lead = created.json
    pop = api.get("/api/customers", query_string={"phone": "+1 313 555 0101"}).json
    assert pop["customers"][0]["name"] == "Maria Gonzalez"
    cid = pop["customers"][0]["id"]
    detail = api.get(f"/api/customers/{cid}").json
    assert detail["leads"][0]["id"] == lead["id"] and detail["timeline"]
    moved = api.post(f"/api/leads/{lead['id']}/stage", json={"stage": "engaged"})
    assert moved.status_code == 200 and moved.json["stage"] == "engaged"
    illegal = api.post(f"/api/leads/{lead['id']}/stage", json={"stage": "new"})
    assert illegal.status_code == 409
    assert illegal.json["error"].items() >= {"id": "illegal-stage-change", "field": "stage"}.items()
    assert (
        api.get("/api/leads", query_string={"min_temperature": 80}).json["leads"][0]["id"]
        == (lead["id"])
    )


def test_screen_pop_miss_and_bad_phone(api):
    assert api.get("/api/customers?phone=3135550199").json == {"customers": []}
    bad = api.get("/api/customers?phone=hello")
    assert bad.status_code == 400 and bad.json["error"]["field"] == "phone"
    none = api.get("/api/customers")
    assert none.status_code == 400


def test_duplicate_phone_is_409_naming_the_field(api):
    api.post("/api/customers", json={"phones": ["3135550101"]})
    again = api.post("/api/customers", json={"phones": ["+13135550101"]})
    assert again.status_code == 409 and again.json["error"]["field"] == "phones"


def test_bad_filters_name_the_parameter(api):
    for query, field in [
        ("stage=winning", "stage"),
        ("min_temperature=200", "min_temperature"),
        ("limit=0", "limit"),
        ("created_after=yesterday", "created_after"),
        ("created_after=2026-01-05T10:00:00", "created_after"),
    ]:
        response = api.get(f"/api/leads?{query}")
        assert response.status_code == 400 and response.json["error"]["field"] == field, query


def test_outcome_through_the_api(api, deps, clock):
    lead = api.post("/api/leads", json=LEAD).json
    agent_id, _ = api.user("agent")
    with deps.session_factory.begin() as s:
        calls.log_call(
            s,
            call_sid="CA" + "7" * 32,
            direction=CallDirection.INBOUND,
            from_number="+13135550101",
            to_number="+13135550100",
            clock=clock,
            agent_id=agent_id,
        )
    start = (clock.now() + timedelta(days=1)).isoformat()
    done = api.post(
        f"/api/calls/CA{'7' * 32}/outcome",
        json={
            "disposition": "appointment_set",
            "notes": "RAV4 test drive",
            "appointment": {"type": "test_drive", "start_at": start},
        },
    )
    assert done.status_code == 200, done.json
    assert api.get(f"/api/leads/{lead['id']}").json["stage"] == "appointment_set"
    assert api.get(f"/api/calls/CA{'7' * 32}").json["disposition"] == "appointment_set"
    assert api.get("/api/calls/999").status_code == 404
    naive = api.post(
        f"/api/calls/CA{'7' * 32}/outcome",
        json={"disposition": "callback", "callback": {"due_at": "2026-01-06T10:00:00"}},
    )
    assert naive.status_code == 400 and naive.json["error"]["field"] == "callback.due_at"


def test_privacy_export_and_erase_as_admin(api):
    api.post("/api/leads", json=LEAD)
    cid = api.get("/api/customers?phone=3135550101").json["customers"][0]["id"]
    export = api.get(f"/api/customers/{cid}/export", as_="admin")
    assert export.status_code == 200 and export.json["customer"]["last_name"] == "Gonzalez"
    assert api.post(f"/api/customers/{cid}/erase", as_="admin").status_code == 204
    assert api.get(f"/api/customers/{cid}").status_code == 404


def test_non_json_and_oversized_bodies(api):
    text = api.post("/api/leads", data="not json", headers={"Content-Type": "text/plain"})
    assert text.status_code == 400
    array = api.post("/api/leads", json=[1, 2])
    assert array.status_code == 400
    huge = api.post("/api/customers", json={"notes": "x" * 2_000_000})
    assert huge.status_code == 413


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "customer": st.fixed_dictionaries(
            {}, optional={"phones": JSON, "first_name": JSON, "email": JSON, "price_min": JSON}
        ),
        "customer_id": JSON,
        "source_type": st.sampled_from(["website", "bogus"]) | JSON,
        "temperature": JSON,
        "vehicles": JSON,
        "stage": JSON,
        "disposition": JSON,
        "appointment": JSON,
        "callback": JSON,
        "duplicate_id": JSON,
        "channel": JSON,
        "address": JSON,
        "status": JSON,
    },
)
POSTS = [
    "/api/leads",
    "/api/customers",
    "/api/leads/1/stage",
    "/api/calls/CA1/outcome",
    "/api/customers/1/merge",
    "/api/customers/1/consent",
    "/api/customers/1/phones",
]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=st.sampled_from(POSTS), body=FIELDS | JSON)
def test_fuzzed_bodies_never_500(api, path, body):
    response = api.post(path, json=body, as_="supervisor")
    assert response.status_code < 500, (path, body, response.json)
    assert response.is_json


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    key=st.sampled_from(
        [
            "phone",
            "q",
            "stage",
            "limit",
            "offset",
            "min_temperature",
            "customer_id",
            "since",
            "created_after",
        ]
    ),
    value=st.text(max_size=50),
)
def test_fuzzed_query_strings_never_500(api, key, value):
    for path in ("/api/customers", "/api/leads", "/api/calls"):
        response = api.get(path, query_string={key: value})
        assert response.status_code < 500, (path, key, value, response.json)
