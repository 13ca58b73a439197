"""How a view, a command or a job reaches what the app built once (DESIGN.md rule 3).

``create_app`` builds each collaborator once (settings, database, Redis, rq queues, clock,
carrier, router, script library…) and files it under its type. Code asks for the type it
uses — ``need(Router)``, ``need(Settings)`` — and gets that instance, typed: one way in for
views, commands and jobs alike (jobs run inside the app context the worker pushes), and no
package imports ``app`` to get there. Services do not call this: they are handed what they
use by the view, command or job that calls them.
"""

from __future__ import annotations

from typing import Any, TypeVar

from flask import current_app

T = TypeVar("T")

EXTENSION = "callcenter"  # the key of the app's collaborators in ``app.extensions``


def need(kind: type[T]) -> T:
    """The app's one instance of ``kind`` (LookupError if the app has none)."""
    return current_app.extensions[EXTENSION].get(kind)


def provided(extensions: dict[str, Any]) -> Any:
    """The whole bag, for the app factory and the worker only."""
    return extensions[EXTENSION]
