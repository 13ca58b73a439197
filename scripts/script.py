"""One loaded script: what it is (name, version, kind), its content, and its texts rendered."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.render import Template, render_template
from scripts.schema import Criterion, Kind, MenuOption, Section, Step, SubOption

DEFAULT_LANGUAGE = "en-US"


@dataclass(frozen=True, eq=False)
class Script:
    """A validated script file. Texts are addressed by key:

    - ``texts``: the key as written (``greeting``);
    - ``steps``: the step id (``opening``), an answer's label ``<step>.<answer>``;
    - ``sections`` (the pitch): the section id;
    - ``messages`` (e-mail, SMS): ``<message>.subject`` and ``<message>.body``;
    - ``menu``: an option's label ``menu.<option id>``, its sub-menu's prompt
      ``menu.<option id>.prompt``, a sub-option's label ``menu.<sub-option id>``.
    """

    name: str
    version: int | str
    kind: Kind
    languages: tuple[str, ...]
    path: Path
    description: str | None = None
    steps: tuple[Step, ...] = ()
    sections: tuple[Section, ...] = ()
    menu: tuple[MenuOption, ...] = ()
    messages: tuple[str, ...] = ()
    duration_seconds: int | None = None
    checks: str | None = None  # a scorecard: the script it scores (``criteria`` refer to it)
    criteria: tuple[Criterion, ...] = ()  # a scorecard's; label keys ``criteria.<id>``
    templates: Mapping[str, Mapping[str, Template]] = field(default_factory=dict, repr=False)

    @property
    def ref(self) -> str:
        """``name@version``: what a call records as the script it followed."""
        return f"{self.name}@{self.version}"

    def text_keys(self) -> list[str]:
        return list(self.templates)

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(f"script {self.name!r} has no step {step_id!r}")

    def option(self, option_id: str) -> MenuOption | SubOption:
        """The menu option, or sub-option of one, with this id (ids are unique across both)."""
        for option in self.menu:
            if option.id == option_id:
                return option
            for sub in option.options:
                if sub.id == option_id:
                    return sub
        raise KeyError(f"script {self.name!r} has no menu option {option_id!r}")

    def speech_hints(self, lang: str | None = DEFAULT_LANGUAGE) -> list[str]:
        """What a caller may say at the main menu in ``lang``: each option's label, then its
        keywords; the same phrase once (first spelling kept)."""
        return self._hints(self.menu, lang)

    def submenu_hints(self, option_id: str, lang: str | None = DEFAULT_LANGUAGE) -> list[str]:
        """The same for the sub-menu of ``option_id`` (empty when it has none)."""
        option = self.option(option_id)
        return self._hints(getattr(option, "options", ()), lang)

    def _hints(self, options: Iterable[MenuOption | SubOption], lang: str | None) -> list[str]:
        chosen = self.language(lang)
        hints: dict[str, str] = {}
        for option in options:
            label = self.text(f"menu.{option.id}", chosen)
            for phrase in (label, *option.keywords.get(chosen, ())):
                hints.setdefault(phrase.casefold(), phrase)
        return list(hints.values())

    def language(self, lang: str | None) -> str:
        """The language to speak: ``lang`` itself, else one of the same family
        (``es-US`` → ``es-MX``), else en-US."""
        if lang in self.languages:
            return lang
        family = str(lang or "").split("-")[0].lower()
        for known in self.languages:
            if family and known.split("-")[0] == family:
                return known
        return DEFAULT_LANGUAGE

    def render(
        self,
        key: str,
        lang: str | None = DEFAULT_LANGUAGE,
        context: Mapping[str, Any] | None = None,
        target: str = "text",
    ) -> str:
        try:
            by_language = self.templates[key]
        except KeyError:
            raise KeyError(f"script {self.name!r} has no text {key!r}") from None
        chosen = self.language(lang)
        return render_template(by_language[chosen], chosen, context, target)

    def text(
        self,
        key: str,
        lang: str | None = DEFAULT_LANGUAGE,
        context: Mapping[str, Any] | None = None,
    ) -> str:
        return self.render(key, lang, context, "text")
