"""`callcenter demo` stopped and started again over the same database: the new simulator
mints CallSids of its own (never the first run's), so the next call gets a new Call row and
its caller is greeted as who they are, not as the first run's caller. Both runs serve the
app with its embedded simulator over real HTTP to headless Chromium."""

from __future__ import annotations

from contextlib import contextmanager

from playwright.sync_api import expect
from sqlalchemy import select

from app import create_app
from console.demo import shutdown
from crm_core.models import Call, CallDirection
from tests.browser.conftest import serve
from tests.browser.test_demo import PUBLIC, app, sim
from tests.test_demo import ACCOUNT, API, NUMBER, TOKEN, demo_data, embed_simulator, run

__all__ = ["app", "demo_data", "sim"]  # fixtures, used by name
MARIA = "+13135550101"  # a seeded customer: the first run's caller
STRANGER = "+13135550177"  # nobody the CRM knows: the second run's caller


def demo_settings(database_url, redis_url, clock, tmp_path) -> dict:
    """The settings the first run's app fixture uses, for the restarted app."""
    return {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "test-secret",
        "CLOCK": clock,
        "PUBLIC_BASE_URL": PUBLIC,
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_API_BASE_URL": API,
        "TWILIO_CALLER_ID": NUMBER,
        "DEMO_MODE": True,
        "ACD_STREAM_BLOCK_SECONDS": 0.5,
    }


@contextmanager
def served(browser, app):
    """The app (and the simulator embedded in it) on a loopback port, and a browser page."""
    server = serve(app, app)
    url = next(server)
    context = browser.new_context(base_url=url)
    context.set_default_timeout(5000)
    try:
        yield context.new_page()
    finally:
        context.close()
        shutdown(app)  # what `callcenter demo` does when it stops
        next(server, None)


def place_call(page, sim, deps, caller: str):
    page.goto("/demo/phone")
    page.fill("#dp-from", caller)
    page.click("#dp-call")
    expect(page.locator("#dp-hangup")).to_be_enabled()
    run(sim, deps, 3)
    transcript = page.locator("#dp-transcript")
    expect(transcript).to_contain_text("calling")
    return transcript


def test_a_restarted_demo_gives_the_next_call_a_new_row(
    browser,
    app,
    sim,
    deps,
    clock,
    database_url,
    redis_url,
    tmp_path,
):
    with served(browser, app) as page:
        first = place_call(page, sim, deps, MARIA)
        expect(first).to_contain_text("Hi Maria, thank you for calling")
        page.click("#dp-hangup")
        run(sim, deps, 2)
        expect(page.locator("#dp-state")).to_have_text("ended (completed)")

    # Stopped; started again: a new app and a new simulator over the same database.
    again = create_app(demo_settings(database_url, redis_url, clock, tmp_path))
    deps_again = again.extensions["callcenter"]
    try:
        sim_again = embed_simulator(again, deps_again, clock, PUBLIC)
        with served(browser, again) as page:
            second = place_call(page, sim_again, deps_again, STRANGER)
            expect(second).to_contain_text("Thank you for calling")
            expect(second).not_to_contain_text("Maria")
            page.click("#dp-hangup")
            run(sim_again, deps_again, 2)
        assert sim.errors == [] and sim_again.errors == []
        with deps_again.session_factory() as s:
            calls = s.scalars(
                select(Call)
                .where(Call.direction == CallDirection.INBOUND)
                .order_by(Call.created_at, Call.id)
            ).all()
        assert [c.from_number for c in calls] == [MARIA, STRANGER]
        sids = [c.call_sid for c in calls]
        assert len(set(sids)) == 2 and all(len(s) == 34 and s.startswith("CA") for s in sids)
        assert calls[0].customer_id != calls[1].customer_id
    finally:
        deps_again.close()
