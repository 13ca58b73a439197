"""GET /api/acd/service-level: the day's service level per queue, bucket by bucket, from
the router's SQL records (accepted offers, announced estimates, the calls' rows), and
GET /api/acd/waiting, the callers a tile lists. Real database and Redis."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from crm_core.acd import OfferRecord, WaitEstimate, create_queue
from crm_core.acd_schemas import OfferOutcome, QueueIn, WaitOutcome
from crm_core.models import Call, CallDirection
from crm_core.schemas import parse

URL = "/api/acd/service-level"
NY_MIDNIGHT = datetime(2026, 1, 5, 5, 0, tzinfo=UTC)  # 2026-01-05 00:00 in New York


@pytest.fixture
def queues(deps, clock, api):
    with deps.session_factory.begin() as s:
        sales = {"name": "sales", "service_level_seconds": 20, "empty_action": "wait"}
        create_queue(s, parse(QueueIn, sales), clock)
        paris = {"name": "paris", "time_zone": "Europe/Paris", "service_level_seconds": 30}
        paris["empty_action"] = "wait"
        create_queue(s, parse(QueueIn, paris), clock)
    api.user("supervisor")
    return deps


_n = iter(range(1, 10_000))


def answered(deps, queue: str, at: datetime, wait: int | None, *, estimate=True, call=None):
    """An accepted offer at ``at`` after ``wait`` seconds; the wait known from an announced
    estimate, or (estimate=False) from the call's row (``call``: its wait_seconds, None
    while the call goes on)."""
    sid = f"CA{next(_n):032d}"
    with deps.session_factory.begin() as s:
        s.add(
            OfferRecord(
                offered_at=at - timedelta(seconds=3),
                queue_name=queue,
                call_sid=sid,
                entry_id=sid,
                strategy="longest_idle",
                rule="longest idle",
                candidates=[],
                outcome=OfferOutcome.ACCEPTED,
                outcome_at=at,
            )
        )
        if estimate:
            s.add(_estimate(sid, queue, at - timedelta(seconds=wait), wait, WaitOutcome.ANSWERED))
        else:
            s.add(
                Call(
                    call_sid=sid,
                    direction=CallDirection.INBOUND,
                    created_at=at - timedelta(seconds=call[0]),
                    queue=queue,
                    wait_seconds=call[1],
                )
            )
    return sid


def _estimate(sid, queue, entered, actual, outcome, announced_after=0):
    return WaitEstimate(
        call_sid=sid,
        queue_name=queue,
        announced_at=entered + timedelta(seconds=announced_after),
        position=1,
        waited_seconds=announced_after,
        estimate_seconds=30,
        actual_wait_seconds=actual,
        outcome=outcome,
    )


def abandoned(deps, queue: str, at: datetime, wait: int):
    """A caller who heard two estimates, then hung up at ``at`` after ``wait`` seconds."""
    sid = f"CA{next(_n):032d}"
    entered = at - timedelta(seconds=wait)
    with deps.session_factory.begin() as s:
        s.add(_estimate(sid, queue, entered, wait, WaitOutcome.ABANDONED, 0))
        s.add(_estimate(sid, queue, entered, wait, WaitOutcome.ABANDONED, min(wait, 30)))


def day(api, **params):
    response = api.get(URL, query_string=params, as_="supervisor")
    assert response.status_code == 200, response.json
    return {q["queue"]: q for q in response.json["queues"]}


def test_buckets_count_answers_within_the_threshold_and_abandons(api, queues):
    at = NY_MIDNIGHT + timedelta(hours=9, minutes=5)  # 09:05 New York
    answered(queues, "sales", at, 5)
    answered(queues, "sales", at + timedelta(minutes=1), 20)  # exactly the threshold: within
    answered(queues, "sales", at + timedelta(minutes=2), 21)
    abandoned(queues, "sales", at + timedelta(minutes=3), 45)
    answered(queues, "sales", at + timedelta(minutes=40), 2)  # the 09:30 bucket
    sales = day(api, date="2026-01-05", queue="sales")["sales"]
    assert sales["time_zone"] == "America/New_York" and sales["service_level_seconds"] == 20
    assert len(sales["buckets"]) == 48 and sales["target"] == 0.8
    nine = sales["buckets"][18]
    assert nine["start"] == "2026-01-05T09:00:00-05:00"
    assert (nine["answered"], nine["answered_within"], nine["abandoned"]) == (3, 2, 1)
    assert nine["offered"] == 4 and nine["service_level"] == 0.5
    assert sales["buckets"][19]["service_level"] == 1.0
    assert sales["buckets"][17]["service_level"] is None  # no call: no figure, not 0
    assert sales["total"] == {
        "offered": 5,
        "answered": 4,
        "answered_within": 3,
        "abandoned": 1,
        "service_level": 0.6,
    }
    hours = day(api, date="2026-01-05", queue="sales", minutes="60")["sales"]
    assert len(hours["buckets"]) == 24 and hours["buckets"][9]["offered"] == 5


def test_an_event_falls_in_the_bucket_where_it_happened_edges_half_open(api, queues):
    edge = NY_MIDNIGHT + timedelta(hours=10)
    answered(queues, "sales", edge - timedelta(microseconds=1), 3)  # 09:59:59.999999
    answered(queues, "sales", edge, 3)  # 10:00:00 belongs to 10:00
    abandoned(queues, "sales", edge + timedelta(seconds=10), 60)  # waited across the edge
    answered(queues, "sales", NY_MIDNIGHT - timedelta(seconds=1), 3)  # the day before
    answered(queues, "sales", NY_MIDNIGHT + timedelta(days=1), 3)  # the next day
    sales = day(api, date="2026-01-05", queue="sales")["sales"]
    b = sales["buckets"]
    assert b[19]["answered"] == 1 and b[20]["answered"] == 1 and b[20]["abandoned"] == 1
    assert sales["total"]["offered"] == 3
    assert b[0]["offered"] == 0 and b[47]["offered"] == 0
    before = day(api, date="2026-01-04", queue="sales")["sales"]
    assert before["total"]["answered"] == 1 and before["buckets"][47]["answered"] == 1


def test_each_queue_has_its_own_time_zone_and_today(api, queues, clock):
    # 23:30 UTC on the 5th: still the 5th in New York, already the 6th in Paris.
    clock.set(datetime(2026, 1, 5, 23, 30, tzinfo=UTC))
    paris_morning = datetime(2026, 1, 6, 8, 0, tzinfo=UTC)  # 09:00 in Paris
    answered(queues, "paris", datetime(2026, 1, 5, 23, 10, tzinfo=UTC), 10)  # 00:10 Paris
    answered(queues, "paris", paris_morning, 40)  # outside Paris's 30 s
    today = day(api)
    assert today["sales"]["date"] == "2026-01-05" and today["paris"]["date"] == "2026-01-06"
    paris = today["paris"]
    assert paris["buckets"][0]["start"] == "2026-01-06T00:00:00+01:00"
    assert paris["buckets"][0]["answered_within"] == 1
    assert paris["buckets"][18]["answered"] == 1 and paris["buckets"][18]["answered_within"] == 0
    assert today["sales"]["total"]["offered"] == 0  # Paris's calls are not New York's


def test_a_day_when_the_clocks_change_has_its_real_length(api, queues):
    spring = day(api, date="2026-03-08", queue="sales")["sales"]  # New York skips 02:00-03:00
    assert len(spring["buckets"]) == 46
    starts = [b["start"] for b in spring["buckets"]]
    assert starts[3] == "2026-03-08T01:30:00-05:00" and starts[4] == "2026-03-08T03:00:00-04:00"
    assert len(day(api, date="2026-11-01", queue="sales")["sales"]["buckets"]) == 50


def test_an_answer_before_the_call_ends_needs_a_known_wait(api, queues):
    at = NY_MIDNIGHT + timedelta(hours=11)
    # No estimate was announced (answered at once) and the call goes on: only the call's
    # age bounds the wait. 12 s old: within 20 s for sure. 90 s old: not known yet.
    answered(queues, "sales", at, None, estimate=False, call=(12, None))
    answered(queues, "sales", at, None, estimate=False, call=(90, None))
    # Ended: the row has the router's wait.
    answered(queues, "sales", at, None, estimate=False, call=(300, 15))
    answered(queues, "sales", at, None, estimate=False, call=(300, 25))
    total = day(api, date="2026-01-05", queue="sales")["sales"]["total"]
    assert (total["answered"], total["answered_within"]) == (3, 2)


def test_an_empty_day_has_every_bucket_and_no_figure(api, queues):
    sales = day(api, date="2030-06-01", queue="sales")["sales"]
    assert len(sales["buckets"]) == 48
    assert all(b["offered"] == 0 and b["service_level"] is None for b in sales["buckets"])
    assert sales["total"]["service_level"] is None


@pytest.mark.parametrize(
    "params, field",
    [
        ({"date": "2026-1-5"}, "date"),
        ({"date": "20260105"}, "date"),
        ({"date": "2026-02-30"}, "date"),
        ({"date": "9999-12-31"}, "date"),
        ({"date": "yesterday"}, "date"),
        ({"minutes": "15"}, "minutes"),
        ({"minutes": "abc"}, "minutes"),
    ],
)
def test_malformed_input_is_a_400_naming_the_field(api, queues, params, field):
    response = api.get(URL, query_string=params, as_="supervisor")
    assert response.status_code == 400, response.json
    assert response.json["error"]["field"] == field


def test_an_unknown_queue_is_a_404(api, queues):
    response = api.get(URL, query_string={"queue": "nope"}, as_="supervisor")
    assert response.status_code == 404 and response.json["error"]["field"] == "queue"


@pytest.mark.parametrize("role, status", [("agent", 403), ("supervisor", 200), ("admin", 200)])
def test_only_leads_read_it(api, queues, role, status):
    assert api.get(URL, as_=role).status_code == status
    assert api.get("/api/acd/waiting", as_=role).status_code == status


def test_the_waiting_callers_in_the_order_served(api, queues, clock):
    router = queues.router
    router.enqueue("CA1", "sales", call_sid="CA1", phone="+15551230001")
    clock.advance(5)
    router.enqueue("CA2", "sales", call_sid="CA2", phone="+15551230002", needs={"french": 1})
    clock.advance(5)
    router.enqueue("CA3", "paris", call_sid="CA3")
    router.enqueue("CA4", "sales", call_sid="CA4", priority=1)  # VIP: served first
    response = api.get("/api/acd/waiting", as_="supervisor")
    assert response.status_code == 200, response.json
    sales = response.json["queues"]["sales"]
    assert [c["entry"] for c in sales] == ["CA4", "CA1", "CA2"]
    assert sales[1] == {
        "entry": "CA1",
        "phone": "+15551230001",
        "kind": "call",
        "priority": 0,
        "waited_seconds": 10,
    }
    assert [c["entry"] for c in response.json["queues"]["paris"]] == ["CA3"]
    router.caller_gone("CA1")
    sales = api.get("/api/acd/waiting", as_="supervisor").json["queues"]["sales"]
    assert [c["entry"] for c in sales] == ["CA4", "CA2"]


@pytest.mark.parametrize("setting, ratio", [(80, 0.8), (95.5, 0.955), (0.9, 0.9)])
def test_the_target_setting_is_a_percentage(app, api, queues, setting, ratio):
    """WALLBOARD_SERVICE_LEVEL_TARGET is documented in %; the page and the API use a ratio
    (80 once reached the page as 80.0 and every tile with a figure was an alert)."""
    app.config["WALLBOARD_SERVICE_LEVEL_TARGET"] = setting
    html = api.get("/wallboard", as_="supervisor").get_data(as_text=True)
    raw = html.split('id="wallboard-settings">')[1].split("</script>")[0]
    assert json.loads(raw)["serviceLevelTarget"] == ratio
    assert api.get(URL, as_="supervisor").json["queues"][0]["target"] == ratio
