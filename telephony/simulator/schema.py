"""Which TwiML elements may stand where, and what Twilio does with the rest.

Twilio checks each Voice TwiML document against its schema. A document that is not XML, or
whose root is not ``<Response>``, cannot be run: error 12100, the fallback URL, then an
application error (verbs.py). Anything else that does not conform (a misspelled verb, a
verb in the wrong case, "unknown or unexpected nested elements" such as ``<Say>`` in
``<Dial>`` or ``<Dial>`` in ``<Gather>``) is only a warning, 12200 "Schema validation
warning", logged to the debugger: the element is skipped and the rest of the document runs.
The message is worded like the parser's that Twilio's debugger shows.

Attributes are checked the same way, against each verb's and noun's documented ones (the
TwiML reference; twilio-python's builders take the same names): an attribute the element
does not have, or a value outside its documented set or type (``input="keys"``,
``timeout="soon"``, ``method="PUT"``, ``record="yes"``), is a 12200 warning and the
attribute is dropped, so the element runs with its default.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable

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


# ---------------------------------------------------------------- attributes
Check = Callable[[str], bool]


def _one_of(*values: str) -> Check:
    allowed = frozenset(values)
    return lambda value: value in allowed


def _integer(low: int, high: int | None = None) -> Check:
    def check(value: str) -> bool:
        if not re.fullmatch(r"[0-9]{1,9}", value.strip()):
            return False
        number = int(value)
        return number >= low and (high is None or number <= high)

    return check


def _events(*names: str) -> Check:
    """A space- (or comma-) separated set of event names, each one of ``names``."""
    allowed = frozenset(names)
    return lambda value: all(e in allowed for e in re.split(r"[\s,]+", value.strip()) if e)


def _url(value: str) -> bool:
    return bool(value.strip()) and not re.search(r"\s", value.strip())


def _text(value: str) -> bool:
    return True


BOOLEAN = _one_of("true", "false")
METHOD = _one_of("GET", "POST")
KEYS = re.compile(r"[0-9#*]*")
CALL_EVENTS = _events("initiated", "ringing", "answered", "completed")
RECORDING_EVENTS = _events("in-progress", "completed", "absent")
TRIM = _one_of("trim-silence", "do-not-trim")
# Dial's ringTone: the countries whose ringback Twilio plays.
RING_TONES = [
    "at",
    "au",
    "bg",
    "br",
    "be",
    "ch",
    "cl",
    "cn",
    "cz",
    "de",
    "dk",
    "ee",
    "es",
    "fi",
    "fr",
    "gr",
    "hu",
    "il",
    "in",
    "it",
    "lt",
    "jp",
    "mx",
    "my",
    "nl",
    "no",
    "nz",
    "ph",
    "pl",
    "pt",
    "ru",
    "se",
    "sg",
    "th",
    "uk",
    "us",
    "us-old",
    "tw",
    "ve",
    "za",
]
_CALLBACKS = {"statusCallback": _url, "statusCallbackMethod": METHOD}
_AMD = {
    "machineDetection": _one_of("Enable", "DetectMessageEnd"),
    "amdStatusCallback": _url,
    "amdStatusCallbackMethod": METHOD,
    "machineDetectionTimeout": _integer(3, 59),
    "machineDetectionSpeechThreshold": _integer(1000, 6000),
    "machineDetectionSpeechEndThreshold": _integer(500, 5000),
    "machineDetectionSilenceTimeout": _integer(2000, 10000),
}
# Each element's documented attributes and what their values may be. Elements not listed
# here (Connect, Pay, Start, Sip, …) are not run by the simulator and not checked.
ATTRIBUTES: dict[str, dict[str, Check]] = {
    "Say": {
        "voice": lambda v: bool(
            re.fullmatch(r"man|woman|alice|(Polly|Google)\.[A-Za-z0-9-]+(-Neural|-Generative)?", v)
        ),
        "language": lambda v: bool(re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*", v)),
        "loop": _integer(0),
    },
    "Play": {"loop": _integer(0), "digits": lambda v: bool(re.fullmatch(r"[0-9wW*#]+", v))},
    "Pause": {"length": _integer(1)},
    "Gather": {
        "input": _one_of("dtmf", "speech", "dtmf speech", "speech dtmf"),
        "action": _url,
        "method": METHOD,
        "timeout": _integer(1),
        "speechTimeout": lambda v: v == "auto" or _integer(0)(v),
        "maxSpeechTime": _integer(1, 60),
        "profanityFilter": BOOLEAN,
        "finishOnKey": lambda v: v == "" or (len(v) == 1 and KEYS.fullmatch(v) is not None),
        "numDigits": _integer(1),
        "partialResultCallback": _url,
        "partialResultCallbackMethod": METHOD,
        "language": lambda v: bool(re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*", v)),
        "hints": _text,
        "bargeIn": BOOLEAN,
        "debug": BOOLEAN,
        "actionOnEmptyResult": BOOLEAN,
        "speechModel": _text,
        "enhanced": BOOLEAN,
    },
    "Record": {
        "action": _url,
        "method": METHOD,
        "timeout": _integer(0),
        "finishOnKey": lambda v: KEYS.fullmatch(v) is not None,
        "maxLength": _integer(1, 14400),
        "playBeep": BOOLEAN,
        "trim": TRIM,
        "recordingStatusCallback": _url,
        "recordingStatusCallbackMethod": METHOD,
        "recordingStatusCallbackEvent": RECORDING_EVENTS,
        "transcribe": BOOLEAN,
        "transcribeCallback": _url,
        "recordingConfigurationId": _text,
    },
    "Dial": {
        "action": _url,
        "method": METHOD,
        "timeout": _integer(1, 600),
        "hangupOnStar": BOOLEAN,
        "timeLimit": _integer(1, 86400),
        "callerId": lambda v: bool(re.fullmatch(r"\+?[0-9]{2,15}|client:[A-Za-z0-9_.@-]+", v)),
        "record": _one_of(
            "do-not-record",
            "record-from-answer",
            "record-from-ringing",
            "record-from-answer-dual",
            "record-from-ringing-dual",
            "true",
            "false",
        ),
        "trim": TRIM,
        "recordingStatusCallback": _url,
        "recordingConfigurationId": _text,
        "recordingStatusCallbackMethod": METHOD,
        "recordingStatusCallbackEvent": RECORDING_EVENTS,
        "answerOnBridge": BOOLEAN,
        "ringTone": _one_of(*RING_TONES),
        "recordingTrack": _one_of("both", "inbound", "outbound"),
        "sequential": BOOLEAN,
        "referUrl": _url,
        "referMethod": METHOD,
        "events": _text,
    },
    "Number": {
        "sendDigits": lambda v: bool(re.fullmatch(r"[0-9wW*#]+", v)),
        "url": _url,
        "method": METHOD,
        "statusCallbackEvent": CALL_EVENTS,
        "byoc": _text,
        **_CALLBACKS,
        **_AMD,
    },
    "Client": {
        "url": _url,
        "method": METHOD,
        "statusCallbackEvent": CALL_EVENTS,
        **_CALLBACKS,
    },
    "Conference": {
        "muted": BOOLEAN,
        "beep": _one_of("true", "false", "onEnter", "onExit"),
        "startConferenceOnEnter": BOOLEAN,
        "endConferenceOnExit": BOOLEAN,
        "waitUrl": lambda v: True,  # "" is documented: no music
        "waitMethod": METHOD,
        "maxParticipants": _integer(2, 250),
        "record": _one_of("do-not-record", "record-from-start"),
        "recordingConfigurationId": _text,
        "region": _one_of("us1", "us2", "ie1", "de1", "sg1", "br1", "au1", "jp1"),
        "coach": lambda v: bool(re.fullmatch(r"CA[0-9a-fA-F]{32}", v)),
        "trim": TRIM,
        "statusCallbackEvent": _events(
            "start", "end", "join", "leave", "mute", "hold", "modify", "speaker", "announcement"
        ),
        "recordingStatusCallback": _url,
        "recordingStatusCallbackMethod": METHOD,
        "recordingStatusCallbackEvent": RECORDING_EVENTS,
        "eventCallbackUrl": _url,
        "jitterBufferSize": _one_of("off", "small", "medium", "large"),
        "participantLabel": _text,
        **_CALLBACKS,
    },
    "Queue": {"url": _url, "method": METHOD, "reservationSid": _text, "postWorkActivitySid": _text},
    "Enqueue": {
        "action": _url,
        "maxQueueSize": _integer(1, 5000),
        "method": METHOD,
        "waitUrl": _url,
        "waitUrlMethod": METHOD,
        "workflowSid": lambda v: bool(re.fullmatch(r"WW[0-9a-fA-F]{32}", v)),
    },
    "Redirect": {"method": METHOD},
    "Hangup": {},
    "Leave": {},
    "Reject": {"reason": _one_of("rejected", "busy")},
}


def unknown_attribute(element: ET.Element, name: str) -> str:
    return (
        f"cvc-complex-type.3.2.2: Attribute '{name}' is not allowed to appear in element "
        f"'{element.tag}'."
    )


def invalid_value(element: ET.Element, name: str, value: str) -> str:
    return (
        f"cvc-attribute.3: The value '{value}' of attribute '{name}' on element "
        f"'{element.tag}' is not valid with respect to its type."
    )


def conform_attributes(element: ET.Element) -> list[str]:
    """Drop, in place, each attribute of ``element`` its schema does not allow (unknown, or
    a value outside the documented ones); one parser message per attribute dropped."""
    spec = ATTRIBUTES.get(element.tag)
    if spec is None:
        return []
    messages = []
    for name, value in list(element.attrib.items()):
        check = spec.get(name)
        if check is None:
            messages.append(unknown_attribute(element, name))
        elif not check(value):
            messages.append(invalid_value(element, name, value))
        else:
            continue
        del element.attrib[name]
    return messages


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
        messages += conform_attributes(verb)
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
            messages += conform_attributes(child)
            messages += _conform_children(child)
    return messages
