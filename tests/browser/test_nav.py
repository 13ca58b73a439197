"""The navigation bar every signed-in page carries (templates/base.html, console/pages.py):
links by role, the current page marked, the user's name and role as a word, log out; the
dealership's name as the brand; nothing cut off or wrapped out of the bar at 1366x768."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import login

BAR_FITS = """() => {
  const bar = document.querySelector("header.site").getBoundingClientRect();
  const out = [];
  for (const el of document.querySelectorAll("header.site a, header.site button, #nav-user")) {
    const r = el.getBoundingClientRect();
    if (r.left < bar.left || r.right > bar.right || r.top < bar.top || r.bottom > bar.bottom)
      out.push(el.id || el.textContent.trim());
  }
  if (document.documentElement.scrollWidth > window.innerWidth + 1) out.push("page too wide");
  return out;
}"""


@pytest.fixture
def people(api):
    api.user("agent", username="ana", display_name="Ana Agent")
    api.user("supervisor", username="sue", display_name="Sue Supervisor")
    api.user("admin", username="ada", display_name="Ada Admin")


def links(page) -> list[str]:
    return page.locator("header.site nav a").all_inner_texts()


def test_an_agent_sees_the_desk_and_their_scores_never_the_wallboard(page, people):
    page.set_viewport_size({"width": 1366, "height": 768})
    login(page, "ana", next_path="/qa/mine")
    assert links(page) == ["Agent desk", "My QA scores"]
    expect(page.locator("#nav-wallboard")).to_have_count(0)
    expect(page.locator("#nav-my-scores-page")).to_have_attribute("aria-current", "page")
    expect(page.locator("#nav-user")).to_have_text("Ana Agent · Agent")
    assert page.evaluate(BAR_FITS) == []
    page.click("#nav-desk")
    page.wait_for_url("**/agent")
    expect(page.locator("#nav-desk")).to_have_attribute("aria-current", "page")
    expect(page.locator("#nav-my-scores-page")).not_to_have_attribute("aria-current", "page")
    assert page.evaluate(BAR_FITS) == []


@pytest.mark.parametrize(
    ("username", "word", "extra"),
    [("sue", "Supervisor", []), ("ada", "Administrator", ["API tokens"])],
)
def test_supervisors_and_admins_see_the_wallboard_and_qa_review(
    page, people, username, word, extra
):
    page.set_viewport_size({"width": 1366, "height": 768})
    login(page, username, next_path="/wallboard")
    assert links(page) == ["Agent desk", "Wallboard", "QA review", *extra]
    expect(page.locator("#nav-wallboard")).to_have_attribute("aria-current", "page")
    expect(page.locator("#nav-user .role")).to_have_text(word)
    assert page.evaluate(BAR_FITS) == []
    page.click("#nav-qa-page")
    page.wait_for_url("**/qa")
    expect(page.locator("#nav-qa-page")).to_have_attribute("aria-current", "page")
    page.click("#nav-logout")
    page.wait_for_url("**/login")
    expect(page.locator("header.site nav")).to_have_count(0)  # the login page has no bar
    expect(page.locator("header.site .brand")).to_have_text("Call center")


def test_the_brand_is_the_dealerships_name(page, people, app):
    app.config["DEALER_NAME"] = "Motor City Motors"
    page.goto("/login")
    expect(page.locator("header.site .brand")).to_have_text("Motor City Motors")
    assert page.title() == "Log in · Motor City Motors"
    login(page, "sue", next_path="/")
    expect(page.locator("h1")).to_have_text("Motor City Motors")
    expect(page.locator("#signed-in")).to_have_text("Signed in as Sue Supervisor, supervisor.")


def test_a_refused_page_says_so_in_words(page, people):
    login(page, "ana", next_path="/")
    page.goto("/wallboard")
    expect(page.locator("h1")).to_have_text("This page is not open to you")
    expect(page.locator("header.site nav a")).to_have_count(2)  # the bar still leads on
