"""The auto-attendant menu's keywords, needs and sub-menus: the rules, and what the IVR reads."""

from __future__ import annotations

import textwrap

import pytest
from pydantic import ValidationError

from scripts import BUNDLED, Library, check_file, load_script
from scripts.schema import MenuOption, SubOption
from tests.scripts.files import write

HEADER = """
name: attendant
version: 1
kind: auto_attendant
languages: [en-US, es-MX]
texts:
  greeting: {en-US: "Hello", es-MX: "Hola"}
menu:
"""


def attendant(menu: str) -> str:
    return HEADER.lstrip("\n") + textwrap.indent(textwrap.dedent(menu).lstrip("\n"), "  ")


SALES = """
- digit: 1
  id: sales
  action: queue
  queue: sales
  priority: vip
  needs: {finance: 2}
  label: {en-US: "sales", es-MX: "ventas"}
  keywords:
    en-US: [buy a car, test drive]
    es-MX: [comprar]
  prompt:
    en-US: "New, press 1. Used, press 2. Back, press star."
    es-MX: "Nuevos, oprima 1. Usados, oprima 2. Regresar, oprima asterisco."
  options:
    - digit: 1
      id: new_vehicles
      label: {en-US: "new vehicles", es-MX: "vehículos nuevos"}
      keywords: {en-US: [new car], es-MX: [carro nuevo]}
    - digit: 2
      id: pre_owned
      queue: used
      priority: normal
      needs: {}
      label: {en-US: "pre-owned vehicles", es-MX: "vehículos seminuevos"}
- digit: 9
  id: repeat
  action: repeat
  label: {en-US: "repeat", es-MX: "repetir"}
  keywords: {en-US: [menu again, Buy a car], es-MX: [repetir]}
"""


def problems(path) -> list[tuple[int | None, str]]:
    script, found = check_file(path)
    assert script is None
    for problem in found:
        assert str(problem).startswith(f"{path}:{problem.line}: ")
    return [(p.line, p.message) for p in found]


def only(path) -> tuple[int | None, str]:
    found = problems(path)
    assert len(found) == 1, found
    return found[0]


def line_of(path, text: str, after: int = 0) -> int:
    """The number of the first line (after line ``after``) holding ``text``."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if number > after and text in line:
            return number
    raise AssertionError(f"{text!r} is not in {path}")


def edit(path, old: str, new: str) -> None:
    source = path.read_text()
    assert old in source, old
    write(path, source.replace(old, new, 1))


@pytest.fixture
def menu_file(script_dir):
    """A valid menu with one sub-menu; the ambiguous 'Buy a car' on repeat is removed."""
    path = write(script_dir / "menu.yaml", attendant(SALES.replace(", Buy a car", "")))
    load_script(path)
    return path


# ---------------------------------------------------------------- keywords


def test_a_phrase_two_options_share_is_an_error(script_dir):
    path = write(script_dir / "menu.yaml", attendant(SALES))
    assert only(path) == (
        line_of(path, "menu again, Buy a car"),
        "menu option 'repeat': 'Buy a car' (en-US) is also said for option 'sales' "
        "(a caller saying it must pick one option)",
    )


def test_keywords_in_a_language_the_script_does_not_have(menu_file):
    edit(menu_file, "  es-MX: [comprar]\n", "  es-MX: [comprar]\n      fr-FR: [acheter]\n")
    assert only(menu_file) == (
        line_of(menu_file, "fr-FR: [acheter]"),
        "menu option 'sales' keywords: fr-FR is not one of the script's languages (en-US, es-MX)",
    )


def test_keywords_of_a_sub_option_in_an_unknown_language(menu_file):
    edit(menu_file, "es-MX: [carro nuevo]", "es-US: [carro nuevo]")
    assert only(menu_file) == (
        line_of(menu_file, "es-US: [carro nuevo]"),
        "menu option 'sales' sub-option 'new_vehicles' keywords: es-US is not one of the "
        "script's languages (en-US, es-MX)",
    )


def test_a_keyword_is_one_to_sixty_characters(menu_file):
    edit(menu_file, "[buy a car, test drive]", f"[buy a car, {'x' * 61}]")
    line, message = only(menu_file)
    assert line == line_of(menu_file, "[buy a car, xxx")
    assert message == "menu[sales].keywords.en-US[1]: String should have at most 60 characters"
    edit(menu_file, f"[buy a car, {'x' * 61}]", '[buy a car, "  "]')
    assert only(menu_file) == (
        line_of(menu_file, '[buy a car, "  "]'),
        "menu[sales].keywords.en-US[1]: a keyword cannot be blank",
    )
    edit(menu_file, '[buy a car, "  "]', '[buy a car, "price, quote"]')
    assert only(menu_file)[1].startswith(
        "menu[sales].keywords.en-US[1]: keyword 'price, quote' has a comma"
    )


def test_at_most_twenty_keywords_a_language(menu_file):
    many = ", ".join(f"word {n}" for n in range(21))
    edit(menu_file, "[buy a car, test drive]", f"[{many}]")
    assert only(menu_file) == (
        line_of(menu_file, "[word 0"),
        "menu[sales].keywords.en-US: at most 20, not 21",
    )


# ---------------------------------------------------------------- needs


def test_needs_only_for_action_queue(menu_file):
    edit(menu_file, "  action: repeat\n", "  action: repeat\n    needs: {finance: 1}\n")
    assert only(menu_file) == (
        line_of(menu_file, "needs: {finance: 1}"),
        "menu option 'repeat': needs (skills the agent must have) is only for action queue",
    )


@pytest.mark.parametrize("level", ["0", "11", "two"])
def test_a_needed_level_is_one_to_ten(menu_file, level):
    edit(menu_file, "needs: {finance: 2}", f"needs: {{finance: {level}}}")
    line, message = only(menu_file)
    assert line == line_of(menu_file, "needs: {finance")
    assert message.startswith("menu[sales].needs.finance: ")


def test_a_skill_name_is_an_id(menu_file):
    edit(menu_file, "needs: {finance: 2}", "needs: {Finance Team: 2}")
    line, message = only(menu_file)
    assert line == line_of(menu_file, "needs: {Finance Team")
    assert "'Finance Team' is not a valid id" in message


# ---------------------------------------------------------------- sub-menus


def test_a_sub_menu_only_on_a_queue_option(menu_file):
    edit(
        menu_file,
        "  action: repeat\n",
        "  action: repeat\n"
        '    prompt: {en-US: "One", es-MX: "Uno"}\n'
        "    options:\n"
        "      - {digit: 1, id: one, queue: sales, label: {en-US: one, es-MX: uno}}\n",
    )
    assert only(menu_file) == (
        line_of(menu_file, "    options:", after=line_of(menu_file, "id: repeat")),
        "menu option 'repeat': a sub-menu (prompt and options) is only for action queue",
    )


def test_options_need_a_prompt_and_a_prompt_needs_options(menu_file):
    source = menu_file.read_text()
    start, end = source.index("    prompt:"), source.index("    options:")
    write(menu_file, source[:start] + source[end:])
    assert only(menu_file) == (
        line_of(menu_file, "options:"),
        "menu option 'sales': a sub-menu needs a prompt to play",
    )
    start, end = source.index("    options:"), source.index("  - digit: 9")
    write(menu_file, source[:start] + source[end:])
    assert only(menu_file) == (
        line_of(menu_file, "prompt:"),
        "menu option 'sales': a prompt is for a sub-menu: give it options",
    )


def test_sub_menu_digits_are_unique(menu_file):
    edit(menu_file, "      - digit: 2\n", "      - digit: 1\n")
    assert only(menu_file) == (
        line_of(menu_file, "id: pre_owned") - 1,
        "menu option 'sales': sub-menu digit 1 is already used by sub-option 1",
    )


def test_star_is_back_to_the_main_menu(menu_file):
    edit(menu_file, "      - digit: 2\n", '      - digit: "*"\n')
    assert only(menu_file) == (
        line_of(menu_file, '- digit: "*"'),
        "menu option 'sales' sub-option 'pre_owned': * is taken in a sub-menu (it goes "
        "back to the main menu); use another key",
    )


def test_nine_and_eight_are_allowed_in_a_sub_menu(menu_file):
    edit(menu_file, "      - digit: 1\n", "      - digit: 9\n")
    edit(menu_file, "      - digit: 2\n", "      - digit: 8\n")
    script = load_script(menu_file)
    assert [o.digit for o in script.option("sales").options] == ["9", "8"]


def test_a_sub_menu_is_one_level_deep(menu_file):
    edit(
        menu_file,
        "        id: new_vehicles\n",
        "        id: new_vehicles\n"
        "        options:\n"
        "          - {digit: 1, id: trucks, label: {en-US: trucks, es-MX: camionetas}}\n",
    )
    assert only(menu_file) == (
        line_of(menu_file, "        options:"),
        "menu[sales].options[new_vehicles]: a sub-menu cannot have its own sub-menu "
        "(one level only)",
    )


def test_a_sub_option_takes_no_action(menu_file):
    edit(menu_file, "  id: new_vehicles\n", "  id: new_vehicles\n        action: repeat\n")
    line, message = only(menu_file)
    assert line == line_of(menu_file, "action: repeat")
    assert message.startswith("menu[sales].options[new_vehicles]: unknown key 'action' (allowed:")


def test_every_sub_menu_text_in_every_language(menu_file):
    edit(
        menu_file,
        '      es-MX: "Nuevos, oprima 1. Usados, oprima 2. Regresar, oprima asterisco."\n',
        "",
    )
    edit(menu_file, 'es-MX: "vehículos seminuevos"', 'en-GB: "second-hand"')
    assert problems(menu_file) == [
        (line_of(menu_file, "prompt:"), "menu option 'sales' prompt has no es-MX translation"),
        (
            line_of(menu_file, '"pre-owned vehicles"'),
            "menu option 'sales' sub-option 'pre_owned' has no es-MX translation",
        ),
        (
            line_of(menu_file, '"pre-owned vehicles"'),
            "menu option 'sales' sub-option 'pre_owned': en-GB is not one of the script's "
            "languages (en-US, es-MX)",
        ),
    ]


def test_sub_menu_texts_are_variables_checked(menu_file):
    edit(menu_file, '"New, press 1.', '"New {car.make}, press 1.')
    line, message = only(menu_file)
    assert line == line_of(menu_file, "{car.make}")
    assert message.startswith("menu option 'sales' prompt (en-US): unknown variable {car.make}")


def test_a_sub_option_id_is_unique_across_the_menu(menu_file):
    edit(menu_file, "id: pre_owned", "id: repeat")
    sub_label = line_of(menu_file, '"pre-owned vehicles"')
    repeat_label = line_of(menu_file, 'label: {en-US: "repeat"')
    assert only(menu_file) == (
        repeat_label,
        f"menu option 'repeat': the key 'menu.repeat' is already used on line {sub_label}",
    )


# ---------------------------------------------------------------- the loaded script


def test_what_the_ivr_reads(menu_file):
    script = load_script(menu_file)
    sales = script.option("sales")
    assert isinstance(sales, MenuOption)
    assert sales.keywords == {"en-US": ["buy a car", "test drive"], "es-MX": ["comprar"]}
    assert sales.needs == {"finance": 2}
    assert script.text("menu.sales.prompt", "es-MX").startswith("Nuevos, oprima 1.")
    assert script.text("menu.new_vehicles", "es-MX") == "vehículos nuevos"
    assert {"menu.sales.prompt", "menu.new_vehicles", "menu.pre_owned"} <= set(script.text_keys())
    new, used = sales.options
    assert isinstance(new, SubOption) and script.option("new_vehicles") is new
    # Inherited from the parent: queue, priority and needs.
    assert (new.queue, new.priority.value, new.needs) == ("sales", "vip", {"finance": 2})
    # Its own when given (``needs: {}`` is "none", not "the parent's").
    assert (used.queue, used.priority.value, used.needs) == ("used", "normal", {})
    assert script.option("repeat").options == [] and script.option("repeat").prompt is None
    with pytest.raises(KeyError, match="no menu option 'nope'"):
        script.option("nope")
    with pytest.raises(ValidationError, match="frozen"):
        sales.needs = {}  # type: ignore[misc]


def test_speech_hints_in_each_language(menu_file):
    script = load_script(menu_file)
    assert script.speech_hints() == ["sales", "buy a car", "test drive", "repeat", "menu again"]
    # "repetir" is the label and a keyword: once.
    assert script.speech_hints("es-MX") == ["ventas", "comprar", "repetir"]
    assert script.speech_hints("es-US") == script.speech_hints("es-MX")
    assert script.speech_hints("fr-FR") == script.speech_hints("en-US")
    assert script.speech_hints(None) == script.speech_hints("en-US")


def test_submenu_hints(menu_file):
    script = load_script(menu_file)
    assert script.submenu_hints("sales") == ["new vehicles", "new car", "pre-owned vehicles"]
    assert script.submenu_hints("sales", "es-US") == [
        "vehículos nuevos",
        "carro nuevo",
        "vehículos seminuevos",
    ]
    assert script.submenu_hints("repeat", "es-MX") == []
    with pytest.raises(KeyError):
        script.submenu_hints("nope", "en-US")


# ---------------------------------------------------------------- the bundled auto-attendant


def test_the_bundled_auto_attendant(runner):
    result = runner.invoke(args=["scripts", "check", str(BUNDLED)])
    assert result.exit_code == 0, result.output
    script = Library().get("auto_attendant")
    assert script.version == 2
    for option in script.menu:
        assert set(option.keywords) == {"en-US", "es-MX"}, option.id
        assert option.needs == {}, option.id
    sales, service = script.option("sales"), script.option("service")
    assert [(o.digit, o.id, o.queue) for o in sales.options] == [
        ("1", "new_vehicles", "sales"),
        ("2", "pre_owned", "sales"),
        ("3", "trade_in", "sales"),
    ]
    assert [(o.digit, o.id, o.queue) for o in service.options] == [
        ("1", "schedule_service", "service"),
        ("2", "vehicle_status", "service"),
        ("3", "parts", "service"),
    ]
    assert [o.id for o in script.menu if o.options] == ["sales", "service"]
    assert script.text("menu.sales.prompt").endswith("To return to the main menu, press star.")
    assert script.text("menu.service.prompt", "es-MX").endswith("oprima asterisco.")
    assert script.text("menu.trade_in", "es-MX") == "valor de su auto a cuenta"
    assert script.text("menu.parts", "es-US") == "refacciones"
    english, spanish = script.speech_hints("en-US"), script.speech_hints("es-US")
    assert {"sales", "test drive", "oil change", "pay my bill", "flat tire", "operator"} <= set(
        english
    )
    assert {"ventas", "prueba de manejo", "grúa", "llanta ponchada", "préstamo", "cita"} <= set(
        spanish
    )
    assert english.count("español") == 1 and "spanish" in english and "english" in spanish
    assert "trade-in value" in script.submenu_hints("sales")
    assert "estado de mi vehículo" in script.submenu_hints("service", "es-MX")


def test_the_bundled_auto_attendant_has_the_ivr_s_new_texts():
    script = Library().get("auto_attendant")
    lead = script.text("lead_shortcut", "en-US", {"vehicle": {"description": "2024 Civic"}})
    assert lead == (
        "Are you calling about the 2024 Civic you asked us about? Press 1. "
        "For anything else, press 2."
    )
    assert script.text("lead_shortcut", "en-US").startswith(
        "Are you calling about the vehicle you asked us about?"
    )
    assert "Oprima 1" in script.text("lead_shortcut", "es-MX")
    for key in ("no_message", "callback_no_number"):
        assert script.text(key, "en-US") and script.text(key, "es-MX")
    assert script.text("no_message").startswith("We did not receive a message.")
    assert "after the tone" in script.text("callback_no_number")
