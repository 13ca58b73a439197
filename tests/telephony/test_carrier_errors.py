"""``attempt``: a carrier refusal becomes the one domain error a person's request answers."""

from __future__ import annotations

import pytest

from telephony.carrier import CarrierError, CarrierNotFound, attempt
from telephony.errors import CarrierFailed


def test_attempt_returns_the_operations_result():
    assert attempt(lambda a, *, b: a + b, 1, b=2) == 3


@pytest.mark.parametrize("kind", [CarrierError, CarrierNotFound])
def test_attempt_turns_a_refusal_into_a_bad_gateway(kind):
    def refuse(sid):
        raise kind("Call is not in-progress", operation="hold", status=400, sids={"call": sid})

    with pytest.raises(CarrierFailed) as raised:
        attempt(refuse, "CA1")
    error = raised.value
    assert (error.status, error.error_id) == (502, "carrier-failed")
    assert error.message.startswith("the carrier refused: hold failed (HTTP 400)")
    assert isinstance(error.__cause__, kind)


def test_attempt_lets_other_errors_through():
    def broken():
        raise ValueError("not the carrier's")

    with pytest.raises(ValueError):
        attempt(broken)
