"""Call recording: consent, start/pause/resume, the download job, storage, access checks,
retention and QA scores. ``init_recording(app)`` registers the package's webhooks and its
part of a customer's erasure; its tables are in ``recording.models``; its screens and
JSON API are console's (console/recordings.py, console/qa.py, console/recording_control.py)."""

from __future__ import annotations

from flask import Flask

from recording import models  # noqa: F401  (the recording tables on Base.metadata)


def init_recording(app: Flask) -> None:
    """Each part of the package registers itself here, one line each."""
    from recording import views  # consent notice, POST /twilio/recording → download job

    views.init_app(app)
    from recording.access import init_access  # the recordings' part of a customer's erasure

    init_access(app)
