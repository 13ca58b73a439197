"""Plain-dict views of the models, shared by the JSON API and the privacy export."""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import inspect

from crm_core.models import Call, Customer, Lead, User

HIDDEN = {"password_hash", "token_hash"}


def _value(v: Any) -> Any:
    if isinstance(v, Enum):
        return v.value
    if isinstance(v, datetime | time):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    return v


def row(obj: Any) -> dict[str, Any]:
    """Every column of a model instance, JSON-ready."""
    return {
        c.key: _value(getattr(obj, c.key))
        for c in inspect(obj).mapper.column_attrs
        if c.key not in HIDDEN
    }


def customer_summary(c: Customer) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.full_name,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "email": c.email,
        "phones": [
            {"number": p.e164, "kind": p.kind.value, "primary": p.is_primary} for p in c.phones
        ],
        "language": c.language,
        "do_not_call": c.do_not_call,
    }


def customer_detail(c: Customer) -> dict[str, Any]:
    return row(c) | {"name": c.full_name, "phones": customer_summary(c)["phones"]}


def lead_dict(lead: Lead) -> dict[str, Any]:
    return row(lead)


def call_dict(call: Call) -> dict[str, Any]:
    return row(call)


def user_dict(user: User) -> dict[str, Any]:
    return row(user)
