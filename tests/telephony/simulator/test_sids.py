"""The simulator mints SIDs as Twilio does: a two-letter prefix and 32 random lowercase hex
digits, never handed out twice, not even by a simulator started again (the app keys its Call
rows by CallSid, and those outlive any one simulator run)."""

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from telephony.simulator.model import sid
from tests.telephony.simulator.test_verbs import (
    BASE,
    CALLER,
    NUMBER,
    TwimlServer,
    new_simulator,
)

SID = re.compile(r"^(CA|CF|RE|TR|QU|SM|MM)[0-9a-f]{32}$")


def everything_minted(sim) -> list[str]:
    """Calls, recordings, transcriptions, queues, conferences and messages of one run."""
    return [
        *sim.calls,
        *sim.recordings,
        *sim.transcriptions,
        *(q.sid for q in sim.queues.values()),
        *(c.sid for c in sim.conferences.values()),
        *sim.messages,
    ]


def a_run() -> list[str]:
    """One simulator run: a call that records a message, waits in a queue beside a call in a
    conference, and a text with and without a picture."""
    server = TwimlServer()
    server.docs["/voice"] = (
        '<Response><Record timeout="3" maxLength="20" transcribe="true" action="/queue"/>'
        "</Response>"
    )
    server.docs["/queue"] = "<Response><Enqueue>sales</Enqueue></Response>"
    server.docs["/conf"] = "<Response><Dial><Conference>room</Conference></Dial></Response>"
    sim = new_simulator(server)
    sim.add_number(NUMBER, f"{BASE}/voice", sms_url=f"{BASE}/sms")
    sim.add_number("+13135550102", f"{BASE}/conf")
    sim.call(CALLER, NUMBER).wait(1).talk(4)
    sim.call(CALLER, "+13135550102")
    sim.text(CALLER, NUMBER, "hello")
    sim.text(CALLER, NUMBER, "my car", media=[("https://example.com/car.jpg", "image/jpeg")])
    sim.advance(30)
    return everything_minted(sim)


def test_every_sid_of_a_run_is_twilio_shaped_and_a_restart_never_reuses_one():
    first, second = a_run(), a_run()
    prefixes = {s[:2] for s in first}
    assert {"CA", "CF", "RE", "QU", "SM", "MM"} <= prefixes
    for minted in first + second:
        assert SID.match(minted), minted
        assert len(minted) == 34
    assert len(set(first)) == len(first)
    assert not set(first) & set(second)


@settings(max_examples=50)
@given(st.sampled_from(["CA", "CF", "RE", "TR", "QU", "SM", "MM"]))
def test_a_sid_is_the_prefix_and_32_lowercase_hex_digits(prefix):
    minted = {sid(prefix) for _ in range(200)}
    assert len(minted) == 200
    assert all(SID.match(s) and s.startswith(prefix) for s in minted)
