"""Malformed script files: each gives one clear error naming the file and the right line."""

from __future__ import annotations

import textwrap

import pytest

from scripts import ScriptError, check_dir, check_file, load_script
from tests.scripts.files import write

HEADER = """
name: demo
version: 1
kind: outbound
languages: [en-US, es-MX]
steps:
"""


def outbound(steps: str) -> str:
    """The header above, then ``steps`` (its first line is line 6 of the file)."""
    return HEADER.lstrip("\n") + textwrap.indent(textwrap.dedent(steps).lstrip("\n"), "  ")


def problems(path) -> list[tuple[int | None, str]]:
    script, found = check_file(path)
    assert script is None
    return [(p.line, p.message) for p in found]


def only(path) -> tuple[int | None, str]:
    found = problems(path)
    assert len(found) == 1, found
    return found[0]


def test_a_valid_file_loads(script_dir):
    path = write(
        script_dir / "ok.yaml",
        outbound(
            """
          - id: hello
            kind: ask
            text: {en-US: "Hi {customer.first_name}", es-MX: "Hola {customer.first_name}"}
            field: timeframe
            answers:
              - id: soon
                label: {en-US: "Soon", es-MX: "Pronto"}
                value: this week
                next: bye
          - id: bye
            kind: end
            sensitive: true
            text: {en-US: "Bye", es-MX: "Adiós"}
        """
        ),
    )
    script = load_script(path)
    assert (script.name, script.version, script.kind.value, script.ref) == (
        "demo",
        1,
        "outbound",
        "demo@1",
    )
    assert [s.id for s in script.steps] == ["hello", "bye"]
    hello = script.step("hello")
    assert hello.field.value == "timeframe" and hello.answers[0].value == "this week"
    assert script.step("bye").sensitive
    assert script.text("hello.soon", "es-MX") == "Pronto"


def test_error_names_file_and_line():
    error = ScriptError("library/x.yaml", 12, "something is wrong")
    assert str(error) == "library/x.yaml:12: something is wrong"
    assert str(ScriptError("library/x.yaml", None, "unreadable")) == "library/x.yaml: unreadable"


def test_bad_yaml_syntax(script_dir):
    path = write(
        script_dir / "bad.yaml",
        """
        name: demo
        version: 1
        texts:
          greeting: {en-US: "Hello"
          other: x
        """,
    )
    line, message = only(path)
    assert line in (4, 5) and message.startswith("not valid YAML")
    with pytest.raises(ScriptError) as raised:
        load_script(path)
    assert str(raised.value).startswith(f"{path}:{line}: not valid YAML")


def test_tab_indentation_is_a_syntax_error_on_its_line(script_dir):
    path = write(script_dir / "tabs.yaml", "name: demo\nversion: 1\ntexts:\n\tgreeting: x\n")
    assert only(path)[0] == 4


def test_empty_file_and_not_a_mapping(script_dir):
    assert only(write(script_dir / "empty.yaml", "\n")) == (1, "the file is empty")
    line, message = only(write(script_dir / "list.yaml", "- a\n- b\n"))
    assert line == 1 and "mapping" in message


def test_a_key_twice(script_dir):
    path = write(
        script_dir / "twice.yaml",
        """
        name: demo
        version: 1
        name: other
        """,
    )
    assert only(path) == (3, "key 'name' appears twice (first on line 1)")


def test_unknown_key_in_a_step(script_dir):
    path = write(
        script_dir / "extra.yaml",
        outbound(
            """
          - id: hello
            text: {en-US: "Hi", es-MX: "Hola"}
            colour: red
        """
        ),
    )
    line, message = only(path)
    assert line == 8
    assert "steps[hello]: unknown key 'colour'" in message and "sensitive" in message


def test_unknown_step_kind(script_dir):
    path = write(
        script_dir / "kind.yaml",
        outbound(
            """
          - id: hello
            kind: shout
            text: {en-US: "Hi", es-MX: "Hola"}
        """
        ),
    )
    line, message = only(path)
    assert line == 7 and message.startswith("steps[hello].kind:") and "'ask'" in message


def test_missing_field_and_bad_version(script_dir):
    path = write(
        script_dir / "missing.yaml",
        """
        version: 1.5
        kind: hold
        languages: [en-US, es-MX]
        texts:
          hi: {en-US: "Hi", es-MX: "Hola"}
        """,
    )
    found = problems(path)
    assert (1, "version: version must be a whole number or a short string such as '2026-01'") in (
        found
    )
    assert (1, "file: required, and missing") in found or any(
        "name" in m and "missing" in m for _, m in found
    )


def test_yes_read_as_a_boolean_is_explained(script_dir):
    path = write(
        script_dir / "yes.yaml",
        outbound(
            """
          - id: hello
            kind: ask
            text: {en-US: "Hi", es-MX: "Hola"}
            answers:
              - id: yes
                label: {en-US: "Yes", es-MX: "Sí"}
                next: hello
        """
        ),
    )
    line, message = only(path)
    assert line == 10 and "put the word in quotes" in message


def test_a_branch_to_nowhere(script_dir):
    path = write(
        script_dir / "nowhere.yaml",
        outbound(
            """
          - id: hello
            kind: ask
            text: {en-US: "Hi", es-MX: "Hola"}
            answers:
              - id: ok
                label: {en-US: "OK", es-MX: "Bien"}
                next: goodby
          - id: goodbye
            kind: end
            text: {en-US: "Bye", es-MX: "Adiós"}
        """
        ),
    )
    line, message = only(path)
    assert line == 12
    assert message == (
        "step 'hello': next 'goodby' is not a step of this script (steps: hello, goodbye)"
    )


def test_a_loop_with_no_exit(script_dir):
    path = write(
        script_dir / "loop.yaml",
        outbound(
            """
          - id: ask_name
            kind: ask
            text: {en-US: "Name?", es-MX: "¿Nombre?"}
            answers:
              - id: given
                label: {en-US: "Given", es-MX: "Lo dio"}
                next: confirm
          - id: confirm
            kind: ask
            text: {en-US: "Right?", es-MX: "¿Correcto?"}
            answers:
              - id: "no"
                label: {en-US: "No", es-MX: "No"}
                next: ask_name
              - id: again
                label: {en-US: "Again", es-MX: "Otra vez"}
                next: confirm
        """
        ),
    )
    line, message = only(path)
    assert line == 6
    assert message.startswith("steps ask_name → confirm → ask_name loop with no way out")


def test_a_loop_with_an_exit_is_fine(script_dir):
    path = write(
        script_dir / "loop_ok.yaml",
        outbound(
            """
          - id: ask_name
            kind: ask
            text: {en-US: "Name?", es-MX: "¿Nombre?"}
            answers:
              - id: again
                label: {en-US: "Again", es-MX: "Otra vez"}
                next: ask_name
              - id: done
                label: {en-US: "Done", es-MX: "Listo"}
                next: bye
          - id: bye
            kind: end
            text: {en-US: "Bye", es-MX: "Adiós"}
        """
        ),
    )
    assert load_script(path).steps[0].answers[0].next == "ask_name"


def test_a_missing_translation(script_dir):
    path = write(
        script_dir / "hold.yaml",
        """
        name: hold
        version: "2026-01"
        kind: hold
        languages: [en-US, es-MX]
        texts:
          welcome:
            en-US: "Thank you for holding."
            es-MX: "Gracias por esperar."
          goodbye:
            en-US: "Goodbye."
        """,
    )
    assert only(path) == (9, "text 'goodbye' has no es-MX translation")


def test_a_caller_facing_script_must_declare_spanish(script_dir):
    path = write(
        script_dir / "english.yaml",
        """
        name: hold
        version: 1
        kind: hold
        languages: [en-US]
        texts:
          welcome: {en-US: "Thank you for holding."}
        """,
    )
    line, message = only(path)
    assert line == 4 and "must include es-MX" in message


def test_an_undeclared_language(script_dir):
    path = write(
        script_dir / "french.yaml",
        """
        name: hold
        version: 1
        kind: hold
        languages: [en-US, es-MX]
        texts:
          welcome:
            en-US: "Hello"
            es-MX: "Hola"
            fr-FR: "Bonjour"
        """,
    )
    assert only(path) == (
        9,
        "text 'welcome': fr-FR is not one of the script's languages (en-US, es-MX)",
    )


def test_duplicate_step_ids(script_dir):
    path = write(
        script_dir / "dupe.yaml",
        outbound(
            """
          - id: hello
            text: {en-US: "Hi", es-MX: "Hola"}
            next: bye
          - id: bye
            kind: end
            text: {en-US: "Bye", es-MX: "Adiós"}
          - id: hello
            kind: end
            text: {en-US: "Hi again", es-MX: "Hola otra vez"}
        """
        ),
    )
    assert only(path) == (12, "step id 'hello' is used twice (first on line 6)")


def test_duplicate_names_across_files(script_dir):
    body = """
        name: {name}
        version: 1
        kind: hold
        languages: [en-US, es-MX]
        texts:
          welcome: {{en-US: "Hello", es-MX: "Hola"}}
        """
    write(script_dir / "a_hold.yaml", body.format(name="hold"))
    write(script_dir / "b_hold.yaml", body.format(name="hold"))
    scripts, found = check_dir(script_dir)
    assert [s.path.name for s in scripts] == ["a_hold.yaml"]
    assert [str(p) for p in found] == [
        f"{script_dir / 'b_hold.yaml'}:1: script name 'hold' is already used by a_hold.yaml"
    ]


def test_unknown_variable_and_stray_brace(script_dir):
    path = write(
        script_dir / "vars.yaml",
        """
        name: hold
        version: 1
        kind: hold
        languages: [en-US, es-MX]
        texts:
          welcome:
            en-US: "Hi {customer.firstname}"
            es-MX: "Hola {customer.first_name"
        """,
    )
    assert problems(path) == [
        (
            7,
            "text 'welcome' (en-US): unknown variable {customer.firstname} "
            "(did you mean {customer.first_name}?)",
        ),
        (8, "text 'welcome' (es-MX): unmatched '{' (write {{ for a literal brace)"),
    ]


def test_content_must_fit_the_kind(script_dir):
    path = write(
        script_dir / "mixed.yaml",
        """
        name: hold
        version: 1
        kind: hold
        languages: [en-US, es-MX]
        steps:
          - id: hello
            kind: end
            text: {en-US: "Hi", es-MX: "Hola"}
        """,
    )
    assert problems(path) == [
        (3, "a hold script needs texts"),
        (5, "a hold script has no steps (it holds texts)"),
    ]


def test_step_rules(script_dir):
    path = write(
        script_dir / "rules.yaml",
        outbound(
            """
          - id: question
            kind: ask
            text: {en-US: "Hi?", es-MX: "¿Hola?"}
            next: bye
          - id: bye
            kind: end
            text: {en-US: "Bye", es-MX: "Adiós"}
            next: question
        """
        ),
    )
    assert problems(path) == [
        (6, "step 'question' asks a question: give it answers"),
        (10, "step 'bye' ends the script: it takes no next or answers"),
    ]


def test_pitch_sections_must_fit_the_duration(script_dir):
    path = write(
        script_dir / "pitch.yaml",
        """
        name: pitch
        version: 1
        kind: pitch
        languages: [en-US, es-MX]
        duration_seconds: 60
        sections:
          - id: hook
            seconds: 40
            text: {en-US: "Hi", es-MX: "Hola"}
          - id: ask
            seconds: 30
            text: {en-US: "When?", es-MX: "¿Cuándo?"}
        """,
    )
    assert only(path) == (5, "the sections last 70 seconds, more than duration_seconds 60")


def test_messages_subjects(script_dir):
    email = write(
        script_dir / "email.yaml",
        """
        name: mail
        version: 1
        kind: email
        languages: [en-US]
        messages:
          thanks:
            body: {en-US: "Thanks"}
        """,
    )
    assert only(email) == (6, "e-mail 'thanks' needs a subject")
    sms = write(
        script_dir / "sms.yaml",
        """
        name: sms
        version: 1
        kind: sms
        languages: [en-US]
        messages:
          reminder:
            subject: {en-US: "Reminder"}
            body: {en-US: "See you"}
        """,
    )
    assert only(sms) == (7, "text message 'reminder' has no subject")


def test_menu_rules(script_dir):
    path = write(
        script_dir / "menu.yaml",
        """
        name: attendant
        version: 1
        kind: auto_attendant
        languages: [en-US, es-MX]
        texts:
          greeting: {en-US: "Hello", es-MX: "Hola"}
        menu:
          - digit: 1
            id: sales
            action: queue
            label: {en-US: "sales", es-MX: "ventas"}
          - digit: 1
            id: service
            action: queue
            queue: service
            label: {en-US: "service", es-MX: "servicio"}
          - digit: 12
            id: other
            action: repeat
            label: {en-US: "other", es-MX: "otro"}
        """,
    )
    assert problems(path) == [
        (17, "menu[other].digit: '12' is not one key of the phone pad (0-9, * or #)"),
    ]
    write(path, path.read_text().replace("digit: 12", "digit: 9"))
    assert problems(path) == [
        (8, "menu option 'sales': action queue needs queue"),
        (12, "menu digit 1 is already used by option 1"),
    ]


def test_every_problem_in_a_file_is_reported(script_dir):
    path = write(
        script_dir / "many.yaml",
        """
        name: Bad Name
        version: [1]
        kind: greeting
        languages: [en-US, spanish]
        """,
    )
    lines = [line for line, _ in problems(path)]
    assert lines == [1, 2, 3, 4]
