"""The supervisors' wallboard, live: tiles and the agent table follow the router within a
second, the "reconnecting" banner shows while the stream is down, and the page resyncs."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from crm_core.acd import create_queue
from crm_core.acd_schemas import QueueIn
from crm_core.schemas import parse
from tests.browser.conftest import login
from tests.routing.conftest import agent

LIVE = 1000  # ms: the "within one second of each event"
ALERT = re.compile(r"\balert\b")


@pytest.fixture
def board(deps, clock, api, page):
    """Two queues and a supervisor looking at the wallboard, its stream open."""
    with deps.session_factory.begin() as s:
        for name in ("sales", "service"):
            data = {"name": name, "required_skills": {name: 1}, "empty_action": "wait"}
            create_queue(s, parse(QueueIn, data), clock)
    api.user("supervisor", username="sue", display_name="Sue")
    login(page, "sue", next_path="/wallboard")
    expect(page.locator("#wb-status")).to_have_text("live")
    # The stream is open; its first event, the snapshot, draws the tiles.
    expect(tile(page, "sales").locator(".waiting")).to_have_text("0")
    return deps.router


def tile(page, queue: str):
    return page.locator(f'.wb-tile[data-queue="{queue}"]')


def test_tiles_show_each_queue_and_a_caller_arriving_within_a_second(page, board):
    expect(page.locator(".wb-tile")).to_have_count(2)
    expect(tile(page, "sales").locator("h3")).to_have_text("sales")  # its display name
    expect(tile(page, "sales").locator(".waiting")).to_have_text("0")
    expect(page.locator("#wb-banner")).to_be_hidden()
    board.enqueue("CA1", "sales", call_sid="CA1")
    expect(tile(page, "sales").locator(".waiting")).to_have_text("1", timeout=LIVE)
    expect(tile(page, "service").locator(".waiting")).to_have_text("0")
    # The longest wait ticks in the page, without the server.
    expect(tile(page, "sales").locator(".longest")).not_to_have_text("0:00", timeout=2500)
    expect(tile(page, "sales")).not_to_have_class(ALERT)
    board.clock.advance(130)  # past the default threshold (the queue has no max_wait_seconds)
    board.enqueue("CA2", "service", call_sid="CA2")
    expect(tile(page, "sales")).to_have_class(ALERT, timeout=LIVE)
    expect(tile(page, "service")).not_to_have_class(ALERT)


def test_an_agent_going_available_shows_in_the_table_within_a_second(page, board):
    expect(page.locator("#wb-agents tbody")).to_contain_text("No agent")
    board.set_presence(agent(7, sales=3), "available")
    row = page.locator('#wb-agents tr[data-agent="7"]')
    expect(row.locator("td.state")).to_have_text("Available", timeout=LIVE)
    expect(tile(page, "sales").locator(".states")).to_contain_text("Available 1")
    board.set_presence(agent(7, sales=3), "away", "lunch")
    expect(row.locator("td.state")).to_have_text("Away (lunch)", timeout=LIVE)


def test_a_lost_stream_shows_the_banner_then_recovers_from_a_snapshot(page, board):
    banner = page.locator("#wb-banner")
    page.route("**/api/acd/stream", lambda route: route.abort())
    page.evaluate("window.wallboard.source.close()")
    expect(banner).to_be_visible(timeout=2000)
    board.enqueue("CA1", "sales", call_sid="CA1")  # missed while down
    time.sleep(0.3)
    expect(tile(page, "sales").locator(".waiting")).to_have_text("0")
    page.unroute("**/api/acd/stream")
    expect(banner).to_be_hidden(timeout=10_000)  # the browser retries after ~3 s
    expect(tile(page, "sales").locator(".waiting")).to_have_text("1")  # from the snapshot
    board.enqueue("CA2", "sales", call_sid="CA2")
    expect(tile(page, "sales").locator(".waiting")).to_have_text("2", timeout=LIVE)


def test_a_response_at_its_time_limit_resumes_from_last_event_id(page, board, app):
    app.config["ACD_STREAM_MAX_SECONDS"] = 1
    page.evaluate("window.wallboard.connect()")  # a stream under the short limit
    expect(page.locator("#wb-status")).to_have_text("live")
    board.enqueue("CA1", "sales", call_sid="CA1")
    expect(tile(page, "sales").locator(".waiting")).to_have_text("1", timeout=LIVE)
    snapshots = page.evaluate("window.wallboard.state.snapshots")
    time.sleep(2.5)  # the server ended the response at least once; the browser reconnected
    board.enqueue("CA2", "sales", call_sid="CA2")
    expect(tile(page, "sales").locator(".waiting")).to_have_text("2", timeout=2500)
    assert page.evaluate("window.wallboard.state.snapshots") == snapshots, "resumed, no resync"


# ---------------------------------------------------------------- the supervisor's actions


@pytest.fixture
def ana(api, board):
    """Ana, a sales agent, logged in and available (through her own API)."""
    ana_id, _ = api.user("agent", username="ana", display_name="Ana", skills={"sales": 3})
    response = api.post("/api/agents/me/presence", json={"state": "available"}, as_="ana")
    assert response.status_code == 200, response.json
    return ana_id


def test_forcing_an_agent_away_changes_the_table_and_the_tile(page, board, ana, api):
    row = page.locator(f'#wb-agents tr[data-agent="{ana}"]')
    expect(row.locator("td.state")).to_have_text("Available", timeout=LIVE)
    row.locator("select[data-role=force]").select_option("away:lunch")
    # A live update re-renders the table meanwhile: the choice survives it.
    board.enqueue("CA9", "service", call_sid="CA9")
    expect(tile(page, "service").locator(".waiting")).to_have_text("1", timeout=LIVE)
    page.locator("h1").click()  # the menu closes; the deferred render happens
    expect(row.locator("select[data-role=force]")).to_have_value("away:lunch")
    row.locator("button[data-action=force]").click()
    expect(row.locator("td.state")).to_have_text("Away (lunch)", timeout=LIVE)
    expect(tile(page, "sales").locator(".states")).to_contain_text("Away 1")
    expect(row.locator(".wb-error")).to_be_hidden()
    log = api.get(f"/api/audit?target=agent:{ana}", as_="supervisor").json["entries"]
    assert [(e["action"], e["detail"]["state"]) for e in log] == [("agent.presence", "away")]
    row.locator("select[data-role=force]").select_option("offline")
    row.locator("button[data-action=force]").click()
    expect(row.locator("td.state")).to_have_text("Offline", timeout=LIVE)


def test_moving_a_waiting_caller_to_another_queue(page, board):
    board.enqueue("CA1", "sales", call_sid="CA1", phone="+15551230001")
    caller = tile(page, "sales").locator('.wb-callers li[data-entry="CA1"]')
    expect(caller.locator(".who")).to_have_text("(555) 123-0001", timeout=LIVE)
    caller.locator("select").select_option("service")
    caller.locator("button[data-action=move]").click()
    expect(tile(page, "service").locator(".waiting")).to_have_text("1", timeout=LIVE)
    expect(tile(page, "sales").locator(".waiting")).to_have_text("0")
    expect(tile(page, "service").locator('.wb-callers li[data-entry="CA1"]')).to_be_visible()
    expect(tile(page, "sales").locator(".wb-callers li")).to_have_count(0)
    assert board.entry("CA1")["queue"] == "service"


def test_a_failed_move_shows_the_servers_error_on_the_tile(page, board):
    board.enqueue("CA1", "sales", call_sid="CA1")
    caller = tile(page, "sales").locator('.wb-callers li[data-entry="CA1"]')
    expect(caller).to_be_visible(timeout=LIVE)
    # The caller hangs up while the supervisor decides; the list has not caught up yet.
    page.route("**/api/acd/waiting", lambda route: route.abort())
    page.route("**/api/acd/queues", lambda route: route.abort())
    board.caller_gone("CA1")
    caller.locator("select").select_option("service")
    caller.locator("button[data-action=move]").click()
    error = tile(page, "sales").locator(".wb-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("no longer waiting")  # the API's own message


def test_the_service_level_chart_draws_the_day_and_its_target(page, board, deps, clock):
    from tests.console.test_service_level import abandoned, answered

    now = clock.now()  # 10:00 in New York
    answered(deps, "sales", now - timedelta(hours=1), 5)
    answered(deps, "sales", now - timedelta(minutes=20), 50)
    page.evaluate("window.wallboard.loadCharts()")
    chart = tile(page, "sales").locator("svg.wb-sl-chart")
    expect(chart).to_have_attribute("data-points", "2")
    expect(chart.locator("line.target")).to_have_count(1)
    expect(chart.locator("circle.point.below")).to_have_count(1)  # 09:30: 0 %
    expect(tile(page, "service").locator("svg.wb-sl-chart text.none")).to_have_text("no calls yet")
    abandoned(deps, "sales", now - timedelta(minutes=50), 30)
    page.evaluate("window.wallboard.loadCharts()")
    expect(chart.locator("circle.point")).to_have_count(2)  # the same buckets
    expect(chart.locator("circle.point.below")).to_have_count(2)  # 09:00: 1 of 2, 50 %
    # The chart survives the tiles' re-rendering on a live event.
    board.enqueue("CA1", "sales", call_sid="CA1")
    expect(tile(page, "sales").locator(".waiting")).to_have_text("1", timeout=LIVE)
    expect(tile(page, "sales").locator("svg.wb-sl-chart")).to_have_attribute("data-points", "2")


def test_listen_calls_the_monitor_api_and_shows_its_error(page, board, ana):
    """Without a carrier here the monitor API answers an error: the row shows it. (The
    carrier part, the supervisor's leg in the conference, is tests/e2e/test_supervise.py;
    the monitoring bar is tested with the API's answers below.)"""
    board.enqueue("CA1", "sales", call_sid="CA1")
    assert board.accept(ana, "CA1").state == "connected"
    row = page.locator(f'#wb-agents tr[data-agent="{ana}"]')
    listen = row.locator('button[data-action=monitor][data-mode="listen"]')
    expect(listen).to_be_visible(timeout=LIVE)
    with page.expect_request("**/api/acd/calls/CA1/monitor") as sent:
        listen.click()
    request = sent.value
    assert request.method == "POST" and request.post_data_json == {"mode": "listen"}
    assert request.headers.get("x-csrftoken")
    expect(row.locator(".wb-error")).to_be_visible()
    expect(row.locator(".wb-error")).not_to_be_empty()
    expect(page.locator("#wb-monitor")).to_be_hidden()


def test_why_this_agent_shows_the_reasons_in_a_popover_or_the_error(page, board, ana):
    """The real ``GET /api/acd/calls/<entry>/why`` (routing/why.py words it; tested there)."""
    board.enqueue("CA1", "sales", call_sid="CA1")
    assert board.accept(ana, "CA1").state == "connected"
    row = page.locator(f'#wb-agents tr[data-agent="{ana}"]')
    row.locator("button[data-action=why]").click()
    popover = page.locator("#wb-why")
    expect(popover).to_be_visible()
    title = re.compile(r"^Ana for sales: offered .*, longest idle, 1 agent could take it$")
    expect(popover.locator(".title")).to_have_text(title)
    expect(popover.locator("li").first).to_contain_text("routes by longest idle")
    expect(popover).to_contain_text("sales 3 (needs 1)")
    page.keyboard.press("Escape")
    expect(popover).to_be_hidden()

    # The record is gone (kept two days): the API's 404 shows beside the button.
    for key in board.redis.scan_iter(match=board.keys.why("*")):
        board.redis.delete(key)
    row.locator("button[data-action=why]").click()
    expect(row.locator(".wb-error")).to_contain_text("CA1")
    expect(popover).to_be_hidden()


def test_the_monitoring_bar_switches_mode_and_leaves(page, board, ana):
    """The bar's requests, in order, against the monitor API's answers in their real shape
    (the carrier side is tests/e2e/test_supervise.py)."""
    board.enqueue("CA1", "sales", call_sid="CA1")
    assert board.accept(ana, "CA1").state == "connected"
    sent = []

    def answer(route):
        request = route.request
        sent.append((request.url.split("/api/")[1], request.post_data_json))
        body = {
            "entry": "CA1",
            "participant": "CAsup",
            "mode": (request.post_data_json or {}).get("mode"),
        }
        if request.url.endswith("/leave"):
            body = {"entry": "CA1", "participant": "CAsup", "left": True}
        route.fulfill(status=201 if request.url.endswith("/monitor") else 200, json=body)

    page.route("**/api/acd/calls/CA1/monitor**", answer)
    row = page.locator(f'#wb-agents tr[data-agent="{ana}"]')
    row.locator('button[data-mode="whisper"]').click()
    bar = page.locator("#wb-monitor")
    expect(bar.locator(".what")).to_have_text("Monitoring Ana's call: whisper")
    expect(row.locator('button[data-mode="barge"]')).to_be_disabled()  # one call at a time
    bar.locator('button[data-mode="barge"]').click()
    expect(bar.locator(".what")).to_have_text("Monitoring Ana's call: barge")
    expect(bar.locator('button[data-mode="barge"]')).to_have_attribute("aria-pressed", "true")
    bar.locator("button[data-action=leave]").click()
    expect(bar).to_be_hidden()
    assert sent == [
        ("acd/calls/CA1/monitor", {"mode": "whisper"}),
        ("acd/calls/CA1/monitor/CAsup", {"mode": "barge"}),
        ("acd/calls/CA1/monitor/CAsup/leave", {}),
    ]
    expect(row.locator('button[data-mode="listen"]')).to_be_enabled()

    # Monitoring again, then the call ends: the carrier drops the supervisor's leg with the
    # conference, so the bar goes by itself and the buttons come back.
    row.locator('button[data-mode="listen"]').click()
    expect(bar.locator(".what")).to_have_text("Monitoring Ana's call: listen")
    board.call_ended("CA1")
    expect(bar).to_be_hidden(timeout=1000)
    expect(row.locator('button[data-mode="listen"]')).to_have_count(0)  # no call, no buttons


# ---------------------------------------------------------------- readable, at any width

SIZES = [(1366, 768), (1920, 1080), (900, 700), (600, 800)]


@pytest.fixture
def busy(api, board, ana):
    """Callers known to the CRM waiting in both queues, and Ana on a call with one."""
    for phone, first, last in (
        ("+13135550100", "Maria", "Lopez"),
        ("+13135550111", "James", "Carter"),
        ("+13135550122", "Priya", "Shah"),
    ):
        created = api.post(
            "/api/customers", json={"first_name": first, "last_name": last, "phones": [phone]}
        )
        assert created.status_code == 201, created.json
    board.enqueue("CA1", "sales", call_sid="CA1", phone="+13135550100")
    assert board.accept(ana, "CA1").state == "connected"
    board.enqueue("CA2", "sales", call_sid="CA2", phone="+13135550111")
    board.enqueue("CA3", "service", call_sid="CA3", phone="+13135550122")
    board.enqueue("CA4", "service", call_sid="CA4", phone="+442079460018")
    return board


def test_a_waiting_caller_shows_name_and_national_number_and_move_starts_empty(page, busy):
    caller = tile(page, "sales").locator('.wb-callers li[data-entry="CA2"]')
    expect(caller.locator(".who")).to_have_text("James Carter (313) 555-0111", timeout=LIVE)
    expect(caller.locator(".who .phone")).to_have_attribute("title", "+13135550111")
    unknown = tile(page, "service").locator('.wb-callers li[data-entry="CA4"] .who')
    expect(unknown).to_have_text("+44 207 946 0018")  # nobody has the number: it alone
    select = caller.locator("select")
    expect(select).to_have_value("")  # "Move to…": no queue chosen for the supervisor
    expect(select.locator("option:checked")).to_have_text("Move to…")
    expect(select.locator("option:not([disabled])")).to_have_text(["service"])  # not its own
    move = caller.locator("button[data-action=move]")
    expect(move).to_be_disabled()
    select.select_option("service")
    expect(move).to_be_enabled()
    move.click()
    moved = tile(page, "service").locator('.wb-callers li[data-entry="CA2"]')
    expect(moved).to_be_visible(timeout=LIVE)
    expect(moved.locator("select")).to_have_value("")  # the next move starts empty again
    assert busy.entry("CA2")["queue"] == "service"


def test_an_agents_call_shows_the_caller_never_the_callsid(page, busy, ana):
    row = page.locator(f'#wb-agents tr[data-agent="{ana}"]')
    expect(row.locator("td.state")).to_have_text("On a call", timeout=LIVE)
    expect(row.locator("td.call")).to_have_text("Maria Lopez (313) 555-0100")
    expect(row).not_to_contain_text("CA1")
    expect(row.locator("td.since")).to_have_text(re.compile(r"^\d+:\d\d$"))


def test_the_totals_row_equals_the_api(page, busy, api):
    busy.clock.advance(30)
    busy.caller_gone("CA4")  # abandoned after 30 s; CA1 was answered at once
    totals = page.locator("#wb-totals")
    expect(totals.locator(".abandoned .value")).to_have_text("1", timeout=LIVE)
    queues = api.get("/api/acd/queues", as_="supervisor").json["queues"]
    answered_n = sum(q["today"]["answered"] for q in queues)
    abandoned_n = sum(q["today"]["abandoned"] for q in queues)
    within = sum(q["today"]["answered_within"] for q in queues)
    assert (answered_n, abandoned_n, within) == (1, 1, 1)
    expect(totals.locator(".waiting .value")).to_have_text(str(sum(q["waiting"] for q in queues)))
    expect(totals.locator(".answered .value")).to_have_text(str(answered_n))
    expect(totals.locator(".sl .value")).to_have_text("50 %")  # 1 within of 1 + 1
    longest = max(q["longest_wait_seconds"] for q in queues)
    assert longest >= 30
    minutes, seconds = totals.locator(".longest .value").inner_text().split(":")
    assert abs(int(minutes) * 60 + int(seconds) - longest) <= 2


OVERFLOWS = """() => {
  const out = [];
  const inside = (a, b) => a.left >= b.left - 0.5 && a.right <= b.right + 0.5
    && a.top >= b.top - 0.5 && a.bottom <= b.bottom + 0.5;
  const meets = (a, b) => a.left < b.right - 0.5 && b.left < a.right - 0.5
    && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
  for (const box of document.querySelectorAll(".wb-tile, #wb-agents td, .wb-total")) {
    const outer = box.getBoundingClientRect();
    for (const el of box.querySelectorAll("button, select, .who, .waited, dd, dt, .value")) {
      const r = el.getBoundingClientRect();
      const what = `${el.className || el.tagName} out of ${box.className}`;
      if (r.width && !inside(r, outer)) out.push(what);
    }
  }
  for (const row of document.querySelectorAll(".wb-callers li, #wb-agents td.actions")) {
    const els = [...row.querySelectorAll("button, select, .who, .waited")]
      .map((e) => e.getBoundingClientRect()).filter((r) => r.width);
    for (let i = 0; i < els.length; i++) {
      for (let j = i + 1; j < els.length; j++) {
        if (meets(els[i], els[j])) out.push(`overlap in ${row.dataset.entry || row.className}`);
      }
    }
  }
  if (document.documentElement.scrollWidth > window.innerWidth + 1) out.push("page too wide");
  return out;
}"""


def _overflows(page) -> list[str]:
    """Every button, select and caller line that pokes out of its tile or table cell, or
    overlaps another, and a page wider than the window: none, at any size."""
    return page.evaluate(OVERFLOWS)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_no_button_leaves_its_tile_or_cell(page, busy, ana, api, size):
    long_name = "Service department and the parts counter, after hours"
    changed = api.patch("/api/queues/service", json={"display_name": long_name}, as_="admin")
    assert changed.status_code == 200, changed.json
    page.set_viewport_size({"width": size[0], "height": size[1]})
    deadline = time.monotonic() + 10  # the router reads queue settings at most every 5 s
    while tile(page, "service").locator("h3").inner_text() != long_name:
        assert time.monotonic() < deadline, "the new display name never showed"
        time.sleep(0.5)
        page.reload()
        expect(tile(page, "service").locator(".wb-callers li")).to_have_count(2, timeout=LIVE)
    expect(tile(page, "service").locator(".wb-callers li")).to_have_count(2, timeout=LIVE)
    expect(
        page.locator(f'#wb-agents tr[data-agent="{ana}"] button[data-action=end-call]')
    ).to_be_visible()
    assert _overflows(page) == []


def test_tv_mode_enlarges_the_type_and_hides_the_controls(page, busy, ana, screenshots):
    page.set_viewport_size({"width": 1920, "height": 1080})
    expect(tile(page, "sales").locator('.wb-callers li[data-entry="CA2"]')).to_be_visible(
        timeout=LIVE
    )
    expect(page.locator(f'#wb-agents tr[data-agent="{ana}"] td.name')).to_be_visible()
    size = lambda sel: page.eval_on_selector(sel, "e => parseFloat(getComputedStyle(e).fontSize)")  # noqa: E731
    normal = size(".wb-tile .waiting"), size("#wb-agents td.name")
    assert page.locator("header.site").is_visible()
    page.goto("/wallboard?tv=1")
    expect(page.locator("body")).to_have_class(re.compile(r"\btv\b"))
    expect(tile(page, "sales").locator('.wb-callers li[data-entry="CA2"]')).to_be_visible(
        timeout=LIVE
    )
    expect(page.locator(f'#wb-agents tr[data-agent="{ana}"] td.name')).to_be_visible()
    large = size(".wb-tile .waiting"), size("#wb-agents td.name")
    assert large[0] >= 1.3 * normal[0] and large[1] >= 1.3 * normal[1], (normal, large)
    assert large[1] >= 20  # a name readable from across the room on a 1080p screen
    assert not page.locator("header.site").is_visible()
    expect(page.locator(f'#wb-agents tr[data-agent="{ana}"] td.actions')).to_be_hidden()
    expect(tile(page, "sales").locator(".wb-callers .move").first).to_be_hidden()
    assert _overflows(page) == []
    page.screenshot(path=str(screenshots / "wallboard-tv.png"))


def test_the_tv_button_goes_full_screen(page, busy):
    page.click("#wb-tv")
    expect(page.locator("body")).to_have_class(re.compile(r"\btv\b"))
    assert page.evaluate("Boolean(document.fullscreenElement)")
    expect(page.locator("#wb-tv")).to_have_attribute("aria-pressed", "true")
    page.evaluate("document.exitFullscreen()")
    expect(page.locator("body")).not_to_have_class(re.compile(r"\btv\b"))


def test_screenshot_of_a_busy_board(page, busy, ana, api, deps, clock, screenshots):
    from tests.console.test_service_level import answered

    # Two more agents: Luis rings with the next sales caller, Maya is away at lunch.
    for name, skills, state in (
        ("Luis", {"sales": 2}, "available"),
        ("Maya", {"service": 2}, "away"),
    ):
        api.user("agent", username=name.lower(), display_name=name, skills=skills)
        body = {"state": state, **({"reason": "lunch"} if state == "away" else {})}
        response = api.post("/api/agents/me/presence", json=body, as_=name.lower())
        assert response.status_code == 200, response.json

    answered(deps, "sales", clock.now() - timedelta(minutes=40), 5)
    answered(deps, "sales", clock.now() - timedelta(minutes=20), 50)
    page.set_viewport_size({"width": 1366, "height": 768})
    page.evaluate("window.wallboard.loadCharts()")
    expect(page.locator(f'#wb-agents tr[data-agent="{ana}"] td.call')).to_contain_text("Maria")
    expect(tile(page, "service").locator(".wb-callers li")).to_have_count(2)
    busy.enqueue("CA5", "sales", call_sid="CA5", phone="+13135550188")  # Luis is offered a call
    from crm_core.models import Call, CallDirection

    with deps.session_factory.begin() as s:  # an earlier call of Ana's, not wrapped up
        s.add(
            Call(
                call_sid="CAearlier",
                direction=CallDirection.INBOUND,
                from_number="+13135550166",
                to_number="+13135550199",
                agent_id=ana,
                queue="sales",
                talk_seconds=240,
                created_at=clock.now() - timedelta(minutes=50),
                ended_at=clock.now() - timedelta(minutes=45),
                outcome_draft={"disposition": "appointment_set", "notes": "Test drive Sat 10am"},
            )
        )
    page.evaluate("window.wallboard.loadMissing()")
    expect(page.locator("#wb-missing-count")).to_have_text("1")
    expect(page.locator("#wb-agents td.call").filter(has_text="Ringing")).to_have_text(
        re.compile(r"^Ringing: (James Carter \(313\) 555-0111|\(313\) 555-0188)$")
    )
    page.screenshot(path=str(screenshots / "wallboard.png"), full_page=True)
    assert _overflows(page) == []


# ---------------------------------------------------------------- ending and chasing calls


def test_end_call_asks_first_then_ends_it(page, busy, ana):
    row = page.locator(f'#wb-agents tr[data-agent="{ana}"]')
    end = row.locator("button[data-action=end-call]")
    expect(end).to_be_visible(timeout=LIVE)
    # The caller's name comes with the waiting list, a request of its own after the row.
    expect(row.locator("td.call")).to_contain_text("Maria Lopez", timeout=LIVE)
    asked = []

    def answer(dialog):
        asked.append(dialog.message)
        dialog.dismiss() if len(asked) == 1 else dialog.accept()

    page.on("dialog", answer)
    end.click()  # dismissed: nothing happens
    expect(row.locator("td.call")).to_contain_text("Maria Lopez")
    assert busy.entry("CA1")["state"] == "connected"
    with page.expect_request("**/api/acd/calls/CA1/end") as sent:
        end.click()
    assert sent.value.method == "POST"
    assert asked[0] == "End the call between Ana and Maria Lopez? Both sides are hung up."
    expect(row.locator("td.call")).to_be_empty(timeout=LIVE)
    expect(row.locator("button[data-action=end-call]")).to_have_count(0)
    expect(row.locator(".wb-error")).to_be_hidden()


def test_force_offline_on_a_call_says_it_happens_after_the_call(page, busy, ana):
    row = page.locator(f'#wb-agents tr[data-agent="{ana}"]')
    expect(row.locator("td.state")).to_have_text("On a call", timeout=LIVE)
    row.locator("select[data-role=force]").select_option("offline")
    row.locator("button[data-action=force]").click()
    expect(row.locator(".wb-note")).to_contain_text("signed out when it ends")
    expect(row.locator("td.state")).to_have_text("On a call, signing out after this call")
    expect(row.locator(".wb-error")).to_be_hidden()
    busy.call_ended("CA1")
    expect(row.locator("td.state")).not_to_contain_text("On a call", timeout=LIVE)


def test_calls_without_a_disposition_show_agent_caller_time_and_draft(page, busy, ana, deps, clock):
    from crm_core.models import Call, CallDirection, Customer, CustomerPhone

    with deps.session_factory.begin() as s:
        maria = s.scalars(
            select(Customer).join(CustomerPhone).where(CustomerPhone.e164 == "+13135550100")
        ).one()
        base = {"to_number": "+13135550199", "agent_id": ana, "queue": "sales"}
        s.add_all(
            [
                Call(
                    call_sid="CAdraft",
                    direction=CallDirection.INBOUND,
                    from_number="+13135550100",
                    customer_id=maria.id,
                    created_at=clock.now() - timedelta(minutes=30),
                    ended_at=clock.now() - timedelta(minutes=25),
                    outcome_draft={"disposition": "callback_requested", "notes": "Call back at 5"},
                    talk_seconds=60,
                    **base,
                ),
                Call(
                    call_sid="CAnone",
                    direction=CallDirection.INBOUND,
                    from_number="+13135550177",
                    created_at=clock.now() - timedelta(minutes=10),
                    ended_at=clock.now() - timedelta(minutes=8),
                    talk_seconds=60,
                    **base,
                ),
            ]
        )
    page.evaluate("window.wallboard.loadMissing()")
    panel = page.locator("#wb-missing")
    expect(page.locator("#wb-missing-count")).to_have_text("2")
    rows = panel.locator("tbody tr")
    expect(rows).to_have_count(2)
    newest, older = rows.nth(0), rows.nth(1)
    expect(newest.locator(".agent")).to_have_text("Ana")
    expect(newest.locator("td.caller")).to_have_text("(313) 555-0177")
    expect(newest.locator(".draft")).to_have_text("No draft")
    expect(older.locator("td.caller")).to_have_text("Maria Lopez (313) 555-0100")
    expect(older.locator(".draft")).to_have_text("Draft: Callback requested, “Call back at 5”")
    expect(older.locator(".when")).to_contain_text("(25 min ago)")
    expect(older.locator(".queue")).to_have_text("Inbound, sales")
    expect(panel).not_to_contain_text("CAdraft")
