"""The library: the bundled scripts, hot reload, and the ``callcenter scripts`` commands."""

from __future__ import annotations

import logging

import pytest

from crm_core.clock import ManualClock
from scripts import BUNDLED, Kind, Library, ScriptError, check_dir
from scripts.schema import SPOKEN
from tests.conftest import make_app
from tests.scripts.files import write

HOLD = """
name: {name}
version: {version}
kind: hold
languages: [en-US, es-MX]
texts:
  welcome:
    en-US: "{text}"
    es-MX: "Gracias por esperar."
"""


def hold(name: str = "hold", version: object = 1, text: str = "Thank you for holding.") -> str:
    return HOLD.format(name=name, version=version, text=text)


# ---------------------------------------------------------------- the bundled library


def test_the_bundled_library_validates():
    scripts, problems = check_dir(BUNDLED)
    assert problems == []
    assert {s.name: s.kind for s in scripts} == {
        "acd_hold": Kind.HOLD,
        "appointment_sms": Kind.SMS,
        "auto_attendant": Kind.AUTO_ATTENDANT,
        "elevator_pitch": Kind.PITCH,
        "inbound": Kind.OUTBOUND,  # an agent's script: steps, like the outbound one
        "outbound_sales": Kind.OUTBOUND,
        "post_visit_email": Kind.EMAIL,
        "qa_call": Kind.SCORECARD,  # what supervisors score recordings against (recording/qa.py)
        "voicemail": Kind.VOICEMAIL,
    }


def test_every_caller_facing_text_has_both_languages():
    library = Library()
    for script in library.scripts():
        for key in script.text_keys():
            languages = set(script.templates[key])
            assert {"en-US", "es-MX"} <= languages, (script.name, key)
            if script.kind in SPOKEN:
                english = script.text(key, "en-US")
                spanish = script.text(key, "es-MX")
                assert english and spanish, (script.name, key)


def test_the_auto_attendant_has_the_menu_and_messages_of_the_issue():
    attendant = Library().get("auto_attendant")
    menu = {o.digit: o for o in attendant.menu}
    assert {d: (o.action.value, o.queue) for d, o in menu.items()} == {
        "1": ("queue", "sales"),
        "2": ("queue", "service"),
        "3": ("queue", "payments"),
        "4": ("queue", "roadside"),
        "5": ("appointment", None),
        "0": ("queue", "operator"),
        "9": ("repeat", None),
        "8": ("language", None),
    }
    assert menu["4"].priority.value == "emergency" and menu["8"].language == "es-MX"
    assert "Para español, oprima 8." in attendant.text("main_menu", "en-US")
    for key in (
        "greeting",
        "greeting_known",
        "recording_notice",
        "no_input",
        "invalid_input",
        "after_hours",
        "holiday",
        "appointment_shortcut",
        "roadside_location",
        "voicemail_greeting",
    ):
        assert key in attendant.text_keys()
    shortcut = attendant.text("appointment_shortcut", "en-US")
    assert (
        shortcut.startswith("Are you calling about your appointment on") and "Press 1" in shortcut
    )


def test_the_hold_script_has_every_text_the_acd_says():
    """routing/views.py reads these keys from the queue's hold script (acd_hold by default)."""
    hold_script = Library().get("acd_hold")
    used = {
        "position",
        "callback_choice",
        "kept_place",
        "goodbye",
        "empty_callback",
        "empty_voicemail",
        "overflow_callback",
        "overflow_voicemail",
    }
    assert used <= set(hold_script.text_keys())
    for lang in ("en-US", "es-MX"):
        for key in used:
            assert hold_script.text(key, lang, {}), (lang, key)
    spoken = hold_script.text("position", "en-US", {"queue": {"position": 2, "wait_minutes": 3}})
    assert spoken == "Your place in line is 2. Your estimated wait is about 3 minutes."


def test_the_outbound_script_qualifies_and_pauses_for_card_details():
    outbound = Library().get("outbound_sales")
    fields = {s.field.value for s in outbound.steps if s.field}
    assert {"vehicle_of_interest", "timeframe", "trade_in", "financing"} <= fields
    assert [s.id for s in outbound.steps if s.sensitive] == ["take_deposit"]
    assert outbound.steps[0].id == "opening"
    assert {a.next for a in outbound.step("opening").answers} >= {"voicemail_drop", "identify"}
    assert any(s.id.startswith("objection_") for s in outbound.steps)


def test_the_pitch_is_sixty_seconds():
    pitch = Library().get("elevator_pitch")
    assert sum(s.seconds for s in pitch.sections) == pitch.duration_seconds == 60


# ---------------------------------------------------------------- hot reload


def test_a_changed_file_is_reloaded_without_a_restart(script_dir, clock, caplog):
    path = write(script_dir / "hold.yaml", hold(version=1, text="Version one."))
    library = Library(script_dir, clock)
    assert library.get("hold").version == 1
    assert library.text("hold", "welcome") == "Version one."

    write(path, hold(version=2, text="Version two."))
    assert library.get("hold").version == 1  # looked less than a second ago
    clock.advance(1)
    assert library.get("hold").version == 2
    assert library.text("hold", "welcome") == "Version two."

    # Broken: the last good version stays in service, and the problem is logged.
    write(path, hold(version=3, text="Version {three}."))
    clock.advance(1)
    with caplog.at_level(logging.ERROR, logger="callcenter.scripts"):
        assert library.get("hold").version == 2
    assert [(e.line, e.message.split(":")[0]) for e in library.errors] == [
        (7, "text 'welcome' (en-US)")
    ]
    assert "hold.yaml:7: text 'welcome' (en-US): unknown variable {three}" in caplog.text
    caplog.clear()
    clock.advance(1)
    with caplog.at_level(logging.ERROR, logger="callcenter.scripts"):
        library.get("hold")
    assert caplog.text == ""  # logged once per change, not on every look

    write(path, hold(version="2026-02", text="Fixed."))
    clock.advance(1)
    assert library.get("hold").ref == "hold@2026-02" and library.errors == []


def test_files_come_and_go(script_dir, clock):
    write(script_dir / "a.yaml", hold(name="first"))
    library = Library(script_dir, clock)
    assert [s.name for s in library.scripts()] == ["first"]
    write(script_dir / "b.yaml", hold(name="second"))
    write(script_dir / "c.yaml", hold(name="first"))
    (script_dir / "notes.txt").write_text("not a script")
    clock.advance(2)
    assert [s.name for s in library.scripts()] == ["first", "second"]
    assert [e.message for e in library.errors] == ["script name 'first' is already used by a.yaml"]
    (script_dir / "a.yaml").unlink()
    clock.advance(2)
    assert library.get("first").path.name == "c.yaml" and library.errors == []
    assert "second" in library


def test_a_file_broken_from_the_start_is_not_served(script_dir, clock):
    write(script_dir / "bad.yaml", "name: [\n")
    library = Library(script_dir, clock)
    assert library.scripts() == [] and len(library.errors) == 1
    with pytest.raises(KeyError):
        library.get("bad")


def test_a_missing_directory_is_an_error(tmp_path):
    with pytest.raises(ScriptError, match="not a directory"):
        Library(tmp_path / "nowhere", ManualClock())


# ---------------------------------------------------------------- the app and the commands


def test_the_app_builds_the_library_once(app, deps):
    assert isinstance(deps.scripts, Library) and deps.scripts.path == BUNDLED
    assert deps.scripts.get("auto_attendant").kind is Kind.AUTO_ATTENDANT


def test_scripts_dir_setting(database_url, redis_url, clock, tmp_path, script_dir):
    write(script_dir / "hold.yaml", hold(name="custom-hold"))
    for app in make_app(database_url, redis_url, clock, tmp_path, SCRIPTS_DIR=str(script_dir)):
        library = app.extensions["callcenter"].scripts
        assert [s.name for s in library.scripts()] == ["custom-hold"]


def test_scripts_check_passes_on_the_bundled_library(runner):
    result = runner.invoke(args=["scripts", "check"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("9 scripts OK")


def test_scripts_check_lists_every_problem(runner, script_dir):
    write(script_dir / "good.yaml", hold())
    bad = write(script_dir / "bad.yaml", hold(name="other", text="Hi {caller.name}."))
    write(script_dir / "twin.yaml", hold())
    result = runner.invoke(args=["scripts", "check", str(script_dir)])
    assert result.exit_code == 1
    first, second = result.output.splitlines()
    assert first.startswith(f"{bad}:7: text 'welcome' (en-US): unknown variable {{caller.name}}")
    assert (
        second == f"{script_dir / 'twin.yaml'}:1: script name 'hold' is already used by good.yaml"
    )


def test_scripts_list(runner):
    result = runner.invoke(args=["scripts", "list"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split()[1:4] for line in result.output.splitlines()}
    assert lines["auto_attendant"] == ["auto_attendant", "2", "en-US,es-MX"]
    assert lines["outbound_sales"][0] == "outbound" and len(lines) == 9
    assert lines["inbound"][0] == "outbound"
