"""X-Twilio-Signature, checked against twilio-python's published test vectors, through our
decorator on a route at the vectors' URL."""

import pytest

from telephony.webhooks import callback_webhook

URI_PATH = "/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}
EXPECTED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
BODY = '{"property": "value", "boolean": true}'
BODY_HASH = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
BODY_SIGNATURE = "a9nBmqA0ju/hNViExpshrM61xv4="


@pytest.fixture
def vectors_app(app):
    """The app with PUBLIC_BASE_URL https://mycompany.com and a webhook at /myapp.php."""
    app.config["PUBLIC_BASE_URL"] = "https://mycompany.com"
    app.add_url_rule("/myapp.php", "vector", callback_webhook(lambda: None), methods=["POST"])
    return app


def post(app, data=PARAMS, path=URI_PATH, signature=EXPECTED, **kw):
    headers = {"X-Twilio-Signature": signature} if signature is not None else {}
    return app.test_client().post(path, data=data, headers=headers | kw.pop("headers", {}), **kw)


def test_published_vector_is_accepted(vectors_app):
    assert post(vectors_app).status_code == 204


def test_host_the_request_arrived_on_does_not_matter(vectors_app):
    """Behind a proxy the app sees http://internal:8000; Twilio signed the public URL."""
    response = post(
        vectors_app, base_url="http://internal:8000", headers={"X-Forwarded-Host": "evil.example"}
    )
    assert response.status_code == 204


@pytest.mark.parametrize(
    "change",
    [
        {"data": PARAMS | {"Digits": "9999"}},
        {"data": PARAMS | {"Extra": "x"}},
        {"data": {k: v for k, v in PARAMS.items() if k != "Digits"}},
        {"path": "/myapp.php?foo=1&bar=3"},
        {"path": "/myapp.php?foo=1&bar=2&skip_signature=1"},
        {"signature": "RSOYDt4T1cUTdK1PDd93/VVr8B9="},
        {"signature": ""},
        {"signature": None},
    ],
)
def test_tampering_or_no_signature_is_403(vectors_app, change):
    assert post(vectors_app, **change).status_code == 403


def test_port_in_the_public_url_is_handled_as_twilio_does(vectors_app):
    vectors_app.config["PUBLIC_BASE_URL"] = "https://mycompany.com:1234"
    assert post(vectors_app).status_code == 204
    vectors_app.config["PUBLIC_BASE_URL"] = "http://mycompany.com:1234"
    assert post(vectors_app, signature="Zmvh+3yNM1Phv2jhDCwEM3q5ebU=").status_code == 204


def test_json_body_is_checked_through_its_sha256(vectors_app):
    path = URI_PATH + "&bodySHA256=" + BODY_HASH
    client = vectors_app.test_client()
    ok = client.post(
        path,
        data=BODY,
        content_type="application/json",
        headers={"X-Twilio-Signature": BODY_SIGNATURE},
    )
    assert ok.status_code == 204
    tampered = client.post(
        path,
        data=BODY.replace("true", "false"),
        content_type="application/json",
        headers={"X-Twilio-Signature": BODY_SIGNATURE},
    )
    assert tampered.status_code == 403


def test_only_the_development_setting_turns_the_check_off(vectors_app):
    assert post(vectors_app, signature=None).status_code == 403
    vectors_app.config["TWILIO_VERIFY_SIGNATURES"] = False
    assert post(vectors_app, signature=None).status_code == 204


def test_setting_is_parsed_strictly(tmp_path):
    from app import load_config

    assert (
        load_config({"TWILIO_VERIFY_SIGNATURES": "false"}, str(tmp_path))[
            "TWILIO_VERIFY_SIGNATURES"
        ]
        is False
    )
    with pytest.raises(ValueError, match="TWILIO_VERIFY_SIGNATURES"):
        load_config({"TWILIO_VERIFY_SIGNATURES": "maybe"}, str(tmp_path))


def test_simulator_credentials_are_the_same_for_every_process(tmp_path):
    from app import load_config

    a = load_config({"SECRET_KEY": "k", "CARRIER": "simulator"}, str(tmp_path))
    b = load_config({"SECRET_KEY": "k", "CARRIER": "simulator"}, str(tmp_path))
    assert a["TWILIO_AUTH_TOKEN"] == b["TWILIO_AUTH_TOKEN"] and len(a["TWILIO_AUTH_TOKEN"]) == 32
    assert a["TWILIO_ACCOUNT_SID"].startswith("AC") and len(a["TWILIO_ACCOUNT_SID"]) == 34
