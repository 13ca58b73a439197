"""The typed settings: each value parsed once, at start-up, and a wrong one refused there
with the environment variable's name."""

import pytest

from crm_core.settings import Mirrored, Settings, SettingsError


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch):
    for name in Settings.names():
        monkeypatch.delenv(name.upper(), raising=False)


def test_settings_made_of_parts_arrive_parsed(tmp_path, monkeypatch):
    monkeypatch.setenv("IVR_LANGUAGE_SKILLS", "es-MX=spanish:1; fr-CA=french:3,sales:1")
    monkeypatch.setenv("RECORDING_ALL_PARTY_STATES", " ca, fl ")
    monkeypatch.setenv("RECORDING_DOWNLOAD_RETRY_SECONDS", "30, 120,600")
    monkeypatch.setenv("RECORDING_ENABLED", " Off ")
    settings = Settings.load({}, str(tmp_path))
    assert settings.ivr_language_skills == {
        "es-MX": {"spanish": 1},
        "fr-CA": {"french": 3, "sales": 1},
    }
    assert settings.language_skills("fr-CA") == {"french": 3, "sales": 1}
    assert settings.language_skills("en-US") == {}
    assert settings.recording_all_party_states == frozenset({"CA", "FL"})
    assert settings.recording_download_retry_seconds == (30, 120, 600)
    assert settings.recording_enabled is False
    assert settings.twilio_voices == {"en-US": "Polly.Joanna-Neural", "es-MX": "Polly.Mia-Neural"}


def test_an_empty_variable_counts_as_unset_and_the_config_argument_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("DEFAULT_REGION", "")
    monkeypatch.setenv("DEFAULT_TIME_ZONE", "America/Chicago")
    settings = Settings.load({"DEFAULT_TIME_ZONE": "America/Denver", "TESTING": 1}, str(tmp_path))
    assert settings.default_region == "US"
    assert settings.default_time_zone == "America/Denver"


@pytest.mark.parametrize(
    "name, value",
    [
        ("IVR_LANGUAGE_SKILLS", "es-MX=spanish"),
        ("IVR_LANGUAGE_SKILLS", "spanish=es-MX:1"),
        ("RECORDING_ALL_PARTY_STATES", "CA,Oregon"),
        ("RECORDING_DOWNLOAD_RETRY_SECONDS", "30,soon"),
        ("RECORDING_ENABLED", "maybe"),
        ("RECORDING_RETENTION_DAYS", "0"),
        ("ACD_STREAM_BUFFER", "lots"),
        ("DEFAULT_TIME_ZONE", "Mars/Olympus_Mons"),
        ("CARRIER", "pigeon"),
    ],
)
def test_a_wrong_value_is_refused_at_start_up_naming_the_variable(name, value, tmp_path):
    with pytest.raises(SettingsError, match=name):
        Settings.load({name: value}, str(tmp_path))


def test_a_write_to_a_config_view_reaches_the_settings_validated(tmp_path):
    settings = Settings.load({}, str(tmp_path))
    config = Mirrored(settings.as_config())
    config.attach(settings)
    config["ACD_STREAM_MAX_SECONDS"] = 0.5
    config["TESTING"] = True  # not a setting: the view only
    assert settings.acd_stream_max_seconds == 0.5
    with pytest.raises(ValueError, match="TWILIO_VERIFY_SIGNATURES must be true or false"):
        config["TWILIO_VERIFY_SIGNATURES"] = "maybe"
