"""Call recording: consent, start/pause/resume, the download job, storage, serving with
access checks, retention and QA scores (issue 8). ``init_recording(app)`` registers the
package's blueprints; its tables are in ``recording.models``."""

from __future__ import annotations

from flask import Flask

from recording import models  # noqa: F401  (the recording tables on Base.metadata)


def init_recording(app: Flask) -> None:
    """Each part of the package registers its own blueprint here, one line each."""
