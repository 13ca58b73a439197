"""The customer routes the agent's card uses: create from the call, edit with history,
duplicates and merge; who may merge; and malformed input of every kind giving a 4xx that
names the field, never a 500."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from crm_core import customers
from crm_core.acd import create_queue
from crm_core.acd_schemas import QueueIn
from crm_core.models import Call, CallDirection
from crm_core.schemas import parse

CALLER = "+13135550142"


@pytest.fixture
def app(database_url, redis_url, clock, tmp_path):
    from tests.conftest import make_app

    yield from make_app(database_url, redis_url, clock, tmp_path, ACD_STREAM_BLOCK_SECONDS=0.2)


def add_call(deps, clock, sid="CA1", number=CALLER, customer_id=None):
    with deps.session_factory.begin() as s:
        s.add(
            Call(
                call_sid=sid,
                direction=CallDirection.INBOUND,
                from_number=number,
                to_number="+18005550000",
                created_at=clock.now(),
                customer_id=customer_id,
            )
        )


def caller_from_ivr(deps, clock, number=CALLER) -> int:
    """What the IVR does for a new number: a customer with the phone and no name."""
    with deps.session_factory.begin() as s:
        return customers.create_from_caller_id(s, number, clock).id


def test_the_unknown_caller_is_filled_in_and_the_card_comes_back(api, deps, clock):
    api.user("agent", display_name="Amy")
    cid = caller_from_ivr(deps, clock)
    add_call(deps, clock, customer_id=cid)
    saved = api.patch(
        f"/api/customers/{cid}",
        json={
            "first_name": "Maria",
            "last_name": "Gonzalez",
            "email": "maria@example.com",
            "postal_code": "02134",
            "language": "es-US",
            "vehicle_of_interest": {"year": 2025, "make": "Toyota", "model": "RAV4"},
            "trade_in": {"make": "Honda", "model": "Civic", "trade_payoff": 4000},
            "call_sid": "CA1",
        },
    )
    assert saved.status_code == 200, saved.json
    card = saved.json
    assert (card["name"], card["postal_code"], card["language"]) == (
        "Maria Gonzalez",
        "02134",
        "es-US",
    )
    assert card["phones"] == [{"number": CALLER, "kind": "mobile", "primary": True}]
    assert card["vehicle_of_interest"]["text"] == "2025 Toyota RAV4"
    assert card["trade_in"]["trade_payoff"] == 4000.0
    detail = api.get(f"/api/customers/{cid}").json
    assert detail["vehicle_of_interest"]["model"] == "RAV4"
    latest = detail["timeline"][0]
    assert latest["summary"].startswith(
        "Amy changed name from none to Maria Gonzalez; e-mail from none to maria@example.com"
    )
    assert latest["actor_id"] == api.user("agent")[0]
    assert latest["occurred_at"] == clock.now().isoformat()
    assert api.get("/api/calls/CA1").json["customer_id"] == cid


def test_a_withheld_caller_is_created_with_the_call_linked(api, deps, clock):
    add_call(deps, clock, number="anonymous")
    created = api.post("/api/customers", json={"first_name": "Lee", "call_sid": "CA1"})
    assert created.status_code == 201, created.json
    assert api.get("/api/calls/CA1").json["customer_id"] == created.json["id"]
    missing = api.post("/api/customers", json={"first_name": "Lee", "call_sid": "CA404"})
    assert missing.status_code == 404 and missing.json["error"]["field"] == "call_sid"


def test_bad_fields_are_400_naming_the_field(api, deps, clock):
    cid = caller_from_ivr(deps, clock)
    for body, field in [
        ({"email": "maria@"}, "email"),
        ({"postal_code": "2134"}, "postal_code"),
        ({"phone": "12"}, "phone"),
        ({"language": None}, "language"),
        ({"language": "Klingon"}, "language"),
        ({"preferred_channel": "pigeon"}, "preferred_channel"),
        ({"contact_hours_start": "9am"}, "contact_hours_start"),
        ({"trade_in": {"odometer": -1}}, "trade_in.odometer"),
        ({"vehicle_of_interest": "a car"}, "vehicle_of_interest"),
        ({"nickname": "M"}, "nickname"),
    ]:
        response = api.patch(f"/api/customers/{cid}", json=body)
        assert response.status_code == 400, (body, response.json)
        assert response.json["error"]["field"] == field, body
    assert api.patch("/api/customers/999999", json={"first_name": "X"}).status_code == 404


def test_a_number_another_customer_has_is_409_naming_them(api, deps, clock):
    maria = api.post(
        "/api/customers", json={"first_name": "Maria", "last_name": "G", "phones": ["3135550100"]}
    ).json
    cid = caller_from_ivr(deps, clock)
    taken = api.patch(f"/api/customers/{cid}", json={"phone": "(313) 555-0100"})
    assert taken.status_code == 409
    error = taken.json["error"]
    assert (error["field"], error["details"]["customer_id"]) == ("phone", maria["id"])
    assert error["message"] == f"(313) 555-0100 already belongs to Maria G (customer {maria['id']})"
    found = api.get(f"/api/customers/{cid}/duplicates", query_string={"phone": "3135550100"})
    assert [(d["id"], d["matched_on"]) for d in found.json["duplicates"]] == [
        (maria["id"], ["phone"])
    ]


def test_duplicates_by_email_then_a_supervisor_merges(api, deps, clock):
    maria = api.post(
        "/api/customers",
        json={"first_name": "Maria", "email": "Maria@Example.com", "phones": ["3135550100"]},
    ).json
    cid = caller_from_ivr(deps, clock)
    api.patch(f"/api/customers/{cid}", json={"email": "maria@example.com"})
    found = api.get(f"/api/customers/{cid}/duplicates").json["duplicates"]
    assert found == [
        {
            "id": maria["id"],
            "name": "Maria",
            "phones": [{"number": "+13135550100", "kind": "mobile", "primary": True}],
            "email": "Maria@example.com",
            "matched_on": ["email"],
            "last_contact": None,
        }
    ]
    merged = api.post(
        f"/api/customers/{cid}/merge", json={"other_id": maria["id"]}, as_="supervisor"
    )
    assert merged.status_code == 200, merged.json
    assert merged.json["first_name"] == "Maria"
    assert {p["number"] for p in merged.json["phones"]} == {CALLER, "+13135550100"}
    assert api.get(f"/api/customers/{cid}/duplicates").json == {"duplicates": []}
    gone = api.get(f"/api/customers/{maria['id']}")
    assert gone.status_code == 404
    assert gone.json["error"]["message"] == (
        f"customer {maria['id']} was merged into customer {cid}"
    )
    timeline = api.get(f"/api/customers/{cid}/timeline").json["timeline"]
    assert timeline[0]["kind"] == "merge"
    assert timeline[0]["summary"].startswith(f"Merged with Maria (customer {maria['id']}) by")


def test_merge_refusals(api, deps, clock):
    a = api.post("/api/customers", json={"first_name": "A"}).json["id"]
    b = api.post("/api/customers", json={"first_name": "B"}).json["id"]
    same = api.post(f"/api/customers/{a}/merge", json={"other_id": a}, as_="supervisor")
    assert same.status_code == 409 and same.json["error"]["field"] == "other_id"
    for body in ({}, {"other_id": "2"}, {"other_id": True}, {"other_id": -1}, {"other_id": 2**40}):
        bad = api.post(f"/api/customers/{a}/merge", json=body, as_="supervisor")
        assert bad.status_code == 400 and bad.json["error"]["field"] == "other_id", body
    assert api.post(f"/api/customers/{b}/erase", as_="admin").status_code == 204
    erased = api.post(f"/api/customers/{a}/merge", json={"other_id": b}, as_="supervisor")
    assert erased.status_code == 409 and "erased" in erased.json["error"]["message"]
    assert api.get(f"/api/customers/{a}").status_code == 200


def test_an_agent_merges_into_the_customer_of_their_call_only(api, deps, clock):
    with deps.session_factory.begin() as s:
        create_queue(s, parse(QueueIn, {"name": "sales", "required_skills": {"sales": 1}}), clock)
    api.user("agent", skills={"sales": 5})
    cid = caller_from_ivr(deps, clock)
    other = api.post("/api/customers", json={"first_name": "Maria", "email": "m@x.com"}).json
    third = api.post("/api/customers", json={"first_name": "Third"}).json
    add_call(deps, clock, customer_id=cid)
    # The customers' own route is for supervisors; an agent not on the call gets nowhere.
    direct = api.post(f"/api/customers/{cid}/merge", json={"other_id": other["id"]})
    assert direct.status_code == 403
    early = api.post("/api/calls/CA1/customer/merge", json={"other_id": other["id"]})
    assert early.status_code == 404 and early.json["error"]["field"] == "call_sid"
    api.post("/api/agents/me/presence", json={"state": "available"})
    deps.router.enqueue("CA1", "sales", call_sid="CA1", phone=CALLER)
    assert api.post("/api/agents/me/offers/CA1/accept").json["state"] == "busy"
    stale = api.post(
        "/api/calls/CA1/customer/merge", json={"other_id": other["id"], "customer_id": third["id"]}
    )
    assert stale.status_code == 409 and stale.json["error"]["field"] == "customer_id"
    merged = api.post(
        "/api/calls/CA1/customer/merge", json={"other_id": other["id"], "customer_id": cid}
    )
    assert merged.status_code == 200, merged.json
    assert (merged.json["id"], merged.json["name"]) == (cid, "Maria")
    # Still in wrap-up after the caller hangs up.
    deps.router.call_ended("CA1")
    again = api.post("/api/calls/CA1/customer/merge", json={"other_id": third["id"]})
    assert again.status_code == 200 and again.json["id"] == cid


def test_a_call_without_a_customer_cannot_merge_yet(api, deps, clock):
    add_call(deps, clock, number="anonymous")
    other = api.post("/api/customers", json={"first_name": "Maria"}).json
    refused = api.post(
        "/api/calls/CA1/customer/merge", json={"other_id": other["id"]}, as_="supervisor"
    )
    assert (
        refused.status_code == 409
        and "save the caller's details" in (refused.json["error"]["message"])
    )


def test_duplicates_query_is_checked(api, deps, clock):
    cid = caller_from_ivr(deps, clock)
    bad_phone = api.get(f"/api/customers/{cid}/duplicates", query_string={"phone": "hello"})
    assert bad_phone.status_code == 400 and bad_phone.json["error"]["field"] == "phone"
    bad_email = api.get(f"/api/customers/{cid}/duplicates", query_string={"email": "x@"})
    assert bad_email.status_code == 400 and bad_email.json["error"]["field"] == "email"
    assert api.get("/api/customers/999999/duplicates").status_code == 404


GARBAGE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3)
    ),
    max_leaves=8,
)
VEHICLE_KEYS = ["vin", "year", "make", "model", "trim", "odometer", "trade_payoff", "trade_value",
                "condition", "price", "stock_number"]  # fmt: skip
CARD_KEYS = ["first_name", "last_name", "email", "phone", "phones", "language", "postal_code",
             "address_line1", "city", "state", "time_zone", "preferred_channel",
             "contact_hours_start", "contact_hours_end", "price_min", "price_max",
             "preferred_makes", "call_sid", "notes"]  # fmt: skip
VEHICLE = st.fixed_dictionaries({}, optional=dict.fromkeys(VEHICLE_KEYS, GARBAGE)) | GARBAGE
BODY = st.fixed_dictionaries(
    {},
    optional=dict.fromkeys(CARD_KEYS, GARBAGE)
    | {
        "vehicle_of_interest": VEHICLE,
        "trade_in": VEHICLE,
        "other_id": GARBAGE,
        "customer_id": GARBAGE,
    },
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(method=st.sampled_from(["POST", "PATCH", "MERGE", "CALL MERGE"]), body=BODY | GARBAGE)
def test_every_field_garbage_is_4xx_never_500(api, deps, clock, method, body):
    with deps.session_factory.begin() as s:
        found = customers.find_by_phone(s, CALLER)
        cid = found.id if found else customers.create_from_caller_id(s, CALLER, clock).id
        has_call = s.scalar(select(Call.id).where(Call.call_sid == "CA1"))
    if not has_call:
        add_call(deps, clock, customer_id=cid)
    if method == "POST":
        response = api.post("/api/customers", json=body)
    elif method == "PATCH":
        response = api.patch(f"/api/customers/{cid}", json=body)
    elif method == "MERGE":
        response = api.post(f"/api/customers/{cid}/merge", json=body, as_="supervisor")
    else:
        response = api.post("/api/calls/CA1/customer/merge", json=body, as_="supervisor")
    assert response.status_code < 500, (method, body, response.json)
    assert response.is_json
    if response.status_code >= 400:
        assert response.json["error"]["message"]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(key=st.sampled_from(["phone", "email"]), value=st.text(max_size=60))
def test_fuzzed_duplicate_queries_never_500(api, deps, clock, key, value):
    with deps.session_factory.begin() as s:
        found = customers.find_by_phone(s, CALLER)
        cid = found.id if found else customers.create_from_caller_id(s, CALLER, clock).id
    response = api.get(f"/api/customers/{cid}/duplicates", query_string={key: value})
    assert response.status_code < 500, (key, value, response.json)
