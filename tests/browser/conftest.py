"""Pages in headless Chromium: Debian's /usr/bin/chromium driven by playwright, the app
served over real HTTP (werkzeug's threaded server on a free loopback port) so that
EventSource, cookies and redirects behave as in production.

Skipped, with the reason shown, only when Chromium or playwright is missing
(``apt-get install -y chromium``; ``pip install -e '.[test]'``). CI installs both.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from console.stream import EXTENSION

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def screenshots(tmp_path) -> Path:
    """Where a test saves the screenshots it takes: ``SCREENSHOTS_DIR`` when set (the docs'
    pictures are made with ``SCREENSHOTS_DIR=docs/images``), else the test's own tmp_path,
    so an ordinary run leaves the checkout as it was."""
    import os

    folder = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def app(database_url, redis_url, clock, tmp_path):
    from tests.conftest import make_app

    # Short blocking reads: a closed tab is noticed (and its thread ends) within half a second.
    yield from make_app(database_url, redis_url, clock, tmp_path, ACD_STREAM_BLOCK_SECONDS=0.5)


def serve(app, wsgi):
    """``wsgi`` (the app, or the app with the simulator mounted) on http://127.0.0.1:<free
    port>, one thread per request, as `flask run`; stopped once the pages' streams end."""
    http = make_server("127.0.0.1", 0, wsgi, threaded=True)
    thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    # The pages are closed by now: their streams notice at their next heartbeat and end.
    feeds = app.extensions[EXTENSION]
    deadline = time.monotonic() + 5
    while len(feeds) and time.monotonic() < deadline:
        time.sleep(0.05)
    feeds.stop()
    http.shutdown()
    http.server_close()
    thread.join(timeout=10)


@pytest.fixture
def server(app):
    yield from serve(app, app)


@pytest.fixture
def page(browser, server):
    context = browser.new_context(base_url=server)
    context.set_default_timeout(5000)
    page = context.new_page()
    yield page
    context.close()


def login(page, username: str, password: str = "pw-123456", next_path: str = "/") -> None:
    page.goto(f"/login?next={next_path}")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{next_path}")
