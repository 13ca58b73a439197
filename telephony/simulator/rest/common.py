"""What every resource of the simulator's REST API shares: Twilio's paths, dates, list pages
and error bodies."""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

from flask import jsonify, request

from telephony.simulator.model import API_VERSION

if TYPE_CHECKING:
    from telephony.simulator.engine import Simulator

PREFIX = f"/{API_VERSION}/Accounts/<account>"


def rfc2822(value: datetime | None) -> str | None:
    return format_datetime(value.replace(microsecond=0), usegmt=True) if value else None


def error(status: int, code: int, message: str):
    body = {
        "code": code,
        "message": message,
        "status": status,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
    }
    return jsonify(body), status


def not_found():
    return error(404, 20404, f"The requested resource {request.path} was not found")


def base(sim: Simulator) -> str:
    """The account's path, which every resource's ``uri`` starts with."""
    return f"/{API_VERSION}/Accounts/{sim.account_sid}"


def page(key: str, items: list[dict[str, Any]], uri: str):
    """A list resource's one page, in Twilio's envelope (everything fits in page 0)."""
    return jsonify(
        {
            key: items,
            "page": 0,
            "page_size": max(len(items), 50),
            "start": 0,
            "end": max(len(items) - 1, 0),
            "uri": uri,
            "first_page_uri": uri,
            "next_page_uri": None,
            "previous_page_uri": None,
        }
    )
