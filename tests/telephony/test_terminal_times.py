"""A call's end, once known, stays: a repeated terminal status callback (completed, busy,
failed, no-answer, canceled), with or without its ``Timestamp``, early or late, leaves the
end time, the duration and the status as the first one set them."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from crm_core.models import Call
from tests.conftest import _empty
from tests.telephony.conftest import Twilio

SID = "CA" + "e" * 32


def status(seq: int, call_status: str, second: int | None, **extra: str) -> dict[str, str]:
    form = {
        "CallSid": SID,
        "AccountSid": "AC" + "0" * 32,
        "From": "+13135550101",
        "To": "+13135550100",
        "Direction": "inbound",
        "CallStatus": call_status,
        "SequenceNumber": str(seq),
        "CallbackSource": "call-progress-events",
        **extra,
    }
    if second is not None:  # seconds after 15:00:00 on the test's day
        form["Timestamp"] = f"Mon, 05 Jan 2026 15:{second // 60:02d}:{second % 60:02d} +0000"
    return form


def progress(terminal: str) -> list[dict[str, str]]:
    """The callbacks of one call ending in ``terminal``, in the order Twilio sends them."""
    start = [status(0, "initiated", 0), status(1, "ringing", 1)]
    if terminal == "completed":
        answered = status(2, "in-progress", 5)
        return [*start, answered, status(3, "completed", 185, CallDuration="180")]
    return [*start, status(2, terminal, 30, CallDuration="0")]


TERMINAL = ["completed", "busy", "failed", "no-answer", "canceled"]


def row(deps) -> tuple:
    with deps.session_factory() as s:
        c = s.scalars(select(Call).where(Call.call_sid == SID)).one()
        return (c.status, c.status_sequence, c.answered_at, c.ended_at, c.duration_seconds)


@pytest.mark.parametrize("terminal", TERMINAL)
def test_a_repeated_terminal_callback_moves_nothing(twilio, deps, clock, terminal):
    callbacks = progress(terminal)
    for form in callbacks:
        assert twilio.post("/twilio/voice/status", form).status_code == 204
    first = row(deps)
    last = callbacks[-1]
    clock.advance(600)  # the repeat comes ten minutes later
    untimed = {k: v for k, v in last.items() if k != "Timestamp"}
    repeats = [untimed, last, untimed | {"CallDuration": "999"}, untimed | {"SequenceNumber": "9"}]
    for repeat in repeats:
        assert twilio.post("/twilio/voice/status", repeat).status_code == 204
        assert row(deps) == first


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), terminal=st.sampled_from(TERMINAL))
def test_any_order_and_repetition_gives_the_row_of_the_order(app, deps, clock, data, terminal):
    """Callbacks shuffled; copies of them repeated after their first delivery, some without
    ``Timestamp`` (the time is then the clock's, which moves between deliveries)."""
    callbacks = progress(terminal)
    twilio = Twilio(app.test_client())
    _empty(deps)
    for form in callbacks:
        twilio.post("/twilio/voice/status", form)
    expected = row(deps)
    _empty(deps)
    deliveries = list(data.draw(st.permutations(callbacks), label="order"))
    for _ in range(data.draw(st.integers(0, 5), label="repeats")):
        original = data.draw(st.sampled_from(callbacks), label="repeated")
        if data.draw(st.booleans(), label="without Timestamp"):
            copy = {k: v for k, v in original.items() if k != "Timestamp"}
        else:
            copy = dict(original)
        after = deliveries.index(original) + 1
        deliveries.insert(data.draw(st.integers(after, len(deliveries)), label="at"), copy)
    for form in deliveries:
        clock.advance(data.draw(st.integers(0, 900), label="seconds before"))
        assert twilio.post("/twilio/voice/status", form).status_code == 204
    assert row(deps) == expected
