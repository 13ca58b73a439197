"""Input shapes shared by the API, the CLI and the services.

Validation happens here once, so every surface gives the same clear error naming the field:
unknown fields, unknown enum values, oversized text and invalid phone numbers are rejected
before anything is written.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Any, Self, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from crm_core.errors import InvalidInput, InvalidPhone
from crm_core.models import (
    EMAIL_LEN,
    NAME_LEN,
    SHORT_LEN,
    TEXT_LEN,
    AppointmentType,
    Channel,
    ConsentStatus,
    Disposition,
    LeadSource,
    LeadStage,
    PhoneKind,
    Role,
    VehicleCondition,
    VehicleRelation,
)
from crm_core.phones import normalize_phone

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_LEN)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=SHORT_LEN)]
LongText = Annotated[str, StringConstraints(max_length=TEXT_LEN)]
MAX_ID = 2**31 - 1  # every table's primary key is an INTEGER (crm_core.models)
# A row's id given in a body: within INTEGER's range, so a bigger one is refused naming
# its field, not sent to PostgreSQL, which would refuse the query.
Id = Annotated[int, Field(ge=-MAX_ID - 1, le=MAX_ID)]
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
VIN_RE = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")  # 17 characters, never I, O or Q
SKILL_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
LANGUAGE_RE = re.compile(r"^[a-z]{2}(-[A-Z]{2})?$")
MAX_PRICE = 10_000_000


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _region(info: ValidationInfo) -> str:
    return (info.context or {}).get("region", "US")


def _phone(value: Any, info: ValidationInfo) -> str:
    try:
        return normalize_phone(value, region=_region(info), field=info.field_name or "phone")
    except InvalidPhone as exc:
        raise ValueError(exc.message) from None


def _email(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if len(value) > EMAIL_LEN or not EMAIL_RE.match(value):
        raise ValueError("is not an e-mail address")
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def _time_zone(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("is not an IANA time zone such as America/Detroit") from None
    return value


class PhoneIn(Strict):
    number: str
    kind: PhoneKind = PhoneKind.MOBILE
    primary: bool = False

    _number = field_validator("number")(_phone)


def _phones(value: Any) -> Any:
    """Phones may be given as plain strings: ["313-555-0100"]."""
    if isinstance(value, list):
        return [{"number": v} if isinstance(v, str) else v for v in value]
    return value


US_ZIP_RE = re.compile(r"^[0-9]{5}(-[0-9]{4})?$")


def _postal_code(value: str | None, info: ValidationInfo) -> str | None:
    """Kept as text, so a ZIP code keeps its leading zero (02134). In the US a code of digits
    must be a ZIP code (5 digits or ZIP+4); codes with letters are another country's."""
    if value in (None, ""):
        return None
    digits_only = not any(ch.isalpha() for ch in value)
    if _region(info) == "US" and digits_only and not US_ZIP_RE.match(value):
        raise ValueError("is not a ZIP code (5 digits, or ZIP+4 such as 48201-1234)")
    return value.upper()


class CustomerFields(Strict):
    """Every editable customer field; all optional (a PATCH sends only what changes)."""

    first_name: Name | None = None
    last_name: Name | None = None
    email: str | None = None
    address_line1: Short | None = None
    address_line2: Short | None = None
    city: Name | None = None
    state: Name | None = None
    postal_code: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z -]{3,10}$")] | None = None
    time_zone: str | None = None
    language: str | None = None
    preferred_channel: Channel | None = None
    contact_hours_start: time | None = None
    contact_hours_end: time | None = None
    special_needs: LongText | None = None
    preferred_makes: list[Name] | None = Field(default=None, max_length=20)
    preferred_models: list[Name] | None = Field(default=None, max_length=20)
    price_min: int | None = Field(default=None, ge=0, le=MAX_PRICE)
    price_max: int | None = Field(default=None, ge=0, le=MAX_PRICE)
    notes: LongText | None = None

    _email = field_validator("email")(_email)
    _tz = field_validator("time_zone")(_time_zone)
    _zip = field_validator("postal_code")(_postal_code)

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        if value is not None and not LANGUAGE_RE.match(value):
            raise ValueError("is not a language tag such as en-US or es-MX")
        return value

    @model_validator(mode="after")
    def _ranges(self) -> Self:
        lo, hi = self.price_min, self.price_max
        if lo is not None and hi is not None and lo > hi:
            raise ValueError("price_min is above price_max")
        start, end = self.contact_hours_start, self.contact_hours_end
        if start is not None and start == end:
            raise ValueError("contact_hours_end is the same time as contact_hours_start")
        return self


class CustomerIn(CustomerFields):
    phones: list[PhoneIn] = Field(default_factory=list, max_length=10)

    _phones = field_validator("phones", mode="before")(_phones)

    @model_validator(mode="after")
    def _one_primary(self) -> Self:
        if self.phones and not any(p.primary for p in self.phones):
            self.phones[0].primary = True
        numbers = [p.number for p in self.phones]
        if len(set(numbers)) != len(numbers):
            raise ValueError("the same phone number is listed twice")
        return self


class VehicleFields(Strict):
    """A vehicle's own facts, without its relation to the customer (the card's vehicle of
    interest and trade-in; a PATCH sends only what changes)."""

    vin: str | None = None
    year: int | None = Field(default=None, ge=1900, le=2100)
    make: Name | None = None
    model: Name | None = None
    trim: Name | None = None
    stock_number: Annotated[str, StringConstraints(max_length=32)] | None = None
    condition: VehicleCondition | None = None
    odometer: int | None = Field(default=None, ge=0, le=2_000_000)
    price: int | None = Field(default=None, ge=0, le=MAX_PRICE)
    trade_payoff: int | None = Field(default=None, ge=0, le=MAX_PRICE)
    trade_value: int | None = Field(default=None, ge=0, le=MAX_PRICE)

    @field_validator("vin")
    @classmethod
    def _vin(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        value = value.upper()
        if not VIN_RE.match(value):
            raise ValueError("is not a VIN (17 letters and digits, never I, O or Q)")
        return value


class VehicleIn(VehicleFields):
    relation: VehicleRelation = VehicleRelation.INTEREST


CallSid = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
]


class CustomerCard(Strict):
    """What the agent's customer card sends besides the customer's own fields: the vehicle
    of interest and the trade-in (the newest of each is edited in place, or created), and
    the call it is filled in on (linked to the customer when the call has none yet)."""

    vehicle_of_interest: VehicleFields | None = None
    trade_in: VehicleFields | None = None
    call_sid: CallSid | None = None


class CustomerCreate(CustomerIn, CustomerCard):
    """POST /api/customers: a new customer, possibly from the call the agent is on."""


class CustomerUpdate(CustomerFields, CustomerCard):
    """PATCH /api/customers/<id>: the fields that change; ``phone`` adds another number."""

    phone: str | None = None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: Any, info: ValidationInfo) -> str | None:
        return None if value in (None, "") else _phone(value, info)


class LeadIn(Strict):
    customer_id: Id | None = None
    customer: CustomerIn | None = None
    source_type: LeadSource
    source_name: Short | None = None
    campaign: Short | None = None
    utm_source: Short | None = None
    utm_medium: Short | None = None
    utm_campaign: Short | None = None
    utm_term: Short | None = None
    utm_content: Short | None = None
    gclid: Annotated[str, StringConstraints(max_length=255)] | None = None
    temperature: int = Field(default=50, ge=0, le=100)
    assigned_agent_id: Id | None = None
    dealer_id: Id | None = None
    notes: LongText | None = None
    vehicles: list[VehicleIn] = Field(default_factory=list, max_length=10)
    after_hours: bool | None = None

    @model_validator(mode="after")
    def _who(self) -> Self:
        if (self.customer_id is None) == (self.customer is None):
            raise ValueError("give exactly one of customer_id or customer")
        if self.customer is not None and not self.customer.phones and not self.customer.email:
            raise ValueError("a new customer needs a phone or an e-mail")
        return self


class StageChangeIn(Strict):
    stage: LeadStage
    reason: Annotated[str, StringConstraints(max_length=SHORT_LEN * 2)] | None = None


class AppointmentIn(Strict):
    type: AppointmentType = AppointmentType.SALES_VISIT
    start_at: AwareDatetime
    end_at: AwareDatetime | None = None
    duration_minutes: int = Field(default=60, ge=5, le=8 * 60)
    resource: Short | None = None
    dealer_id: Id | None = None
    notes: LongText | None = None

    @model_validator(mode="after")
    def _end(self) -> Self:
        if self.end_at is None:
            self.end_at = self.start_at + timedelta(minutes=self.duration_minutes)
        if self.end_at <= self.start_at:
            raise ValueError("end_at must be after start_at")
        return self


class CallbackIn(Strict):
    due_at: AwareDatetime
    phone: str | None = None
    notes: LongText | None = None
    owner_id: Id | None = None
    pool: Annotated[str, StringConstraints(max_length=64)] | None = None
    priority: int = Field(default=50, ge=0, le=100)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: Any, info: ValidationInfo) -> str | None:
        return None if value in (None, "") else _phone(value, info)


class OutcomeIn(Strict):
    disposition: Disposition
    notes: LongText | None = None
    lead_id: Id | None = None
    temperature: int | None = Field(default=None, ge=0, le=100)
    lost_reason: Annotated[str, StringConstraints(max_length=SHORT_LEN * 2)] | None = None
    appointment: AppointmentIn | None = None
    callback: CallbackIn | None = None
    wrap_seconds: int | None = Field(default=None, ge=0, le=24 * 3600)

    @model_validator(mode="after")
    def _needs(self) -> Self:
        if self.disposition is Disposition.APPOINTMENT_SET and self.appointment is None:
            raise ValueError("appointment_set needs an appointment")
        if self.disposition is Disposition.CALLBACK and self.callback is None:
            raise ValueError("callback needs a callback time")
        return self


class ConsentIn(Strict):
    channel: Channel
    address: str
    status: ConsentStatus
    source: Short = "agent"
    note: Annotated[str, StringConstraints(max_length=SHORT_LEN * 4)] | None = None

    @field_validator("address")
    @classmethod
    def _normalise(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("channel") is Channel.EMAIL:
            email = _email(value)
            if email is None:
                raise ValueError("is empty")
            return email
        return _phone(value, info)


def parse_skills(value: str | dict[str, int] | None) -> dict[str, int]:
    """``"sales:8,spanish:5"`` or ``{"sales": 8}`` → ``{"sales": 8, "spanish": 5}``."""
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        items: dict[str, Any] = {}
        for part in value.split(","):
            name, sep, level = part.strip().partition(":")
            if not sep or not re.fullmatch(r"-?[0-9]{1,3}", level.strip()):
                raise InvalidInput(
                    f"skill {part.strip()!r} is not name:level (e.g. sales:8)", field="skills"
                )
            items[name.strip().lower()] = int(level)
        value = items
    if not isinstance(value, dict):
        raise InvalidInput("skills must be name:level pairs", field="skills")
    out: dict[str, int] = {}
    for name, level in value.items():
        if not isinstance(name, str) or not SKILL_RE.match(name):
            raise InvalidInput(f"skill name {name!r} is not valid", field="skills")
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 10:
            raise InvalidInput(f"skill {name} needs a level from 1 to 10", field="skills")
        out[name] = level
    return out


class UserIn(Strict):
    username: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")]
    display_name: Name | None = None
    role: Role = Role.AGENT
    skills: dict[str, int] = Field(default_factory=dict)
    password: Annotated[str, StringConstraints(min_length=8, max_length=256)]

    @field_validator("skills", mode="before")
    @classmethod
    def _skills(cls, value: Any) -> dict[str, int]:
        try:
            return parse_skills(value)
        except InvalidInput as exc:
            raise ValueError(exc.message) from None


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: Any, *, region: str = "US") -> M:
    """Validate ``data`` as ``model`` or raise InvalidInput naming the first bad field."""
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    try:
        return model.model_validate(data, context={"region": region})
    except ValidationError as exc:
        problems = [
            {
                "field": ".".join(str(p) for p in err["loc"]) or None,
                "message": err["msg"].removeprefix("Value error, "),
            }
            for err in exc.errors(include_url=False, include_input=False)
        ]
        first = problems[0]
        where = f"{first['field']}: " if first["field"] else ""
        raise InvalidInput(
            f"{where}{first['message']}", field=first["field"], problems=problems
        ) from None
