import pytest
from twilio.request_validator import RequestValidator

TOKEN = "12345"  # the token of twilio-python's own request-validator tests
PUBLIC = "https://calls.example.com"


ACCOUNT = "AC" + "0" * 32


def twilio_app(database_url, redis_url, clock, tmp_path, **overrides):
    """The test app as Twilio sees it: behind a proxy at PUBLIC_BASE_URL, a known account
    and token; ``overrides`` add or change settings (the simulator's API, a caller ID)."""
    from tests.conftest import make_app

    settings = {"PUBLIC_BASE_URL": PUBLIC, "TWILIO_ACCOUNT_SID": ACCOUNT}
    yield from make_app(
        database_url, redis_url, clock, tmp_path, **settings, TWILIO_AUTH_TOKEN=TOKEN, **overrides
    )


@pytest.fixture
def app(database_url, redis_url, clock, tmp_path):
    yield from twilio_app(database_url, redis_url, clock, tmp_path)


class Twilio:
    """Posts webhooks the way Twilio does: form-encoded, signed with the account token."""

    def __init__(self, client, base: str = PUBLIC, token: str = TOKEN) -> None:
        self.client, self.base, self.validator = client, base, RequestValidator(token)

    def sign(self, path: str, params) -> str:
        return self.validator.compute_signature(self.base + path, params)

    def post(
        self,
        path: str,
        params: dict | None = None,
        *,
        signature: str | None = None,
        headers: dict | None = None,
    ):
        params = params or {}
        sig = self.sign(path, params) if signature is None else signature
        return self.client.post(
            path, data=params, headers={"X-Twilio-Signature": sig, **(headers or {})}
        )


@pytest.fixture
def twilio(client) -> Twilio:
    return Twilio(client)
