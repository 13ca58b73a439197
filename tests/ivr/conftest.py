from tests.telephony.conftest import app  # noqa: F401  (the app as Twilio sees it)
