"""Reading a script file: YAML with line numbers, the schema, then the checks across it.

PyYAML's composer keeps a mark (line, column) on every node. The loader walks the node tree
once, noting the line of every path (``("steps", 2, "next")`` → 41), so an error pydantic
reports at a location, or a cross-check finds at a step, names the line a manager should
open. Every problem in a file is reported, not only the first.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from scripts.errors import ScriptError
from scripts.render import Template, TemplateError, compile_template
from scripts.schema import (
    CONTENT,
    REQUIRED_LANGUAGES,
    SPOKEN,
    Kind,
    MenuOption,
    ScriptFile,
    StepKind,
    SubOption,
)
from scripts.script import Script

SUFFIXES = (".yaml", ".yml")
# Every content key of a script file (which kind may hold which: schema.CONTENT).
CONTENT_NAMES = (
    "texts",
    "menu",
    "steps",
    "sections",
    "duration_seconds",
    "messages",
    "criteria",
    "checks",
)
# libyaml when PyYAML was built with it (five times faster; the same marks and errors).
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
Loc = tuple[Any, ...]


class _Lines:
    """The line of every path in the document, and the data at it."""

    def __init__(self, file: Path, root: yaml.Node) -> None:
        self.file = file
        self.lines: dict[Loc, int] = {}
        self._walk(root, (), root.start_mark.line + 1)

    def _walk(self, node: yaml.Node, path: Loc, line: int) -> None:
        self.lines[path] = line
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in node.value:
                name, key_line = str(key.value), key.start_mark.line + 1
                if name in seen:
                    raise ScriptError(
                        self.file,
                        key_line,
                        f"key '{name}' appears twice (first on line {seen[name]})",
                    )
                seen[name] = key_line
                self._walk(value, (*path, name), key_line)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._walk(item, (*path, index), item.start_mark.line + 1)

    def line(self, loc: Iterable[Any]) -> int:
        loc = tuple(str(x) if not isinstance(x, int) else x for x in loc)
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.lines:
                return self.lines[loc[:end]]
        return 1


def _read(path: Path) -> tuple[Any, _Lines]:
    try:
        source = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ScriptError(path, None, f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise ScriptError(path, None, f"cannot read: {exc.strerror}") from None
    loader = _Loader(source)
    try:
        root = loader.get_single_node()
        if root is None:
            raise ScriptError(path, 1, "the file is empty")
        lines = _Lines(path, root)
        data = loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise ScriptError(
            path, mark.line + 1 if mark else None, f"not valid YAML: {problem}"
        ) from None
    except yaml.YAMLError as exc:
        raise ScriptError(path, None, f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ScriptError(path, lines.line(()), "a script is a mapping of keys (name:, kind: …)")
    return data, lines


# ---------------------------------------------------------------- schema errors


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at ``loc`` (to list its keys)."""
    annotation: Any = ScriptFile
    for part in loc:
        while typing.get_origin(annotation) in (typing.Union, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if part not in annotation.model_fields:
                return None
            annotation = annotation.model_fields[part].annotation
        elif typing.get_origin(annotation) in (list, dict):
            annotation = typing.get_args(annotation)[-1]
        else:
            return None
    while typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _where(loc: Loc, data: Any) -> str:
    """``steps[2].answers[0].next`` → ``steps[permission].answers[yes].next`` when ids help."""
    out, value = "", data
    for part in loc:
        if isinstance(part, int):
            item = value[part] if isinstance(value, list) and part < len(value) else None
            label = item.get("id") if isinstance(item, dict) else None
            out += f"[{label if isinstance(label, str) else part}]"
            value = item
        else:
            out += f".{part}" if out else str(part)
            value = value.get(part) if isinstance(value, dict) else None
    return out


def _schema_message(error: dict[str, Any], loc: Loc, data: Any) -> str:
    kind, value = error["type"], error.get("input")
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        if model is SubOption and loc[-1] in ("options", "prompt"):
            where = _where(loc[:-1], data)
            return f"{where}: a sub-menu cannot have its own sub-menu (one level only)"
        allowed = f" (allowed: {', '.join(model.model_fields)})" if model else ""
        where = _where(loc[:-1], data)
        return f"{where + ': ' if where else ''}unknown key '{loc[-1]}'{allowed}"
    where = _where(loc, data) or "file"
    if kind == "missing":
        return f"{where}: required, and missing"
    if kind == "string_pattern_mismatch":
        pattern = error.get("ctx", {}).get("pattern", "")
        if "[A-Z]{2}" in pattern:
            return f"{where}: '{value}' is not a language code such as en-US or es-MX"
        if "0-9*#" in pattern:
            return f"{where}: '{value}' is not one key of the phone pad (0-9, * or #)"
        return (
            f"{where}: '{value}' is not a valid id (lowercase letters, digits, _ and -, "
            "starting with a letter)"
        )
    if kind == "string_type" and isinstance(value, bool):
        return f"{where}: YAML reads this as {str(value).lower()}; put the word in quotes"
    if kind in ("string_type", "dict_type", "list_type", "int_type", "bool_type"):
        expected = {
            "string_type": "text",
            "dict_type": "a mapping (key: value lines)",
            "list_type": "a list (lines starting with -)",
            "int_type": "a whole number",
            "bool_type": "true or false",
        }[kind]
        return f"{where}: should be {expected}, not {type(value).__name__} {value!r}"
    if kind == "too_long" and isinstance(value, list):
        limit = error.get("ctx", {}).get("max_length")
        return f"{where}: at most {limit}, not {len(value)}"
    message = error["msg"].replace("Input should be", "should be")
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return f"{where}: {message}"


def _schema_errors(path: Path, data: Any, lines: _Lines, exc: ValidationError) -> list:
    found = []
    for error in exc.errors(include_url=False):
        loc = tuple(x for x in error["loc"] if x != "[key]")
        found.append(ScriptError(path, lines.line(loc), _schema_message(error, loc, data)))
    return found


# ---------------------------------------------------------------- checks across the file


class _Checker:
    def __init__(self, path: Path, model: ScriptFile, lines: _Lines) -> None:
        self.path, self.model, self.lines = path, model, lines
        self.problems: list[ScriptError] = []
        self.templates: dict[str, dict[str, Template]] = {}
        self._key_lines: dict[str, int] = {}

    def fail(self, loc: Loc, message: str) -> None:
        self.problems.append(ScriptError(self.path, self.lines.line(loc), message))

    def run(self) -> None:
        m = self.model
        self.check_content()
        if m.kind in SPOKEN or m.kind == Kind.SCORECARD:
            for lang in REQUIRED_LANGUAGES:
                if lang not in m.languages:
                    self.fail(
                        ("languages",),
                        f"a {m.kind.value} script is "
                        f"{'used by reviewers' if m.kind == Kind.SCORECARD else 'heard by callers'}"
                        f": languages must include {lang}",
                    )
        for key, text in m.texts.items():
            self.add_text(key, ("texts", key), text, f"text '{key}'")
        self.check_menu()
        self.check_steps()
        self.check_sections()
        self.check_messages()
        self.check_criteria()

    def check_content(self) -> None:
        m = self.model
        required, allowed = CONTENT[m.kind]
        for name in CONTENT_NAMES:
            present = getattr(m, name) not in (None, [], {})
            if name in required and not present:
                self.fail(("kind",), f"a {m.kind.value} script needs {name}")
            elif present and name not in required + allowed:
                holds = ", ".join(required + allowed)
                self.fail((name,), f"a {m.kind.value} script has no {name} (it holds {holds})")

    def add_text(self, key: str, loc: Loc, text: dict[str, str], what: str) -> None:
        """One caller- or reader-facing text: every declared language, compiled."""
        if key in self._key_lines:
            self.fail(
                loc, f"{what}: the key '{key}' is already used on line {self._key_lines[key]}"
            )
            return
        self._key_lines[key] = self.lines.line(loc)
        for lang in self.model.languages:
            if lang not in text:
                self.fail(loc, f"{what} has no {lang} translation")
        compiled: dict[str, Template] = {}
        for lang, source in text.items():
            if lang not in self.model.languages:
                self.fail(
                    (*loc, lang),
                    f"{what}: {lang} is not one of the script's languages "
                    f"({', '.join(self.model.languages)})",
                )
                continue
            try:
                compiled[lang] = compile_template(source)
            except TemplateError as exc:
                self.fail((*loc, lang), f"{what} ({lang}): {exc}")
        self.templates[key] = compiled

    def check_menu(self) -> None:
        digits: dict[str, int] = {}
        for index, option in enumerate(self.model.menu):
            loc = ("menu", index)
            what = f"menu option '{option.id}'"
            if option.digit in digits:
                self.fail(
                    (*loc, "digit"),
                    f"menu digit {option.digit} is already used by "
                    f"option {digits[option.digit] + 1}",
                )
            digits.setdefault(option.digit, index)
            queue = option.action == "queue"
            needs = {"queue": queue, "language": option.action == "language"}
            for name, needed in needs.items():
                given = getattr(option, name) is not None
                if needed and not given:
                    self.fail(loc, f"{what}: action {option.action.value} needs {name}")
                elif given and not needed:
                    self.fail((*loc, name), f"{what}: {name} is only for action {name}")
            if option.language and option.language not in self.model.languages:
                self.fail(
                    (*loc, "language"),
                    f"{what}: {option.language} is not one of the script's languages",
                )
            if option.needs and not queue:
                self.fail(
                    (*loc, "needs"),
                    f"{what}: needs (skills the agent must have) is only for action queue",
                )
            if option.sensitive and not queue:
                self.fail((*loc, "sensitive"), f"{what}: sensitive is only for action queue")
            self.add_text(f"menu.{option.id}", (*loc, "label"), option.label, what)
            self.check_keywords(loc, option.keywords, what)
            self.check_submenu(loc, option, what)
        self.check_ambiguous_keywords(("menu",), self.model.menu)

    def check_submenu(self, loc: Loc, option: MenuOption, what: str) -> None:
        if option.prompt is None and not option.options:
            return
        if option.action != "queue":
            self.fail(
                (*loc, "options" if option.options else "prompt"),
                f"{what}: a sub-menu (prompt and options) is only for action queue",
            )
            return
        if option.prompt is None:
            self.fail((*loc, "options"), f"{what}: a sub-menu needs a prompt to play")
        else:
            self.add_text(
                f"menu.{option.id}.prompt", (*loc, "prompt"), option.prompt, f"{what} prompt"
            )
        if not option.options:
            self.fail((*loc, "prompt"), f"{what}: a prompt is for a sub-menu: give it options")
        digits: dict[str, int] = {}
        for index, sub in enumerate(option.options):
            s_loc = (*loc, "options", index)
            s_what = f"{what} sub-option '{sub.id}'"
            if sub.digit == "*":
                self.fail(
                    (*s_loc, "digit"),
                    f"{s_what}: * is taken in a sub-menu (it goes back to the main menu); "
                    "use another key",
                )
            elif sub.digit in digits:
                self.fail(
                    (*s_loc, "digit"),
                    f"{what}: sub-menu digit {sub.digit} is already used by "
                    f"sub-option {digits[sub.digit] + 1}",
                )
            digits.setdefault(sub.digit, index)
            self.add_text(f"menu.{sub.id}", (*s_loc, "label"), sub.label, s_what)
            self.check_keywords(s_loc, sub.keywords, s_what)
        self.check_ambiguous_keywords((*loc, "options"), option.options)

    def check_keywords(self, loc: Loc, keywords: dict[str, list[str]], what: str) -> None:
        for lang in keywords:
            if lang not in self.model.languages:
                self.fail(
                    (*loc, "keywords", lang),
                    f"{what} keywords: {lang} is not one of the script's languages "
                    f"({', '.join(self.model.languages)})",
                )

    def check_ambiguous_keywords(self, loc: Loc, options: Iterable[MenuOption | SubOption]) -> None:
        """A phrase a caller may say picks one option: two options of a menu cannot share it."""
        owners: dict[tuple[str, str], str] = {}
        for index, option in enumerate(options):
            for lang in self.model.languages:
                phrases = [(("label",), option.label.get(lang, ""))]
                phrases += [
                    (("keywords", lang, k), phrase)
                    for k, phrase in enumerate(option.keywords.get(lang, []))
                ]
                for p_loc, phrase in phrases:
                    key = (lang, phrase.casefold())
                    if not phrase or owners.setdefault(key, option.id) == option.id:
                        continue
                    self.fail(
                        (*loc, index, *p_loc),
                        f"menu option '{option.id}': '{phrase}' ({lang}) is also said for "
                        f"option '{owners[key]}' (a caller saying it must pick one option)",
                    )

    def check_steps(self) -> None:
        steps = self.model.steps
        first: dict[str, int] = {}
        for index, step in enumerate(steps):
            if step.id in first:
                self.fail(
                    ("steps", index, "id"),
                    f"step id '{step.id}' is used twice (first "
                    f"on line {self.lines.line(('steps', first[step.id]))})",
                )
                continue
            first[step.id] = index
        edges: dict[str, list[str]] = {}
        dangling = False
        for index, step in enumerate(steps):
            loc = ("steps", index)
            if first.get(step.id) != index:
                continue
            self.add_text(step.id, (*loc, "text"), step.text, f"step '{step.id}'")
            if step.kind == StepKind.ASK and not step.answers:
                self.fail(loc, f"step '{step.id}' asks a question: give it answers")
            if step.kind == StepKind.END and (step.answers or step.next):
                self.fail(loc, f"step '{step.id}' ends the script: it takes no next or answers")
            if step.answers and step.next:
                self.fail(
                    (*loc, "next"),
                    f"step '{step.id}' has answers: each answer says "
                    "where it goes, so the step itself takes no next",
                )
            targets: list[tuple[Loc, str]] = []
            if step.next:
                targets.append(((*loc, "next"), step.next))
            answer_ids: set[str] = set()
            for a_index, answer in enumerate(step.answers):
                a_loc = (*loc, "answers", a_index)
                if answer.id in answer_ids:
                    self.fail((*a_loc, "id"), f"step '{step.id}': answer '{answer.id}' twice")
                answer_ids.add(answer.id)
                self.add_text(
                    f"{step.id}.{answer.id}",
                    (*a_loc, "label"),
                    answer.label,
                    f"step '{step.id}' answer '{answer.id}'",
                )
                targets.append(((*a_loc, "next"), answer.next))
            for t_loc, target in targets:
                if target not in first:
                    dangling = True
                    self.fail(
                        t_loc,
                        f"step '{step.id}': next '{target}' is not a step of this "
                        f"script (steps: {', '.join(first)})",
                    )
            # An end step ends, whatever else it says (that is reported above).
            ends = step.kind == StepKind.END
            edges[step.id] = [] if ends else [t for _, t in targets if t in first]
        if not dangling and edges:
            self.check_flow(edges, first)

    def check_flow(self, edges: dict[str, list[str]], first: dict[str, int]) -> None:
        """Every step can reach an end; every step is reached from the first."""
        parents: dict[str, set[str]] = {s: set() for s in edges}
        for source, targets in edges.items():
            for target in targets:
                parents[target].add(source)
        ends = [s for s, targets in edges.items() if not targets]
        can_end, todo = set(ends), list(ends)
        while todo:
            for parent in parents[todo.pop()]:
                if parent not in can_end:
                    can_end.add(parent)
                    todo.append(parent)
        reported: set[str] = set()
        for step_id in edges:  # file order
            if step_id in can_end or step_id in reported:
                continue
            path, at = [step_id], step_id
            while True:
                at = edges[at][0]
                if at in path:
                    cycle = [*path[path.index(at) :], at]
                    break
                path.append(at)
            trapped, todo = {step_id}, [step_id]
            while todo:
                for nxt in edges[todo.pop()]:
                    if nxt not in trapped:
                        trapped.add(nxt)
                        todo.append(nxt)
            reported |= trapped
            head = min(cycle[:-1], key=first.__getitem__)
            self.fail(
                ("steps", first[head]),
                f"steps {' → '.join(cycle)} loop with no way "
                f"out: nothing after step '{step_id}' ever ends the script (add an answer "
                "that leaves the loop, or an end step)",
            )
        start = next(iter(edges))
        seen, todo = {start}, [start]
        while todo:
            for nxt in edges[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        for step_id in edges:
            if step_id not in seen:
                self.fail(
                    ("steps", first[step_id]),
                    f"step '{step_id}' is never reached from the first step '{start}'",
                )

    def check_sections(self) -> None:
        ids: set[str] = set()
        for index, section in enumerate(self.model.sections):
            if section.id in ids:
                self.fail(("sections", index, "id"), f"section id '{section.id}' is used twice")
                continue
            ids.add(section.id)
            self.add_text(
                section.id, ("sections", index, "text"), section.text, f"section '{section.id}'"
            )
        total = sum(s.seconds for s in self.model.sections)
        limit = self.model.duration_seconds
        if limit is not None and total > limit:
            self.fail(
                ("duration_seconds",),
                f"the sections last {total} seconds, more than duration_seconds {limit}",
            )

    def check_messages(self) -> None:
        kind = self.model.kind
        for name, message in self.model.messages.items():
            loc = ("messages", name)
            if kind == Kind.EMAIL and message.subject is None:
                self.fail(loc, f"e-mail '{name}' needs a subject")
            if kind == Kind.SMS and message.subject is not None:
                self.fail((*loc, "subject"), f"text message '{name}' has no subject")
            if message.subject is not None:
                self.add_text(
                    f"{name}.subject", (*loc, "subject"), message.subject, f"'{name}' subject"
                )
            self.add_text(f"{name}.body", (*loc, "body"), message.body, f"'{name}' body")

    def check_criteria(self) -> None:
        """A scorecard's criteria: ids once each, labels in every language, and a ``step`` or
        ``section`` only with ``checks`` naming the script they are in (``check_references``
        looks them up there once the whole library is loaded)."""
        ids: set[str] = set()
        for index, criterion in enumerate(self.model.criteria):
            loc = ("criteria", index)
            what = f"criterion '{criterion.id}'"
            if criterion.id in ids:
                self.fail((*loc, "id"), f"criterion id '{criterion.id}' is used twice")
                continue
            ids.add(criterion.id)
            self.add_text(f"criteria.{criterion.id}", (*loc, "label"), criterion.label, what)
            if criterion.step and criterion.section:
                self.fail((*loc, "section"), f"{what}: give a step or a section, not both")
            elif (criterion.step or criterion.section) and self.model.checks is None:
                self.fail(
                    (*loc, "step" if criterion.step else "section"),
                    f"{what}: a step or section is of the script the scorecard checks: "
                    "name it in checks",
                )


def check_references(scripts: Iterable[Script]) -> list[ScriptError]:
    """Across the library: a scorecard's ``checks`` is a script of it, and each criterion's
    ``step`` or ``section`` is one of that script's (a file alone cannot tell)."""
    by_name = {s.name: s for s in scripts}
    problems: list[ScriptError] = []
    for card in by_name.values():
        if card.kind != Kind.SCORECARD or card.checks is None:
            continue
        target = by_name.get(card.checks)
        if target is None:
            problems.append(
                ScriptError(
                    card.path,
                    _line_of(card.path, ("checks",)),
                    f"checks: there is no script '{card.checks}' in the library",
                )
            )
            continue
        steps = {s.id for s in target.steps}
        sections = {s.id for s in target.sections}
        for index, criterion in enumerate(card.criteria):
            for attr, known in (("step", steps), ("section", sections)):
                ref = getattr(criterion, attr)
                if ref is not None and ref not in known:
                    problems.append(
                        ScriptError(
                            card.path,
                            _line_of(card.path, ("criteria", index, attr)),
                            f"criterion '{criterion.id}': '{ref}' is not a {attr} of "
                            f"script '{target.name}'",
                        )
                    )
    return problems


# ---------------------------------------------------------------- entry points


def check_file(path: str | Path) -> tuple[Script | None, list[ScriptError]]:
    """The script in ``path`` and no problems, or None and every problem found."""
    path = Path(path)
    try:
        data, lines = _read(path)
    except ScriptError as exc:
        return None, [exc]
    try:
        model = ScriptFile.model_validate(data)
    except ValidationError as exc:
        return None, sorted(_schema_errors(path, data, lines, exc), key=_order)
    checker = _Checker(path, model, lines)
    checker.run()
    if checker.problems:
        return None, sorted(checker.problems, key=_order)
    return Script(
        name=model.name,
        version=model.version,
        kind=model.kind,
        languages=tuple(model.languages),
        path=path,
        description=model.description,
        steps=tuple(model.steps),
        sections=tuple(model.sections),
        menu=tuple(_resolved(option) for option in model.menu),
        messages=tuple(model.messages),
        duration_seconds=model.duration_seconds,
        templates=checker.templates,
        checks=model.checks,
        criteria=tuple(model.criteria),
    ), []


def _resolved(option: MenuOption) -> MenuOption:
    """The option with each sub-option's queue, needs and priority filled in from it."""
    if not option.options:
        return option
    subs = [
        sub.model_copy(
            update={
                "queue": sub.queue or option.queue,
                "needs": option.needs if sub.needs is None else sub.needs,
                "priority": sub.priority or option.priority,
            }
        )
        for sub in option.options
    ]
    return option.model_copy(update={"options": subs})


def _order(error: ScriptError) -> tuple[int, str]:
    return (error.line or 0, error.message)


def load_script(path: str | Path) -> Script:
    """The script in ``path``; raises the first ``ScriptError`` (by line) when it is broken."""
    script, problems = check_file(path)
    if problems:
        raise problems[0]
    assert script is not None
    return script


def script_files(directory: str | Path) -> list[Path]:
    directory = Path(directory)
    if not directory.is_dir():
        raise ScriptError(directory, None, "not a directory of script files")
    return sorted(
        p
        for p in directory.iterdir()
        if p.suffix in SUFFIXES and p.is_file() and not p.name.startswith(".")
    )


def check_dir(directory: str | Path) -> tuple[list[Script], list[ScriptError]]:
    """Every valid script in ``directory``, and every problem (two files claiming the same
    name is a problem of the later file, in name order)."""
    scripts: list[Script] = []
    problems: list[ScriptError] = []
    try:
        files = script_files(directory)
    except ScriptError as exc:
        return [], [exc]
    owners: dict[str, Script] = {}
    for path in files:
        script, found = check_file(path)
        problems.extend(found)
        if script is None:
            continue
        if script.name in owners:
            problems.append(duplicate_name(script, owners[script.name]))
            continue
        owners[script.name] = script
        scripts.append(script)
    problems.extend(check_references(scripts))
    return scripts, problems


def duplicate_name(script: Script, owner: Script) -> ScriptError:
    return ScriptError(
        script.path,
        _name_line(script.path),
        f"script name '{script.name}' is already used by {owner.path.name}",
    )


def _line_of(path: Path, loc: Loc) -> int | None:
    """The line of ``loc`` in the file as it is now (None when it no longer reads)."""
    try:
        return _read(path)[1].line(loc)
    except ScriptError:
        return None


def _name_line(path: Path) -> int | None:
    try:
        return _read(path)[1].line(("name",))
    except ScriptError:
        return None
