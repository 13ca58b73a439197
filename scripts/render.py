"""Placeholders in script texts: the known variables, their fallbacks, and the three targets.

A text names variables as ``{customer.first_name}``; ``{{`` and ``}}`` are literal braces;
``{customer.first_name|friend}`` overrides the fallback for that one place. Every variable is
known in advance (``VARIABLES``), so a typo is an error when the file loads, not a raw
``{placeholder}`` read out to a caller.

Rendering never raises and never leaves a placeholder: a value that is missing, empty,
unreadable (its ``str()`` raises) or nothing but control characters gives the variable's
fallback in the text's language. Values are made safe before they reach the text: control
characters and braces are dropped, whitespace is collapsed, length is capped. Then the whole
text is encoded for its target:

- ``text``: plain text (what ``VoiceResponse.say()`` and SMS take; twilio-python escapes
  the XML itself), with nothing in it that XML 1.0 cannot carry;
- ``twiml``: the same, XML-escaped, for writing into a TwiML document by hand;
- ``html``: escaped with markupsafe, blank lines as paragraphs and line breaks as ``<br>``
  (a ``Markup``, safe in a Jinja template).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from markupsafe import Markup
from markupsafe import escape as html_escape

TARGETS = ("text", "twiml", "html")
MAX_VALUE_CHARS = 200


@dataclass(frozen=True)
class Variable:
    """A variable texts may use: what it says when the context does not know it."""

    name: str
    fallback: Mapping[str, str]  # language → text ("" is allowed: the words around it stay)
    # (value, lang) → text; None: format it as any value; "": it says nothing (missing)
    format: Callable[[Any, str], str | None] | None = None
    derive: Callable[[Callable[[str], Any], str], str | None] | None = None  # from others

    def fallback_in(self, lang: str) -> str:
        if lang in self.fallback:
            return self.fallback[lang]
        return self.fallback.get(lang.split("-")[0], self.fallback["en-US"])


# ---------------------------------------------------------------- formatting values

_WEEKDAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
}
_MONTHS = {
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    "es": [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ],
}


def _family(lang: str) -> str:
    return "es" if lang.startswith("es") else "en"


def format_when(value: Any, lang: str) -> str | None:
    """A date or time as a person says it: "Tuesday, January 6 at 3 PM",
    "martes 6 de enero a las 3 p. m." (in the value's own time zone; localise it first)."""
    if isinstance(value, datetime):
        day = format_when(value.date(), lang)
        hour = value.hour % 12 or 12
        clock = f"{hour}" if value.minute == 0 else f"{hour}:{value.minute:02d}"
        if _family(lang) == "es":
            suffix = "a. m." if value.hour < 12 else "p. m."
            article = "a la" if hour == 1 else "a las"
            return f"{day} {article} {clock} {suffix}"
        return f"{day} at {clock} {'AM' if value.hour < 12 else 'PM'}"
    if isinstance(value, date):
        family = _family(lang)
        weekday = _WEEKDAYS[family][value.weekday()]
        month = _MONTHS[family][value.month - 1]
        if family == "es":
            return f"{weekday} {value.day} de {month}"
        return f"{weekday}, {month} {value.day}"
    return None


def _whole_number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if not math.isfinite(number) or number < 0 or number > 1e9:
        return None
    return math.ceil(number)


def format_count(value: Any, lang: str) -> str | None:
    """A count or a number of minutes, rounded up; "" (missing) when it is not one."""
    number = _whole_number(value)
    return "" if number is None else str(number)


def derive_wait(lookup: Callable[[str], Any], lang: str) -> str | None:
    """``queue.wait`` from ``queue.wait_minutes``: "about 3 minutes", "unos 3 minutos"."""
    minutes = _whole_number(lookup("queue.wait_minutes"))
    if minutes is None:
        return None
    minutes = max(minutes, 1)
    if _family(lang) == "es":
        return "alrededor de un minuto" if minutes == 1 else f"unos {minutes} minutos"
    return "about one minute" if minutes == 1 else f"about {minutes} minutes"


def _v(name: str, en: str, es: str, **kwargs: Any) -> Variable:
    return Variable(name, {"en-US": en, "es-MX": es}, **kwargs)


VARIABLES: dict[str, Variable] = {
    v.name: v
    for v in (
        _v("customer.first_name", "there", ""),
        _v("customer.last_name", "", ""),
        _v("customer.phone", "the number we have on file", "el número que tenemos registrado"),
        _v("customer.email", "the address we have on file", "el correo que tenemos registrado"),
        _v("agent.name", "a member of our team", "un asesor de nuestro equipo"),
        _v("agent.first_name", "a member of our team", "un asesor de nuestro equipo"),
        _v("agent.phone", "our main number", "nuestro número principal"),
        _v("dealer.name", "our dealership", "nuestra agencia"),
        _v("dealer.phone", "our main number", "nuestro número principal"),
        _v("dealer.address", "our showroom", "nuestra sala de exhibición"),
        _v("dealer.website", "our website", "nuestro sitio web"),
        _v("dealer.hours", "our regular business hours", "nuestro horario habitual"),
        _v("appointment.when", "the scheduled day", "día programado", format=format_when),
        _v("appointment.type", "appointment", "cita"),
        _v("appointment.with", "our team", "nuestro equipo"),
        _v("vehicle.description", "vehicle", "vehículo"),  # "the vehicle you asked about"
        _v("lead.source", "our website", "nuestro sitio web"),
        _v("queue.name", "our team", "nuestro equipo"),
        _v("queue.position", "next", "siguiente", format=format_count),
        _v("queue.wait_minutes", "a few", "pocos", format=format_count),
        _v("queue.wait", "a few minutes", "unos minutos", derive=derive_wait),
    )
}


# ---------------------------------------------------------------- templates

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_PLACEHOLDER = re.compile(r"^\s*([a-z_]+(?:\.[a-z_]+)+)\s*(?:\|(.*))?$", re.DOTALL)


@dataclass(frozen=True)
class Slot:
    variable: Variable
    fallback: str | None  # the text's own fallback (``{var|fallback}``), else the variable's


class TemplateError(ValueError):
    """A text that cannot be compiled; the loader adds the file and line."""


@dataclass(frozen=True)
class Template:
    source: str
    parts: tuple[str | Slot, ...]

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(p.variable.name for p in self.parts if isinstance(p, Slot))


def compile_template(source: str) -> Template:
    parts: list[str | Slot] = []
    literal: list[str] = []
    position = 0
    for match in _TOKEN.finditer(source):
        literal.append(source[position : match.start()])
        position = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            literal.append(token[0])
            continue
        if token in ("{", "}"):
            raise TemplateError(f"unmatched '{token}' (write {token * 2} for a literal brace)")
        found = _PLACEHOLDER.match(match.group(1))
        name = found.group(1) if found else match.group(1).strip()
        if name not in VARIABLES:
            raise TemplateError(f"unknown variable {{{name}}}{_suggest(name)}")
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(Slot(VARIABLES[name], found.group(2)))
    literal.append(source[position:])
    if "".join(literal):
        parts.append("".join(literal))
    return Template(source, tuple(parts))


def _suggest(name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, VARIABLES, n=1)
    if close:
        return f" (did you mean {{{close[0]}}}?)"
    return " (known: " + ", ".join(sorted(VARIABLES)) + ")"


# ---------------------------------------------------------------- rendering

# What XML 1.0 cannot carry (and a spoken or texted value has no use for): control
# characters, lone surrogates, the two non-characters; braces so a value never reads as a
# placeholder.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff{}]")
_SPACES = re.compile(r"\s+")


def safe_value(value: Any, lang: str, variable: Variable | None = None) -> str:
    """Any value as one safe line of text, or "" when it says nothing."""
    if value is None:
        return ""
    try:
        text = None
        if variable is not None and variable.format is not None:
            text = variable.format(value, lang)
        if text is None:
            text = format_when(value, lang) or str(value)
        text = _SPACES.sub(" ", _UNSAFE.sub("", str(text))).strip()
    except Exception:  # a value whose str() fails says nothing; the fallback speaks
        return ""
    if len(text) > MAX_VALUE_CHARS:
        text = text[:MAX_VALUE_CHARS].rsplit(" ", 1)[0]
    return text


def lookup_in(context: Mapping[str, Any] | None) -> Callable[[str], Any]:
    """``"customer.first_name"`` from ``{"customer": {...} or an object}`` (or a flat
    ``{"customer.first_name": ...}``); None when anything along the way is missing."""
    context = context if isinstance(context, Mapping) else {}

    def lookup(name: str) -> Any:
        try:
            if name in context:
                return context[name]
            value: Any = context
            for attribute in name.split("."):
                if value is None:
                    return None
                if isinstance(value, Mapping):
                    value = value.get(attribute)
                else:
                    value = getattr(value, attribute, None)
            return value
        except Exception:
            return None

    return lookup


def _tidy(text: str) -> str:
    """What an empty fallback leaves behind: "Hola , gracias" → "Hola, gracias"."""
    text = re.sub(r"[ \t]+([,.;:!?])", r"\1", text)
    text = re.sub(r"[,;:](?=[,.;:!?])", "", text)
    text = re.sub(r"(^|\n)[ \t]*[,;:][ \t]*", r"\1", text)
    text = re.sub(r"([¿¡])[ \t]+", r"\1", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip(" \t")


def render_template(
    template: Template, lang: str, context: Mapping[str, Any] | None, target: str = "text"
) -> str:
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, not {target!r}")
    lookup = lookup_in(context)
    pieces: list[str] = []
    emptied = False
    for part in template.parts:
        if isinstance(part, str):
            pieces.append(part)
            continue
        variable = part.variable
        value = safe_value(lookup(variable.name), lang, variable)
        if not value and variable.derive is not None:
            try:
                value = safe_value(variable.derive(lookup, lang), lang)
            except Exception:
                value = ""
        if not value:
            fallback = part.fallback if part.fallback is not None else variable.fallback_in(lang)
            value = safe_value(fallback, lang)
        emptied = emptied or not value
        pieces.append(value)
    text = "".join(pieces)
    if emptied:
        text = _tidy(text)
    if target == "twiml":
        return xml_escape(text)
    if target == "html":
        paragraphs = []
        for paragraph in re.split(r"\n[ \t]*\n", text.strip()):
            lines = Markup("<br>\n").join(html_escape(line) for line in paragraph.split("\n"))
            paragraphs.append(Markup("<p>{}</p>").format(lines))
        return Markup("\n").join(paragraphs)
    return text
