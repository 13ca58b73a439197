"""The wallboard's live feed (GET /api/acd/stream, Server-Sent Events) read through the test
client's streaming response, and the wallboard page that uses it."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from console.stream import EXTENSION, _stop_on_sigterm
from crm_core.acd import create_queue
from crm_core.acd_schemas import QueueIn
from crm_core.schemas import parse
from tests.console.sse import Feed
from tests.routing.conftest import agent


@pytest.fixture
def app(database_url, redis_url, clock, tmp_path):
    from tests.conftest import make_app

    yield from make_app(database_url, redis_url, clock, tmp_path, ACD_STREAM_BLOCK_SECONDS=0.2)


@pytest.fixture
def board(deps, clock, api):
    """Two queues, a supervisor and an agent; returns the router."""
    with deps.session_factory.begin() as s:
        for name in ("sales", "service"):
            data = {"name": name, "required_skills": {name: 1}, "empty_action": "wait"}
            create_queue(s, parse(QueueIn, data), clock)
    api.user("supervisor")
    api.user("agent")
    return deps.router


@pytest.fixture
def feeds(api, app):
    opened: list[Feed] = []

    def open_feed(as_="supervisor", **headers) -> Feed:
        feed = Feed(api.get("/api/acd/stream", as_=as_, headers=headers, buffered=False))
        opened.append(feed)
        return feed

    yield open_feed
    for feed in opened:
        feed.close()
    assert len(app.extensions[EXTENSION]) == 0, "a closed feed kept its Redis connection"


def stream_ids(router) -> list[str]:
    return [i.decode() for i, _ in router.redis.xrange(router.keys.events)]


def test_headers_then_a_snapshot_of_queues_and_agents_at_the_streams_last_id(board, feeds):
    board.set_presence(agent(7, sales=3), "available")
    feed = feeds()
    response = feed.response
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Accel-Buffering"] == "no"
    assert feed.next() == {"retry": "1000"}
    snap = feed.next_event()
    assert snap["event"] == "snapshot"
    assert snap["id"] == stream_ids(board)[-1]
    assert [q["queue"] for q in snap["data"]["queues"]] == ["sales", "service"]
    assert [(a["id"], a["state"]) for a in snap["data"]["agents"]] == [(7, "available")]
    assert snap["data"]["now"] == board.clock.now().isoformat()


def test_new_router_events_follow_with_their_stream_ids(board, feeds):
    feed = feeds()
    assert feed.next_event()["event"] == "snapshot"
    board.enqueue("CA1", "sales", call_sid="CA1")
    event = feed.next_event()
    assert event["event"] == "acd"
    assert event["id"] == stream_ids(board)[-1]
    assert event["data"]["type"] and "at" in event["data"]


def test_a_heartbeat_comment_when_nothing_happens(board, feeds):
    feed = feeds()
    feed.next_event()
    started = time.monotonic()
    assert feed.next() == {"comment": "keep-alive"}
    assert time.monotonic() - started < 2


def test_last_event_id_resumes_after_it_without_a_snapshot(board, feeds):
    board.set_presence(agent(7, sales=3), "available")
    board.enqueue("CA1", "sales", call_sid="CA1")
    first, *after = stream_ids(board)
    assert after, "the offer made more events"
    feed = feeds(**{"Last-Event-ID": first})
    assert feed.next() == {"retry": "1000"}
    got = [feed.next_event() for _ in after]
    assert [(e["event"], e["id"]) for e in got] == [("acd", i) for i in after]


@pytest.mark.parametrize("last_id", ["garbage", "1-0", "99999999999999-0", ""])
def test_an_id_the_stream_no_longer_holds_gets_a_fresh_snapshot(board, feeds, last_id):
    board.set_presence(agent(7, sales=3), "available")
    board.enqueue("CA1", "sales", call_sid="CA1")
    if last_id == "1-0":  # older than everything kept: entries after it may be lost
        board.redis.xtrim(board.keys.events, maxlen=1)
    snap = feeds(**{"Last-Event-ID": last_id}).next_event()
    assert snap["event"] == "snapshot" and snap["id"] == stream_ids(board)[-1]
    assert snap["data"]["queues"][0]["waiting"] == 0  # CA1 was offered to agent 7


def test_a_response_ends_at_its_time_limit(board, feeds, app):
    app.config["ACD_STREAM_MAX_SECONDS"] = 0.5
    feed = feeds()
    started = time.monotonic()
    with pytest.raises(StopIteration):
        while True:
            feed.next()
    assert time.monotonic() - started < 3


def test_stopping_wakes_a_feed_blocked_in_its_read(board, feeds, app):
    app.config["ACD_STREAM_BLOCK_SECONDS"] = 30
    feed = feeds()
    feed.next_event()
    stopper = threading.Timer(0.3, app.extensions[EXTENSION].stop)
    stopper.start()
    started = time.monotonic()
    try:
        with pytest.raises(StopIteration):
            while True:
                feed.next()
    finally:
        stopper.join()
    assert time.monotonic() - started < 5


def test_sigterm_under_a_server_stops_the_feeds_then_runs_its_handler(app):
    feeds = app.extensions[EXTENSION]
    seen = []
    original = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        _stop_on_sigterm(feeds)
        os.kill(os.getpid(), signal.SIGTERM)
        assert feeds.stopping.wait(5)
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, original)


def test_only_supervisors_and_admins(board, api, client, feeds):
    assert api.get("/api/acd/stream", as_="agent").status_code == 403
    anonymous = client.get("/api/acd/stream")
    assert anonymous.status_code == 401 and anonymous.json["error"]
    api.user("admin")
    assert feeds("admin").next_event()["event"] == "snapshot"


# ------------------------------------------------------------------ the page


def test_wallboard_page_for_supervisors_with_its_script(board, api, client):
    page = api.get("/wallboard", as_="supervisor")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="wallboard-settings"' in html and "/console/static/wallboard.js" in html
    script = client.get("/console/static/wallboard.js")
    assert script.status_code == 200 and "EventSource" in script.get_data(as_text=True)
    script.close()
    style = client.get("/console/static/wallboard.css")
    assert style.status_code == 200
    style.close()
    assert api.get("/wallboard", as_="agent").status_code == 403
    anonymous = client.get("/wallboard")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_the_home_page_links_the_wallboard_for_supervisors_only(board, api):
    assert "/wallboard" in api.get("/", as_="supervisor").get_data(as_text=True)
    assert "/wallboard" not in api.get("/", as_="agent").get_data(as_text=True)


# ------------------------------------------------------------ one reader, fanned out


def readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "acd-stream-reader"]


def wait_for(predicate, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_many_feeds_share_one_reader_and_each_gets_every_event(board, feeds, app):
    hub = app.extensions[EXTENSION]
    before = set(readers())
    opened = [feeds() for _ in range(8)]
    for feed in opened:
        assert feed.next_event()["event"] == "snapshot"
    assert len(hub) == 8 and len(set(readers()) - before) == 1
    batches = hub.batches
    for n in range(5):
        board.enqueue(f"CA{n}", "sales", call_sid=f"CA{n}")
    ids = stream_ids(board)[-5:]
    for feed in opened:
        assert [feed.next_event()["id"] for _ in ids] == ids
    # At most one XREAD that found something per enqueue (one script), not one per feed.
    assert hub.batches - batches <= 5


def read_until(feed, last: str, heartbeats: int = 10) -> list[dict]:
    """The events up to the one with id ``last``; fails after ``heartbeats`` heartbeats
    (0.2 s each here) without it, rather than waiting for ever."""
    got: list[dict] = []
    while not got or got[-1]["id"] != last:
        message = feed.next()
        if "comment" in message:
            heartbeats -= 1
            assert heartbeats, f"no event {last} within the heartbeats; got {got}"
        elif "event" in message:
            got.append({**message, "data": json.loads(message["data"])})
    return got


def test_the_reader_ends_when_the_last_feed_leaves(board, feeds, app):
    hub = app.extensions[EXTENSION]
    before = set(readers())
    first, second = feeds(), feeds()
    first.next_event(), second.next_event()
    mine = set(readers()) - before
    assert len(mine) == 1
    first.close()
    second.close()
    assert len(hub) == 0
    assert wait_for(lambda: not mine & set(readers())), "the reader outlived its feeds"


def test_a_feed_resuming_behind_the_reader_reads_the_gap_itself(board, feeds):
    live = feeds()
    live.next_event()
    board.set_presence(agent(7, sales=3), "available")
    board.enqueue("CA1", "sales", call_sid="CA1")
    first, *after = stream_ids(board)
    assert [live.next_event()["id"] for _ in [first, *after]] == [first, *after]
    # The reader stands at the newest id; this feed starts from the first: no gap, no double.
    resumed = feeds(**{"Last-Event-ID": first})
    assert resumed.next() == {"retry": "1000"}
    board.enqueue("CA2", "sales", call_sid="CA2")
    ids = stream_ids(board)
    newer = ids[ids.index(after[-1]) + 1 :]
    assert [e["id"] for e in read_until(resumed, ids[-1])] == after + newer
    assert [e["id"] for e in read_until(live, ids[-1])] == newer
    assert resumed.next() == {"comment": "keep-alive"}


def test_a_feed_too_far_behind_gets_a_fresh_snapshot_not_a_growing_buffer(board, feeds, app):
    app.extensions[EXTENSION].buffer = 3
    slow, quick = feeds(), feeds()
    slow.next_event(), quick.next_event()
    for n in range(8):  # the slow feed reads nothing meanwhile; the quick one keeps up
        board.enqueue(f"CA{n}", "sales", call_sid=f"CA{n}")
        read_until(quick, stream_ids(board)[-1])
    ids = stream_ids(board)
    got = read_until(slow, ids[-1])
    snap, after = got[0], got[1:]
    assert snap["event"] == "snapshot" and snap["data"]["queues"][0]["waiting"] >= 4
    # It starts again from the snapshot's id: what follows has no gap, and it holds <= 3.
    assert [e["id"] for e in after] == ids[ids.index(snap["id"]) + 1 :]
    assert len(after) <= 3
    board.enqueue("CA9", "sales", call_sid="CA9")
    assert slow.next_event()["id"] == stream_ids(board)[-1]


def test_a_dropped_redis_connection_is_reconnected_without_the_feeds_noticing(board, feeds, app):
    hub = app.extensions[EXTENSION]
    feed = feeds()
    feed.next_event()
    assert wait_for(lambda: hub.reader_id is not None)
    killed = hub.reader_id
    board.redis.client_kill_filter(_id=killed)
    assert wait_for(lambda: hub.reader_id not in (None, killed)), "the reader did not reconnect"
    board.enqueue("CA1", "sales", call_sid="CA1")
    assert feed.next_event()["id"] == stream_ids(board)[-1]


def test_a_stream_lost_while_disconnected_ends_the_feeds_and_they_resync(board, feeds, app):
    hub = app.extensions[EXTENSION]
    board.enqueue("CA1", "sales", call_sid="CA1")
    feed = feeds()
    seen = feed.next_event()["id"]
    assert wait_for(lambda: hub.reader_id is not None)
    board.redis.delete(board.keys.events)  # as a Redis restarted without its data
    board.redis.client_kill_filter(_id=hub.reader_id)
    with pytest.raises(StopIteration):
        while True:
            feed.next()
    board.enqueue("CA2", "sales", call_sid="CA2")
    again = feeds(**{"Last-Event-ID": seen})
    assert again.next_event()["event"] == "snapshot"


def test_stopping_ends_every_feed_and_the_reader(board, feeds, app):
    opened = [feeds() for _ in range(3)]
    for feed in opened:
        feed.next_event()
    app.extensions[EXTENSION].stop()
    for feed in opened:
        with pytest.raises(StopIteration):
            while True:
                feed.next()
    assert wait_for(lambda: not readers())
