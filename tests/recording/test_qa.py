"""QA scores (recording/qa.py): the scorecard in the library, the weighted total, what the
API refuses and why, who may score and read, an agent seeing only their own scores, and the
wallboard's averages. Real database, real bundled script library."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from crm_core.audit import AuditEntry
from crm_core.models import Call, CallDirection
from recording.models import QaScore, Recording, RecordingStatus
from recording.qa import checked_answers, weighted_total
from scripts import BUNDLED, Kind, check_dir, load_script
from scripts.schema import Criterion

CARD = "qa_call"
ALL_FULL = {
    "greeting": 2,
    "identification": 1,
    "disclosure": 1,
    "discovery": 3,
    "vehicle": 1,
    "trade_in": 1,
    "financing": 1,
    "close": 2,
    "objections": 3,
    "compliance": 1,
    "courtesy": 2,
}


def make_recording(deps, clock, agent_id, *, status=RecordingStatus.STORED, sid="RE1") -> int:
    """A Call handled by ``agent_id`` and its recording (what the download job leaves)."""
    with deps.session_factory.begin() as s:
        call = Call(
            call_sid="CA" + sid,
            direction=CallDirection.INBOUND,
            from_number="+13135550100",
            to_number="+13135550199",
            created_at=clock.now(),
            agent_id=agent_id,
        )
        s.add(call)
        s.flush()
        recording = Recording(
            recording_sid=sid,
            call_sid=call.call_sid,
            call_id=call.id,
            status=status,
            duration_seconds=95,
            created_at=clock.now(),
            storage_key=f"2026/01/{sid}.wav",
        )
        s.add(recording)
        s.flush()
        return recording.id


@pytest.fixture
def card(deps):
    return deps.scripts.get(CARD)


# ---------------------------------------------------------------- the scorecard


def test_the_bundled_scorecard_checks_outbound_sales(card):
    assert card.kind == Kind.SCORECARD and card.checks == "outbound_sales"
    ids = [c.id for c in card.criteria]
    assert ids == list(ALL_FULL)
    assert {c.id: c.max_points for c in card.criteria} == ALL_FULL
    assert card.text("criteria.compliance", "es-MX").startswith("Cumplimiento")
    assert all(c.weight > 0 for c in card.criteria)


def _scorecard(tmp_path: Path, criteria: str, checks: str = "") -> Path:
    path = tmp_path / "card.yaml"
    path.write_text(
        "name: card\nversion: 1\nkind: scorecard\nlanguages: [en-US, es-MX]\n"
        f"{checks}criteria:\n{criteria}",
        encoding="utf-8",
    )
    return path


LINE = "  - id: {id}\n    label: {{en-US: Hi, es-MX: Hola}}\n    weight: {weight}\n{extra}"


def test_a_weight_must_be_positive(tmp_path):
    from scripts import ScriptError

    path = _scorecard(tmp_path, LINE.format(id="a", weight=0, extra=""))
    with pytest.raises(ScriptError, match="weight: should be greater than 0") as info:
        load_script(path)
    assert info.value.line == 8


def test_a_step_needs_checks_and_a_label_needs_spanish(tmp_path):
    from scripts import ScriptError

    path = _scorecard(tmp_path, LINE.format(id="a", weight=1, extra="    step: opening\n"))
    with pytest.raises(ScriptError, match="name it in checks"):
        load_script(path)
    path.write_text(
        "name: card\nversion: 1\nkind: scorecard\nlanguages: [en-US]\ncriteria:\n"
        "  - {id: a, label: {en-US: Hi}, weight: 1}\n",
        encoding="utf-8",
    )
    with pytest.raises(ScriptError, match="used by reviewers: languages must include es-MX"):
        load_script(path)


def test_references_are_checked_across_the_library(tmp_path):
    for source in BUNDLED.glob("*.yaml"):
        (tmp_path / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    bad = LINE.format(id="a", weight=1, extra="    step: no_such_step\n")
    _scorecard(tmp_path, bad, checks="checks: outbound_sales\n")
    _, problems = check_dir(tmp_path)
    assert [(p.line, p.message) for p in problems] == [
        (10, "criterion 'a': 'no_such_step' is not a step of script 'outbound_sales'")
    ]
    _scorecard(tmp_path, LINE.format(id="a", weight=1, extra=""), checks="checks: nothing\n")
    assert [p.message for p in check_dir(tmp_path)[1]] == [
        "checks: there is no script 'nothing' in the library"
    ]


def test_other_kinds_cannot_hold_criteria(tmp_path):
    from scripts import ScriptError

    path = tmp_path / "hold.yaml"
    path.write_text(
        "name: h\nversion: 1\nkind: hold\nlanguages: [en-US, es-MX]\n"
        "texts: {a: {en-US: Hi, es-MX: Hola}}\n"
        "criteria:\n  - {id: a, label: {en-US: Hi, es-MX: Hola}, weight: 1}\n",
        encoding="utf-8",
    )
    with pytest.raises(ScriptError, match="a hold script has no criteria"):
        load_script(path)


# ---------------------------------------------------------------- the math


def test_the_total_is_the_weighted_percentage(card):
    assert weighted_total(card, ALL_FULL) == 100.0
    assert weighted_total(card, dict.fromkeys(ALL_FULL, 0)) == 0.0
    assert sum(c.weight for c in card.criteria) == 100
    # compliance (weight 20 of 100) missed, all else full
    assert weighted_total(card, {**ALL_FULL, "compliance": 0}) == 80.0
    # one of greeting's 2 points is half its weight of 10
    assert weighted_total(card, {**ALL_FULL, "greeting": 1}) == 95.0
    # 2 of discovery's 3 points: 5 * 2/3
    assert weighted_total(card, {**ALL_FULL, "discovery": 2}) == round(100 - 5 / 3, 1)
    # not applicable: left out of both sides (trade-in and financing weigh 5 each)
    answers = {**ALL_FULL, "trade_in": None, "financing": None, "compliance": 0}
    assert weighted_total(card, answers) == round(100 * 70 / 90, 1) == 77.8


def test_answers_are_checked_against_the_scorecard(card):
    from crm_core.errors import InvalidInput

    cases = [
        ({**ALL_FULL, "greeting": 3}, "answers.greeting"),
        ({**ALL_FULL, "greeting": -1}, "answers.greeting"),
        ({**ALL_FULL, "greeting": 1.5}, "answers.greeting"),
        ({**ALL_FULL, "close": True}, "answers.close"),
        ({**ALL_FULL, "close": "2"}, "answers.close"),
        ({**ALL_FULL, "smile": 1}, "answers.smile"),
        ({k: v for k, v in ALL_FULL.items() if k != "courtesy"}, "answers.courtesy"),
        (dict.fromkeys(ALL_FULL), "answers"),
        ([1, 2], "answers"),
    ]
    for answers, field in cases:
        with pytest.raises(InvalidInput) as info:
            checked_answers(card, answers)
        assert info.value.field == field, answers


def test_criterion_model_defaults_to_one_point():
    c = Criterion(id="a", label={"en-US": "A"}, weight=2)
    assert c.max_points == 1 and c.step is None


# ---------------------------------------------------------------- the API


def test_a_supervisor_scores_and_the_agent_reads_it(api, deps, clock):
    agent_id, _ = api.user("agent")
    reviewer_id, _ = api.user("supervisor")
    rid = make_recording(deps, clock, agent_id)
    body = {"answers": {**ALL_FULL, "compliance": 0}, "comments": "  Read the card back.  "}
    response = api.post(f"/api/recordings/{rid}/scores", as_="supervisor", json=body)
    assert response.status_code == 201, response.json
    score = response.json
    assert score["total"] == 80.0 and score["scorecard"] == CARD
    assert score["agent"]["id"] == agent_id and score["reviewer"]["id"] == reviewer_id
    assert score["comments"] == "Read the card back." and score["scorecard_version"] == "1"

    with deps.session_factory() as s:
        entry = s.scalars(select(AuditEntry)).one()
        assert (entry.action, entry.target, entry.actor_id) == (
            "recording.qa_score",
            f"recording:{rid}",
            reviewer_id,
        )
        assert entry.detail["total"] == 80.0 and entry.detail["scorecard"] == "qa_call@1"

    listed = api.get(f"/api/recordings/{rid}/scores", as_="supervisor").json["scores"]
    assert [s["id"] for s in listed] == [score["id"]]

    mine = api.get("/api/agents/me/scores", as_="agent").json["scores"]
    assert [s["total"] for s in mine] == [80.0]
    assert mine[0]["recording"]["id"] == rid and mine[0]["call"]["call_sid"] == "CARE1"
    assert mine[0]["answers"]["compliance"] == 0


def test_an_agent_sees_only_their_own_scores_newest_first(api, deps, clock):
    ana, _ = api.user("agent", "ana")
    bob, _ = api.user("agent", "bob")
    first = make_recording(deps, clock, ana, sid="RE1")
    second = make_recording(deps, clock, ana, sid="RE2")
    other = make_recording(deps, clock, bob, sid="RE3")
    for rid, points in ((first, 0), (second, 1), (other, 1)):
        clock.advance(60)
        answers = {**ALL_FULL, "disclosure": points}
        response = api.post(
            f"/api/recordings/{rid}/scores", as_="supervisor", json={"answers": answers}
        )
        assert response.status_code == 201
    mine = api.get("/api/agents/me/scores", as_="ana").json["scores"]
    assert [s["recording_id"] for s in mine] == [second, first]
    assert api.get("/api/agents/me/scores", as_="bob").json["scores"][0]["recording_id"] == other
    assert api.get("/api/agents/me/scores", as_="supervisor").json["scores"] == []
    assert (
        api.get("/api/agents/me/scores?limit=1", as_="ana").json["scores"][0]["recording_id"]
        == second
    )
    assert api.get("/api/agents/me/scores?limit=0", as_="ana").json["error"]["field"] == "limit"


def test_roles(api, deps, clock):
    agent_id, _ = api.user("agent")
    rid = make_recording(deps, clock, agent_id)
    body = {"answers": ALL_FULL}
    assert api.post(f"/api/recordings/{rid}/scores", as_="agent", json=body).status_code == 403
    assert api.get(f"/api/recordings/{rid}/scores", as_="agent").status_code == 403
    assert api.get("/api/qa/averages", as_="agent").status_code == 403
    assert api.post(f"/api/recordings/{rid}/scores", as_="admin", json=body).status_code == 201
    cards = api.get("/api/qa/scorecards", as_="agent").json["scorecards"]
    qa_call = next(c for c in cards if c["name"] == CARD)
    assert qa_call["criteria"][0]["label"]["es-MX"].startswith("Saludo")
    assert qa_call["criteria"][0] | {"label": None} == {
        "id": "greeting",
        "label": None,
        "weight": 10,
        "max_points": 2,
        "step": "opening",
        "section": None,
    }


def test_malformed_input_names_the_field(api, deps, clock):
    agent_id, _ = api.user("agent")
    rid = make_recording(deps, clock, agent_id)
    path = f"/api/recordings/{rid}/scores"
    cases = [
        ({"answers": {**ALL_FULL, "close": 5}}, "answers.close"),
        ({"answers": {"greeting": 1}}, "answers.identification"),
        ({"answers": "all good"}, "answers"),
        ({}, "answers"),
        ({"answers": ALL_FULL, "scorecard": "nope"}, "scorecard"),
        ({"answers": ALL_FULL, "scorecard": 3}, "scorecard"),
        ({"answers": ALL_FULL, "comments": 3}, "comments"),
        ({"answers": ALL_FULL, "comments": "x" * 5001}, "comments"),
    ]
    for body, field in cases:
        response = api.post(path, as_="supervisor", json=body)
        assert response.status_code == 400, body
        assert response.json["error"]["field"] == field, (body, response.json)
    response = api.post(path, as_="supervisor", data="nope", content_type="text/plain")
    assert response.status_code == 400 and response.json["error"]["id"] == "invalid-input"
    assert api.get("/api/qa/averages?days=abc", as_="supervisor").json["error"]["field"] == "days"
    with deps.session_factory() as s:
        assert s.scalars(select(QaScore)).all() == []


def test_unknown_unplayable_and_agentless_recordings(api, deps, clock):
    agent_id, _ = api.user("agent")
    body = {"answers": ALL_FULL}
    response = api.post("/api/recordings/999/scores", as_="supervisor", json=body)
    assert response.status_code == 404 and response.json["error"]["field"] == "recording"
    assert api.get("/api/recordings/999/scores", as_="supervisor").status_code == 404
    for n, status in enumerate(
        (RecordingStatus.DELETED, RecordingStatus.PENDING, RecordingStatus.FAILED)
    ):
        rid = make_recording(deps, clock, agent_id, status=status, sid=f"RX{n}")
        response = api.post(f"/api/recordings/{rid}/scores", as_="supervisor", json=body)
        assert response.status_code == 409, status
        error = response.json["error"]
        # In words, why (never the status's enum value alone); the value is a field of it.
        assert error["message"].startswith(f"Recording {rid} cannot be scored: ")
        assert error["details"]["status"] == status.value
    for status, words in (
        (RecordingStatus.DELETED, "it was deleted"),
        (RecordingStatus.PENDING, "still being downloaded"),
        (RecordingStatus.FAILED, "download from the carrier failed"),
    ):
        rid = make_recording(deps, clock, agent_id, status=status, sid=f"RW{status.value}")
        response = api.post(f"/api/recordings/{rid}/scores", as_="supervisor", json=body)
        assert words in response.json["error"]["message"]
    rid = make_recording(deps, clock, None, sid="RNOAGENT")
    response = api.post(f"/api/recordings/{rid}/scores", as_="supervisor", json=body)
    assert response.status_code == 409 and "no agent" in response.json["error"]["message"]


def test_a_score_outlives_the_recordings_deletion(api, deps, clock):
    agent_id, _ = api.user("agent")
    rid = make_recording(deps, clock, agent_id)
    api.post(f"/api/recordings/{rid}/scores", as_="supervisor", json={"answers": ALL_FULL})
    with deps.session_factory.begin() as s:
        s.get(Recording, rid).status = RecordingStatus.DELETED
    mine = api.get("/api/agents/me/scores", as_="agent").json["scores"]
    assert [(s["total"], s["recording"]["status"]) for s in mine] == [(100.0, "deleted")]


def test_averages_per_agent_over_the_last_days(api, deps, clock):
    ana, _ = api.user("agent", "ana")
    bob, _ = api.user("agent", "bob")
    old = make_recording(deps, clock, ana, sid="RE0")
    api.post(f"/api/recordings/{old}/scores", as_="supervisor", json={"answers": ALL_FULL})
    clock.advance(timedelta(days=40).total_seconds())
    for n, (agent, compliance) in enumerate(((ana, 0), (ana, 1), (bob, 1))):
        rid = make_recording(deps, clock, agent, sid=f"RE{n + 1}")
        answers = {**ALL_FULL, "compliance": compliance}
        api.post(f"/api/recordings/{rid}/scores", as_="supervisor", json={"answers": answers})
    data = api.get("/api/qa/averages?days=30", as_="supervisor").json
    assert data["days"] == 30
    got = {a["agent_id"]: (a["average"], a["count"]) for a in data["agents"]}
    assert got == {ana: (90.0, 2), bob: (100.0, 1)}
    wide = api.get("/api/qa/averages?days=60", as_="supervisor").json["agents"]
    assert {a["agent_id"]: a["count"] for a in wide} == {ana: 3, bob: 1}


def test_the_pages(api, deps, clock, app):
    agent_id, _ = api.user("agent")
    rid = make_recording(deps, clock, agent_id)
    make_recording(deps, clock, agent_id, status=RecordingStatus.DELETED, sid="REGONE")
    with app.test_request_context():
        from recording.qa import recent_recordings

        with deps.session_factory() as s:
            listed = recent_recordings(s)
    assert [r["id"] for r in listed] == [rid]  # only what can be listened to
    assert listed[0]["agent"]["id"] == agent_id and listed[0]["scores"] == 0
    assert api.get("/qa", as_="supervisor").status_code == 200
    assert api.get("/qa", as_="agent").status_code == 403
    page = api.get("/qa/mine", as_="agent")
    assert page.status_code == 200 and b'id="qa-mine"' in page.data


def test_each_call_carries_the_script_of_its_direction_and_queue(api, deps, clock, app):
    """The QA page shows a call beside the script its agent read: an inbound call the
    inbound script (not the outbound sales pitch the scorecard was written against), an
    outbound call the outbound one; the agent's own scores carry it too."""
    agent_id, _ = api.user("agent")
    inbound = make_recording(deps, clock, agent_id, sid="REIN")
    outbound = make_recording(deps, clock, agent_id, sid="REOUT")
    with deps.session_factory.begin() as s:
        call = s.get(Call, s.get(Recording, outbound).call_id)
        call.direction = CallDirection.OUTBOUND_DIAL
        s.get(Call, s.get(Recording, inbound).call_id).queue = "service"
    with app.test_request_context():
        from recording.qa import recent_recordings

        with deps.session_factory() as s:
            listed = {
                r["id"]: r["call"]["script"] for r in recent_recordings(s, library=deps.scripts)
            }
    assert listed[inbound]["name"] == "inbound"
    assert "vehicle" in listed[inbound]["steps"] and "identify" not in listed[inbound]["steps"]
    assert "queue service" in listed[inbound]["why"]
    assert listed[outbound]["name"] == "outbound_sales" and "identify" in listed[outbound]["steps"]

    for rid in (inbound, outbound):
        body = {"answers": dict.fromkeys(ALL_FULL, None) | {"greeting": 2}}
        assert (
            api.post(f"/api/recordings/{rid}/scores", json=body, as_="supervisor").status_code
            == 201
        )
    mine = api.get("/api/agents/me/scores", as_="agent").json["scores"]
    assert {s["recording_id"]: s["call"]["script"]["name"] for s in mine} == {
        inbound: "inbound",
        outbound: "outbound_sales",
    }
