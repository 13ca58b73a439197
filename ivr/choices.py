"""What a caller chose, from the keys pressed or the words said: the menu option whose
label or keywords best match, yes or no, a digit said aloud; and what a caller said, made
safe to keep. Plain functions, no I/O."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

_WORD = re.compile(r"[a-z0-9]+")
SPOKEN_DIGITS = {
    "zero": "0", "oh": "0", "cero": "0",
    "one": "1", "uno": "1", "una": "1",
    "two": "2", "to": "2", "too": "2", "dos": "2",
    "three": "3", "tres": "3",
    "four": "4", "for": "4", "cuatro": "4",
    "five": "5", "cinco": "5",
    "six": "6", "seis": "6",
    "seven": "7", "siete": "7",
    "eight": "8", "ocho": "8",
    "nine": "9", "nueve": "9",
}  # fmt: skip
YES = {"yes", "yeah", "yep", "correct", "right", "si", "claro", "correcto", "exacto", "sure"}
NO = {"no", "nope", "nah", "other", "otro", "else"}
# Words that say nothing about which option (so "I need service please" picks service).
FILLER = {
    "i", "a", "an", "the", "to", "my", "me", "please", "need", "want", "would", "like",
    "and", "for", "of", "with", "on", "in", "about", "is", "it", "im", "can", "you",
    "el", "la", "los", "las", "un", "una", "de", "del", "mi", "por", "favor", "para",
    "quiero", "necesito", "con", "en", "y", "que", "es", "lo", "hablar",
}  # fmt: skip


def clean(text: str | None, limit: int = 500) -> str | None:
    """What a caller said (or Twilio transcribed), as text a database keeps: control
    characters out (PostgreSQL refuses NUL), spaces collapsed, cut to ``limit``."""
    kept = "".join(" " if unicodedata.category(c).startswith("C") else c for c in text or "")
    return " ".join(kept.split())[:limit] or None


def words(text: str | None) -> list[str]:
    """Lower case, accents off, letters and digits only: "Sí, ¡SERVICIO!" → ["si", "servicio"]."""
    plain = unicodedata.normalize("NFKD", text or "")
    plain = "".join(c for c in plain if not unicodedata.combining(c)).lower()
    return _WORD.findall(plain)[:60]


def digit_of(digits: str | None, speech: str | None) -> str | None:
    """The key pressed (the first), or a digit said on its own ("two", "dos", "2")."""
    if digits:
        return digits.strip()[:1] or None
    said = words(speech)
    if len(said) == 1 and (said[0] in SPOKEN_DIGITS or said[0].isdigit()):
        return SPOKEN_DIGITS.get(said[0], said[0][:1])
    return None


def choose(
    options: Sequence[Any],
    phrases: Iterable[tuple[Any, Iterable[str]]],
    digits: str | None,
    speech: str | None,
) -> Any | None:
    """The option a caller chose: by key, by a digit said aloud, else by the option whose
    phrases (label and keywords) best match what was said. ``phrases`` pairs each option
    with its phrases in the caller's language. Ambiguous or unknown: None."""
    digit = digit_of(digits, speech)
    if digit is not None:
        return next((o for o in options if o.digit == digit), None)
    said = words(speech)
    if not said:
        return None
    text = " " + " ".join(said) + " "
    heard = set(said) - FILLER
    best: tuple[int, int] = (0, 0)
    chosen: list[Any] = []
    for option, option_phrases in phrases:
        score = (0, 0)
        for phrase in option_phrases:
            tokens = words(phrase)
            if not tokens:
                continue
            if f" {' '.join(tokens)} " in text:  # the whole phrase: the strongest match
                score = max(score, (2, len(tokens)))
            elif set(tokens) - FILLER and (set(tokens) - FILLER) <= heard:
                score = max(score, (1, len(tokens)))
            elif any(len(t) > 3 and t in heard for t in set(tokens) - FILLER):
                score = max(score, (0, 1))
        if score == (0, 0):
            continue
        if score > best:
            best, chosen = score, [option]
        elif score == best and option not in chosen:
            chosen.append(option)
    return chosen[0] if len(chosen) == 1 else None


def yes_or_no(digits: str | None, speech: str | None) -> bool | None:
    """1/yes/sí → True, 2/no → False, anything else None."""
    digit = digit_of(digits, speech)
    if digit is not None:
        return {"1": True, "2": False}.get(digit)
    said = set(words(speech))
    if said & YES and not said & NO:
        return True
    if said & NO and not said & YES:
        return False
    return None
