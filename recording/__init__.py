"""Call recording: consent, start/pause/resume, the download job, storage, serving with
access checks, retention and QA scores. ``init_recording(app)`` registers the
package's blueprints; its tables are in ``recording.models``."""

from __future__ import annotations

from flask import Flask

from recording import models  # noqa: F401  (the recording tables on Base.metadata)


def init_recording(app: Flask) -> None:
    """Each part of the package registers its own blueprint here, one line each."""
    from recording import views  # consent notice, POST /twilio/recording → download job

    views.init_app(app)
    from recording.qa import bp as qa_bp  # QA scores: the API and the /qa pages

    app.register_blueprint(qa_bp)
    from recording.access import init_access  # the recordings API, media, legal hold

    init_access(app)  # …and the recordings' part of a customer's erasure
