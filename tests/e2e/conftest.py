import logging

import pytest

from tests.telephony.conftest import app  # noqa: F401  (the app as Twilio sees it)


@pytest.fixture(autouse=True)
def _every_twiml_document_conforms(caplog):
    """Every TwiML document the app answers in a whole call passes the simulator's schema
    check (verbs, nesting, attributes and their values): no 12200 warning in any e2e test."""
    caplog.set_level(logging.WARNING, logger="callcenter.simulator")
    yield
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "callcenter.simulator" and " 12200 " in r.getMessage()
    ]
    assert warnings == [], warnings
