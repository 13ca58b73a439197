"""The supervisors' wallboard, live: tiles and the agent table follow the router within a
second, the "reconnecting" banner shows while the stream is down, and the page resyncs."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

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
    return deps.router


def tile(page, queue: str):
    return page.locator(f'.wb-tile[data-queue="{queue}"]')


def test_tiles_show_each_queue_and_a_caller_arriving_within_a_second(page, board):
    expect(page.locator(".wb-tile")).to_have_count(2)
    expect(tile(page, "sales").locator("h3")).to_have_text("sales")
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
    expect(row.locator("td.state")).to_have_text("available", timeout=LIVE)
    expect(tile(page, "sales").locator(".states")).to_contain_text("available 1")
    board.set_presence(agent(7, sales=3), "away", "lunch")
    expect(row.locator("td.state")).to_have_text("away (lunch)", timeout=LIVE)


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
