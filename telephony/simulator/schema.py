"""Which TwiML elements may stand where, and what Twilio does with the rest.

Twilio checks each Voice TwiML document against its schema. A document that is not XML, or
whose root is not ``<Response>``, cannot be run: error 12100, the fallback URL, then an
application error (verbs.py). Anything else that does not conform (a misspelled verb, a
verb in the wrong case, "unknown or unexpected nested elements" such as ``<Say>`` in
``<Dial>`` or ``<Dial>`` in ``<Gather>``) is only a warning, 12200 "Schema validation
warning", logged to the debugger: the element is skipped and the rest of the document runs.
The message is worded like the parser's that Twilio's debugger shows.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

# Every Voice verb Twilio knows, including those the simulator does not run (verbs.py tells
# those apart: they are valid TwiML, so not a 12200).
VERBS = frozenset(
    {
        "Connect",
        "Dial",
        "Echo",
        "Enqueue",
        "Gather",
        "Hangup",
        "Leave",
        "Pause",
        "Pay",
        "Play",
        "Prompt",
        "Record",
        "Redirect",
        "Refer",
        "Reject",
        "Say",
        "Sms",
        "Start",
        "Stop",
    }
)
# The elements each verb may contain, where Twilio's schema restricts them.
CHILDREN = {
    "Gather": frozenset({"Say", "Play", "Pause"}),
    "Dial": frozenset(
        {"Number", "Client", "Conference", "Queue", "Sip", "Sim", "Application", "WhatsApp"}
    ),
    "Enqueue": frozenset({"Task"}),
    "Client": frozenset({"Identity", "Parameter"}),
}
# The verbs a <Dial><Queue url> document may use ("Play, Say, Pause, and Redirect").
QUEUE_URL_VERBS = frozenset({"Play", "Say", "Pause", "Redirect"})


def unexpected(element: ET.Element, allowed: frozenset[str]) -> str:
    expected = ", ".join(sorted(allowed))
    return (
        "cvc-complex-type.2.4.a: Invalid content was found starting with element "
        f"'{element.tag}'. One of '{{{expected}}}' is expected."
    )


def conform(verbs: list[ET.Element], allowed: frozenset[str] = VERBS) -> list[str]:
    """Drop, in place, every element the schema does not allow (``verbs`` are the children of
    ``<Response>``); return one parser message per element dropped."""
    messages = []
    for verb in list(verbs):
        if verb.tag not in allowed:
            messages.append(unexpected(verb, allowed))
            verbs.remove(verb)
            continue
        messages += _conform_children(verb)
    return messages


def _conform_children(element: ET.Element) -> list[str]:
    allowed = CHILDREN.get(element.tag)
    messages = []
    for child in list(element):
        if allowed is not None and child.tag not in allowed:
            messages.append(unexpected(child, allowed))
            element.remove(child)
        elif allowed is not None:
            messages += _conform_children(child)
    return messages
