"""Attributes of TwiML verbs and nouns against the documented ones: an unknown attribute or
a value outside its documented set or type is warning 12200 on the call, the attribute is
dropped (its default applies) and the rest of the document runs."""

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telephony.simulator.schema import ATTRIBUTES, conform, conform_attributes
from tests.telephony.simulator.test_verbs import BASE, CALLER, NUMBER, TwimlServer, new_simulator

# (element as written, the attribute that is wrong)
BAD = [
    ('<Gather input="keys"/>', "input"),
    ('<Gather numDigits="0"/>', "numDigits"),
    ('<Gather timeout="soon"/>', "timeout"),
    ('<Gather finishOnKey="ab"/>', "finishOnKey"),
    ('<Gather actionOnEmptyResult="yes"/>', "actionOnEmptyResult"),
    ('<Gather method="PUT"/>', "method"),
    ('<Gather numdigits="1"/>', "numdigits"),  # attribute names are case-sensitive
    ('<Say voice="robot">Hi.</Say>', "voice"),
    ('<Say language="Spanish">Hola.</Say>', "language"),
    ('<Say loop="-1">Hi.</Say>', "loop"),
    ('<Say speed="2">Hi.</Say>', "speed"),
    ('<Play loop="twice">https://example.com/a.mp3</Play>', "loop"),
    ('<Play digits="12ab"/>', "digits"),
    ('<Pause length="0"/>', "length"),
    ('<Pause length="a while"/>', "length"),
    ('<Record maxLength="0"/>', "maxLength"),
    ('<Record playBeep="maybe"/>', "playBeep"),
    ('<Record trim="cut"/>', "trim"),
    ('<Record recordingStatusCallbackEvent="completed done"/>', "recordingStatusCallbackEvent"),
    ('<Dial record="yes">+13135550111</Dial>', "record"),
    ('<Dial timeout="0">+13135550111</Dial>', "timeout"),
    ('<Dial callerId="the dealer">+13135550111</Dial>', "callerId"),
    ('<Dial answerOnBridge="sometimes">+13135550111</Dial>', "answerOnBridge"),
    ('<Dial ringTone="mars">+13135550111</Dial>', "ringTone"),
    ('<Dial><Conference muted="maybe">room</Conference></Dial>', "muted"),
    ('<Dial><Conference beep="loud">room</Conference></Dial>', "beep"),
    (
        '<Dial><Conference startConferenceOnEnter="yes">room</Conference></Dial>',
        "startConferenceOnEnter",
    ),
    ('<Dial><Conference endConferenceOnExit="no">room</Conference></Dial>', "endConferenceOnExit"),
    ('<Dial><Conference record="always">room</Conference></Dial>', "record"),
    ('<Dial><Conference coach="the agent">room</Conference></Dial>', "coach"),
    (
        '<Dial><Number statusCallbackEvent="picked-up">+13135550111</Number></Dial>',
        "statusCallbackEvent",
    ),
    ('<Enqueue method="PUT">sales</Enqueue>', "method"),
    ('<Enqueue workflowSid="sales-flow">sales</Enqueue>', "workflowSid"),
    ('<Enqueue waitUrl="">sales</Enqueue>', "waitUrl"),
    ('<Redirect method="DELETE">/next</Redirect>', "method"),
    ('<Hangup reason="done"/>', "reason"),
    ('<Reject reason="nope"/>', "reason"),
]


def _attribute_of(root: ET.Element, name: str) -> list[str | None]:
    return [e.get(name) for e in root.iter() if e.tag != "Response"]


@pytest.mark.parametrize(("element", "attribute"), BAD)
def test_a_bad_attribute_is_reported_and_dropped(element, attribute):
    root = ET.fromstring(f"<Response>{element}</Response>")
    verbs = list(root)
    messages = conform(verbs)
    assert len(messages) == 1 and f"'{attribute}'" in messages[0], messages
    assert all(v is None for v in _attribute_of(verbs[0], attribute))


def test_the_call_gets_warning_12200_and_runs_on_with_the_default():
    server = TwimlServer()
    server.docs["/voice"] = (
        '<Response><Say loop="many" voice="robot">Welcome.</Say>'
        '<Gather input="keys" timeout="2" action="/menu"><Say>Press 1.</Say></Gather>'
        "<Say>Goodbye.</Say></Response>"
    )
    server.docs["/fallback"] = "<Response><Say>Fallback.</Say></Response>"
    sim = new_simulator(server)
    sim.add_number(NUMBER, f"{BASE}/voice", fallback_url=f"{BASE}/fallback")
    caller = sim.call(CALLER, NUMBER).expect_say("welcome").expect_say("press 1").press("1")
    sim.advance(30)
    assert caller.failures == []
    mine = [n for n in sim.notifications if n.call_sid == caller.call.sid]
    assert [(n.code, n.level) for n in mine] == [("12200", "warning")] * 3
    assert {m for n in mine for m in ("loop", "voice", "input") if f"'{m}'" in n.message} == {
        "loop",
        "voice",
        "input",
    }
    assert server.posted("/menu")[0]["Digits"] == "1"  # Gather ran with its default input
    assert server.posted("/fallback") == []  # warnings, not an error


def test_documented_values_pass():
    good = (
        '<Response><Say voice="Polly.Mia-Neural" language="es-MX" loop="0">Hola.</Say>'
        '<Play loop="2" digits="1w2#"/><Pause length="3"/>'
        '<Gather input="dtmf speech" numDigits="1" timeout="6" finishOnKey="" speechTimeout="auto"'
        ' actionOnEmptyResult="true" method="POST" action="/a" language="es-MX" hints="a, b"/>'
        '<Record maxLength="120" playBeep="true" trim="trim-silence" finishOnKey="#" timeout="5"'
        ' recordingStatusCallbackEvent="in-progress completed absent" transcribe="false"/>'
        '<Dial record="record-from-answer-dual" timeout="30" callerId="+13135550100"'
        ' answerOnBridge="true" ringTone="us" action="/d" method="GET">'
        '<Conference muted="false" beep="onEnter" startConferenceOnEnter="true"'
        ' endConferenceOnExit="false" record="record-from-start" waitUrl=""'
        ' statusCallbackEvent="start end join leave mute hold"'
        f' coach="CA{"a" * 32}">room</Conference></Dial>'
        '<Enqueue waitUrl="/hold" waitUrlMethod="GET" action="/left" method="POST"'
        f' workflowSid="WW{"0" * 32}">sales</Enqueue>'
        '<Redirect method="GET">/next</Redirect><Reject reason="busy"/><Hangup/></Response>'
    )
    assert conform(list(ET.fromstring(good))) == []


NUMERIC = [
    (verb, attribute)
    for verb, attribute in [
        ("Gather", "numDigits"),
        ("Gather", "timeout"),
        ("Say", "loop"),
        ("Play", "loop"),
        ("Pause", "length"),
        ("Record", "maxLength"),
        ("Dial", "timeout"),
    ]
]
LOWEST = {"loop": 0}  # the others start at 1


@given(st.sampled_from(NUMERIC), st.integers(-10_000, 20_000))
def test_numbers_pass_exactly_when_in_their_documented_range(pair, number):
    verb, attribute = pair
    element = ET.Element(verb, {attribute: str(number)})
    messages = conform([element])
    low = LOWEST.get(attribute, 1)
    high = {("Record", "maxLength"): 14400, ("Dial", "timeout"): 600}.get(pair)
    valid = number >= low and (high is None or number <= high)
    assert (messages == []) == valid, (verb, attribute, number, messages)
    assert (element.get(attribute) is not None) == valid


@given(
    st.sampled_from(sorted(ATTRIBUTES)),
    st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12),
)
def test_an_attribute_no_element_documents_is_always_reported(verb, name):
    attribute = "x" + name  # none of the documented names starts with x
    element = ET.Element(verb, {attribute: "1"})
    messages = conform_attributes(element)
    assert len(messages) == 1 and attribute in messages[0] and element.get(attribute) is None
