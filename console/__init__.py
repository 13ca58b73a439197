"""The human screens and the JSON API they use: login, the API, the agent desk and its
softphone token, the wallboard and supervisors' actions."""

from __future__ import annotations

from flask import Flask


def init_console(app: Flask) -> None:
    from console import acd_api, acd_live, api, auth, errors, pages, softphone, stream, supervise
    from console.call_script import bp as call_script_bp
    from console.demo import bp as demo_bp
    from console.desk import bp as desk_bp
    from console.incall import bp as incall_bp
    from console.service_level import bp as service_level_bp
    from console.waiting import bp as waiting_bp
    from console.worklists import bp as worklists_bp
    from console.wrapup import bp as wrapup_bp
    from routing import client as click_to_call

    auth.init_auth(app)
    errors.register(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp, url_prefix="/api")
    app.register_blueprint(acd_api.bp, url_prefix="/api")
    app.register_blueprint(acd_live.bp, url_prefix="/api")
    app.register_blueprint(stream.bp, url_prefix="/api")  # the wallboard's live feed
    app.register_blueprint(softphone.bp, url_prefix="/api")
    app.register_blueprint(supervise.bp, url_prefix="/api")  # listen/whisper/barge, audit
    app.register_blueprint(service_level_bp, url_prefix="/api")  # the wallboard's day chart
    app.register_blueprint(waiting_bp, url_prefix="/api")  # the wallboard's waiting callers
    app.register_blueprint(incall_bp, url_prefix="/api")  # the agent's mute/hold/transfer
    app.register_blueprint(desk_bp)  # /agent and its /api/agents/me/screen-pop, /stream
    app.register_blueprint(call_script_bp, url_prefix="/api")  # the script beside a call
    app.register_blueprint(worklists_bp, url_prefix="/api")  # notes, my callbacks and leads
    app.register_blueprint(wrapup_bp, url_prefix="/api")  # outcome drafts, calls left undisposed
    app.register_blueprint(click_to_call.bp)  # /twilio/client: routing's, with the softphone
    app.register_blueprint(demo_bp)  # /demo/*: the demo's phone and traffic, in demo mode only
    from console import qa, recording_control, recordings

    app.register_blueprint(qa.bp)  # QA scores: the API and the /qa pages
    app.register_blueprint(recording_control.bp)  # the agent's recording pause/resume
    app.register_blueprint(recordings.bp, url_prefix="/api")  # recordings, media, legal hold
