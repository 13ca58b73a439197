"""What a caller in the ACD hears, in English (en-US) and Spanish (es-MX).

The caller's language comes with the caller (``lang=es-MX`` on ``/twilio/acd/enqueue``,
where the IVR sends them) and stays on every URL of their flow. Until the call-script library
exists (the IVR issue moves these texts into its files), these are the texts; a language
without its own texts gets English.
"""

from __future__ import annotations

DEFAULT = "en-US"
PROMPTS: dict[str, dict[str, str]] = {
    "en-US": {
        "position": "You are number {position} in line. Your estimated wait is about "
        "{minutes} {unit}.",
        "minute": "minute",
        "minutes": "minutes",
        "callback_choice": "To hang up and keep your place in line, press 1. We will call "
        "you back at the number you are calling from.",
        "kept_place": "Thank you. You keep your place in line, and we will call you back.",
        "goodbye": "Thank you for calling. Goodbye.",
        "empty_callback": "Everyone who could help you is away right now. We have your number "
        "and will call you back as soon as someone is available. Goodbye.",
        "empty_voicemail": "Everyone who could help you is away right now. Please leave your "
        "name, number and a short message after the tone, and we will call you back.",
        "overflow_callback": "We're sorry for the long wait. You keep your place in line, and "
        "we will call you back at this number. Goodbye.",
        "overflow_voicemail": "We're sorry for the long wait. Please leave your name, number "
        "and a short message after the tone, and we will call you back as soon as we can.",
    },
    "es-MX": {
        "position": "Usted es el número {position} en la fila. El tiempo de espera estimado "
        "es de unos {minutes} {unit}.",
        "minute": "minuto",
        "minutes": "minutos",
        "callback_choice": "Para colgar y conservar su lugar en la fila, oprima 1. Le "
        "llamaremos al número desde el que nos llama.",
        "kept_place": "Gracias. Conserva su lugar en la fila y le llamaremos.",
        "goodbye": "Gracias por llamar. Hasta luego.",
        "empty_callback": "En este momento no hay nadie disponible para atenderle. Tenemos su "
        "número y le llamaremos en cuanto alguien esté disponible. Hasta luego.",
        "empty_voicemail": "En este momento no hay nadie disponible para atenderle. Por favor "
        "deje su nombre, su número y un breve mensaje después del tono, y le llamaremos.",
        "overflow_callback": "Lamentamos la espera. Conserva su lugar en la fila y le "
        "llamaremos a este número. Hasta luego.",
        "overflow_voicemail": "Lamentamos la espera. Por favor deje su nombre, su número y un "
        "breve mensaje después del tono, y le llamaremos lo antes posible.",
    },
}


def language(raw: str | None) -> str:
    """One of the languages with texts; anything else (or nothing) is the default."""
    return raw if raw in PROMPTS else DEFAULT


def text(lang: str, key: str, **values: object) -> str:
    return PROMPTS[language(lang)][key].format(**values)


def wait_announcement(lang: str, position: int, minutes: int) -> str:
    unit = text(lang, "minute" if minutes == 1 else "minutes")
    return text(lang, "position", position=position, minutes=minutes, unit=unit)
