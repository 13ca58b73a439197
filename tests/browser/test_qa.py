"""QA in the browser: a supervisor scores a recording on /qa (a missing answer is pointed
at, then the score saves), the agent reads it on /qa/mine, and the wallboard's agent table
shows the agent's average in its QA column."""

from __future__ import annotations

from playwright.sync_api import expect

from recording.models import Recording, RecordingStatus
from tests.browser.conftest import login
from tests.recording.test_qa import ALL_FULL, make_recording
from tests.routing.conftest import agent


def test_score_a_recording_then_the_agent_and_the_wallboard_see_it(
    browser, server, page, api, deps, clock
):
    ana, _ = api.user("agent", username="ana", display_name="Ana Agent")
    api.user("supervisor", username="sue", display_name="Sue")
    rid = make_recording(deps, clock, ana)
    make_recording(deps, clock, ana, status=RecordingStatus.DELETED, sid="REGONE")

    login(page, "sue", next_path="/qa")
    expect(page.locator("#qa")).to_have_attribute("data-ready", "1")
    rows = page.locator("#qa-recordings tbody tr")
    expect(rows).to_have_count(1)  # the deleted one cannot be listened to, so is not listed
    row = page.locator(f'#qa-recordings tr[data-recording="{rid}"]')
    expect(row).to_contain_text("Ana Agent")
    row.get_by_role("button", name="Score").click()
    expect(page.locator("#qa-player")).to_have_attribute("src", f"/api/recordings/{rid}/media")
    expect(page.locator("#qa-scores")).to_contain_text("Not scored yet.")

    for criterion, points in ALL_FULL.items():
        if criterion == "courtesy":
            continue  # left unanswered: the server says which
        value = "0" if criterion == "compliance" else str(points)
        page.select_option(f"#qa-c-{criterion}", value)
    page.select_option("#qa-c-trade_in", "na")
    page.click("#qa-save")
    expect(page.locator("#qa-error")).to_contain_text("'courtesy' has no answer")
    expect(page.locator('#qa-criteria tr[data-criterion="courtesy"]')).to_have_class("invalid")

    page.select_option("#qa-c-courtesy", "2")
    # compliance (20) missed, trade-in (5) not applicable: 75 of 95
    expect(page.locator("#qa-total")).to_have_text("78.9 %")
    page.fill("#qa-comments", "Never take the card number on a recorded line.")
    page.click("#qa-save")
    expect(page.locator("#qa-saved")).to_have_text("Saved: 78.9 %")
    expect(page.locator("#qa-error")).to_be_hidden()
    expect(page.locator("#qa-scores .qa-score")).to_have_count(1)
    expect(page.locator("#qa-scores")).to_contain_text("reviewed by Sue")
    expect(row.locator("td.count")).to_have_text("1")

    # The wallboard: the agent's row carries the 30-day average and count.
    deps.router.set_presence(agent(ana), "available")
    page.goto("/wallboard")
    expect(page.locator("#wb-agents thead th.qa")).to_have_text("QA score")
    wallboard_row = page.locator(f'#wb-agents tr[data-agent="{ana}"]')
    expect(wallboard_row.locator("td.qa")).to_have_text("78.9 % (1)")

    # The agent's own page, in their own session.
    context = browser.new_context(base_url=server)
    context.set_default_timeout(5000)
    try:
        mine = context.new_page()
        login(mine, "ana", next_path="/qa/mine")
        expect(mine.locator("#qa")).to_have_attribute("data-ready", "1")
        items = mine.locator("#qa-mine .qa-score")
        expect(items).to_have_count(1)
        expect(items.locator(".total")).to_have_text("78.9 %")
        expect(items).to_contain_text("Never take the card number on a recorded line.")
        expect(items).to_contain_text("Compliance: no card or bank details")
        expect(items).to_contain_text("Not applicable")
        expect(items.locator(".about")).to_contain_text("Inbound from (313) 555-0100")
        expect(items.locator(".about")).to_contain_text("script: Inbound")
        expect(items.locator("audio")).to_have_attribute("src", f"/api/recordings/{rid}/media")
        mine.goto("/qa")
        expect(mine.locator("body")).to_contain_text("supervisor")  # 403: not for agents
    finally:
        context.close()


def test_the_criteria_point_at_the_step_of_the_calls_own_script(page, api, deps, clock):
    """An inbound call is scored beside the inbound script's steps, never labelled with the
    outbound sales script's; an outbound call beside the outbound script's."""
    from crm_core.models import Call, CallDirection

    ana, _ = api.user("agent", username="ana", display_name="Ana Agent")
    api.user("supervisor", username="sue", display_name="Sue")
    inbound = make_recording(deps, clock, ana, sid="REIN")
    outbound = make_recording(deps, clock, ana, sid="REOUT")
    with deps.session_factory.begin() as s:
        call = s.get(Call, s.get(Recording, outbound).call_id)
        call.direction = CallDirection.OUTBOUND_DIAL
        call.from_number, call.to_number = "+13135550199", "+13135550142"

    login(page, "sue", next_path="/qa")
    expect(page.locator("#qa")).to_have_attribute("data-ready", "1")
    row = page.locator(f'#qa-recordings tr[data-recording="{inbound}"]')
    expect(row.locator("td.call")).to_have_text("Inbound from (313) 555-0100")
    expect(row.locator("td.script")).to_have_text("Inbound")
    row.get_by_role("button", name="Score").click()
    expect(page.locator("#qa-call-script")).to_contain_text(
        "The agent's script on this call: Inbound"
    )
    vehicle = page.locator('#qa-criteria tr[data-criterion="vehicle"] .ref')
    expect(vehicle).to_have_text("Inbound script, step “Vehicle”")
    # The outbound script's "identify" step is not in the inbound script: no reference.
    expect(page.locator('#qa-criteria tr[data-criterion="identification"] .ref')).to_have_count(0)
    expect(page.locator("#qa-criteria")).not_to_contain_text("outbound")
    expect(page.locator("#qa-criteria")).not_to_contain_text("Outbound")

    other = page.locator(f'#qa-recordings tr[data-recording="{outbound}"]')
    expect(other.locator("td.call")).to_have_text("Outbound to (313) 555-0142")
    other.get_by_role("button", name="Score").click()
    expect(page.locator('#qa-criteria tr[data-criterion="identification"] .ref')).to_have_text(
        "Outbound sales script, step “Identify”"
    )
    expect(page.locator("#qa-scorecard option:checked")).not_to_contain_text("qa_call")
