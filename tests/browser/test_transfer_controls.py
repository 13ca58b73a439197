"""The agent desk's transfer, consult and keypad controls in headless Chromium: the targets
come from GET /api/agents/me/transfer-targets (queues, available colleagues for a
transfer, away ones for a consult only), and an action the server refuses shows its error
inline. No carrier here (the whole calls are tests/e2e/test_transfers.py): the page's
wiring is what is tested."""

from __future__ import annotations

from playwright.sync_api import expect

from crm_core.models import User
from routing.config import profile
from tests.browser import test_agent_desk
from tests.browser.test_agent_desk import LIVE
from tests.console.test_desk import CALLER

desk, drained = test_agent_desk.desk, test_agent_desk.drained  # the desk's fixtures


def _colleague(deps, api, username, name):
    user_id, _ = api.user("agent", username=username, display_name=name, skills={"sales": 5})
    with deps.session_factory() as s:
        return profile(s.get(User, user_id))


def test_the_transfer_list_offers_queues_and_free_colleagues(desk, page, deps, api):
    bo = _colleague(deps, api, "bo", "Bo")
    cy = _colleague(deps, api, "cy", "Cy")
    page.click("#ad-available")
    expect(page.locator("#ad-state")).to_have_text("Available", timeout=LIVE)
    desk.enqueue("CA1", "sales", call_sid="CA1", phone=CALLER)
    expect(page.locator("#ad-ringing")).to_be_visible(timeout=LIVE)
    desk.set_presence(bo, "available")
    desk.set_presence(cy, "away", "lunch")
    page.click("#ad-accept")
    expect(page.locator("#ad-incall")).to_be_visible(timeout=LIVE)

    options = page.locator("#ad-transfer-target option")
    expect(page.locator("#ad-transfer-queues option")).to_have_text(["Sales floor"], timeout=LIVE)
    expect(page.locator("#ad-transfer-agents option")).to_have_text(["Bo"])
    assert options.count() == 3  # "choose…", sales, Bo: Cy is away
    expect(page.locator("#ad-consult-agent option")).to_have_text(
        ["choose a colleague…", "Bo", "Cy (lunch)"]
    )

    page.click("#ad-transfer")  # nothing chosen: said at once, nothing sent
    expect(page.locator("#ad-call-error")).to_contain_text("Choose a queue or an agent")
    expect(page.locator("#ad-consult-complete")).to_be_hidden()

    page.click(".ad-keypad-box summary")  # the keypad opens on demand
    page.click("#ad-keypad [data-key='5']")  # no conference here: the API's error, inline
    # the carrier is asked (and retried) first: not within LIVE
    expect(page.locator("#ad-call-error")).not_to_contain_text("Choose", timeout=10_000)
    expect(page.locator("#ad-call-error")).to_be_visible()
    expect(page.locator("#ad-keyed")).to_have_text("")
    assert desk.entry("CA1")["state"] == "connected"
