"""What every route does with input it cannot use, before any view runs: a 4xx sentence,
never a database error or a crash.

* **Ids out of range.** The ``int`` URL converter matches only ids the tables can hold
  (their primary keys are INTEGER): ``/api/customers/1099511627776`` is a 404 like any
  other unknown id, before a query PostgreSQL would refuse.
* **NUL characters.** PostgreSQL cannot store or compare text with NUL in it, and no
  person or integration means to send one: a path, query argument, form field or JSON
  string holding one is refused with a 400 naming it. Signed Twilio webhooks are left to
  ``telephony``: their form is covered by the signature and read by ``CallEvent``, which
  drops NUL, and they always answer TwiML.
* **JSON.** Bodies are parsed once, nested at most ``MAX_JSON_DEPTH`` deep (Python's
  parser recurses: a deep one would be a RecursionError); anything unreadable is a 400
  ``invalid-json``.
* **Wrong methods and unknown URLs** are answered (405 with ``Allow``, 404) before the CSRF
  check, so a GET on a POST-only URL is told so, not asked for a token.
* **Twilio over GET.** A number's Voice, status callback and messaging URLs, and a TwiML
  App's Voice URL, can be set to HTTP GET in Twilio's console; those URLs answer GET as
  they answer POST, the parameters read from the query string (which Twilio then signs
  as part of the URL).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter as WerkzeugIntegerConverter
from werkzeug.routing import ValidationError

from crm_core.errors import InvalidInput
from crm_core.schemas import MAX_ID

MAX_JSON_DEPTH = 32  # the API's bodies nest three or four deep
NUL = "\x00"
# The public Twilio URLs (DESIGN.md, the telephony contract) that Twilio's console lets an
# operator set to HTTP GET; the TwiML flow's own URLs are written by us with POST.
GET_WEBHOOKS = (
    "/twilio/voice",
    "/twilio/voice/status",
    "/twilio/voice/fallback",
    "/twilio/client",
    "/twilio/sms",
)


class InvalidJSON(InvalidInput):
    error_id = "invalid-json"


class IntegerConverter(WerkzeugIntegerConverter):
    """Werkzeug's ``int`` (and its name), matching only ids a table can hold (0 to
    ``MAX_ID``). A longer digit string is not even read: Python refuses more than 4300
    digits."""

    def __init__(self, map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)

    def to_python(self, value: str) -> int:
        if len(value) > len(str(MAX_ID)):
            raise ValidationError()
        return super().to_python(value)


class GuardedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, refusing documents nested deeper than ``MAX_JSON_DEPTH`` (as a
    ValueError, which ``request.get_json`` turns into a 400 like any unreadable body)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            data = super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError(f"nested more than {MAX_JSON_DEPTH} deep") from None
        if _depth(data) > MAX_JSON_DEPTH:
            raise ValueError(f"nested more than {MAX_JSON_DEPTH} deep")
        return data


def _depth(data: Any) -> int:
    """How deep lists and objects nest in ``data`` (without recursing)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        deepest = max(deepest, depth)
        if depth <= MAX_JSON_DEPTH:
            stack.extend((child, depth + 1) for child in item)
    return deepest


def _nul_in_json(data: Any, where: str = "") -> str | None:
    """The path of the first string (key or value) with a NUL in it, or None."""
    stack = [(data, where)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                return path or "body"
        elif isinstance(item, dict):
            for key, value in item.items():
                name = f"{path}.{key}" if path else str(key)
                if NUL in str(key):
                    return name
                stack.append((value, name))
        elif isinstance(item, list):
            stack.extend((value, f"{path}[{i}]") for i, value in enumerate(item))
    return None


def _refuse_nul(field: str, name: str | None = None) -> None:
    name = name or field.replace(NUL, "")
    raise InvalidInput(f"{name} contains a NUL character", field=field)


def _signed_webhook() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "signed_webhook", False))


def check_request() -> None:
    """Runs first for every request (see the module's docstring)."""
    if request.routing_exception is not None:
        raise request.routing_exception
    if _signed_webhook():
        return
    if NUL in request.path:
        _refuse_nul("path", "the URL's path")
    for source, values in (("query", request.args), ("form", request.form)):
        for name, value in values.items(multi=True):
            if NUL in name or NUL in value:
                _refuse_nul(name if NUL not in name else f"a {source} field's name")
    if request.is_json and request.content_length != 0:
        try:
            data = request.get_json()
        except BadRequest:  # not JSON, not UTF-8, or too deep (a too-large body stays 413)
            raise InvalidJSON(
                f"the body is not JSON (or nests more than {MAX_JSON_DEPTH} deep)", field="body"
            ) from None
        field = _nul_in_json(data)
        if field is not None:
            _refuse_nul(field)


def _serve_get(app: Flask, path: str):
    """The view for GET ``path``: the POST view, reading the query string as its form."""

    def view(**kwargs: Any):
        endpoint, args = app.url_map.bind("").match(path, method="POST")
        request.form = MultiDict(request.args)  # what the POST view reads
        return app.view_functions[endpoint](**args)

    view.signed_webhook = True  # the POST view checks the signature, for GET too
    return view


def init_guards(app: Flask) -> None:
    """Install the guards; before the blueprints, whose rules use the ``int`` converter."""
    app.url_map.converters["int"] = IntegerConverter
    app.json = GuardedJSONProvider(app)
    app.before_request(check_request)
    for path in GET_WEBHOOKS:
        endpoint = "get" + path.replace("/", ".")
        app.add_url_rule(path, endpoint, _serve_get(app, path), methods=["GET"])
