"""Phone numbers become E.164 at the edge (DESIGN.md rule 5), with ``phonenumbers``."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from phonenumbers import timezone as pn_timezone

from crm_core.errors import InvalidPhone

MAX_INPUT_LENGTH = 40  # longer than any dialable number with formatting and an extension


def normalize_phone(raw: object, *, region: str = "US", field: str = "phone") -> str:
    """Return ``raw`` as an E.164 string, or raise InvalidPhone naming ``field``.

    Accepts national formats for ``region`` ("(313) 555-0100"), international ones
    ("+44 20 7946 0018"), and ``tel:`` URIs. Rejects anything that is not a valid number
    for its country: a caller ID such as "anonymous" or "266696687" is not a phone.
    """
    if not isinstance(raw, str):
        raise InvalidPhone(f"{field} must be a string", field=field)
    text = raw.strip()
    if text.lower().startswith("tel:"):
        text = text[4:]
    if not text:
        raise InvalidPhone(f"{field} is empty", field=field)
    if len(text) > MAX_INPUT_LENGTH:
        raise InvalidPhone(f"{field} is longer than {MAX_INPUT_LENGTH} characters", field=field)
    return _normalize(text, region.upper(), field)


@lru_cache(maxsize=4096)
def _normalize(text: str, region: str, field: str) -> str:
    # Pure function of its inputs; the cache spares the screen pop re-parsing a number that
    # rings twice in a minute (a caller who hung up and called back).
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"{field} is not a phone number: {exc._msg}", field=field) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(f"{field} is not a valid phone number", field=field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def time_zone_of(e164: str) -> str | None:
    """The IANA time zone of a number when it has exactly one (for calling windows)."""
    number = phonenumbers.parse(e164, None)
    zones = [z for z in pn_timezone.time_zones_for_number(number) if z != "Etc/Unknown"]
    return zones[0] if len(zones) == 1 else None
