"""``callcenter queues`` and ``callcenter agents``: the ACD's configuration from the shell."""

from crm_core import acd


def add_user(runner, username, *extra):
    result = runner.invoke(args=["users", "add", username, "--password", "s3cret-pass", *extra])
    assert result.exit_code == 0, result.output


def test_queues_add_list_and_set(runner, deps):
    sales = runner.invoke(args=["queues", "add", "sales", "--skill", "sales:1"])
    assert sales.exit_code == 0, sales.output
    spanish = runner.invoke(
        args=[
            "queues",
            "add",
            "spanish-sales",
            "--display-name",
            "Ventas",
            "--skill",
            "sales:1",
            "--skill",
            "spanish:5",
            "--strategy",
            "skills_weighted",
            "--offer-timeout",
            "20",
            "--wrap-up",
            "45",
            "--max-wait",
            "120",
            "--overflow",
            "queue:sales",
            "--empty",
            "overflow",
            "--escalate-after",
            "60",
            "--relax",
            "2",
        ]
    )
    assert spanish.exit_code == 0, spanish.output
    assert "120s → queue:sales" in spanish.output
    with deps.session_factory() as s:
        config = acd.queue_config(acd.get_queue(s, "spanish-sales"))
    assert config.required_skills == {"sales": 1, "spanish": 5}
    assert (config.offer_timeout_seconds, config.wrap_up_seconds) == (20, 45)
    assert (config.escalation_after_seconds, config.escalation_relax_levels) == (60, 2)
    assert config.display_name == "Ventas" and config.empty_action.value == "overflow"
    listed = runner.invoke(args=["queues", "list"])
    lines = listed.output.splitlines()
    assert lines[0].startswith("sales ") and lines[1].startswith("spanish-sales ")
    assert "sales:1,spanish:5" in lines[1] and "empty: overflow" in lines[1]
    changed = runner.invoke(
        args=["queues", "set", "spanish-sales", "--overflow", "voicemail", "--inactive"]
    )
    assert changed.exit_code == 0, changed.output
    assert "120s → voicemail" in changed.output and "(inactive)" in changed.output
    cleared = runner.invoke(
        args=["queues", "set", "spanish-sales", "--max-wait", "none", "--skill", "none"]
    )
    assert cleared.exit_code == 0 and "no max wait" in cleared.output, cleared.output
    with deps.session_factory() as s:
        q = acd.get_queue(s, "spanish-sales")
        assert q.max_wait_seconds is None and q.required_skills == {} and not q.active


def test_queue_mistakes_are_one_line_naming_the_field(runner):
    runner.invoke(args=["queues", "add", "sales"])
    for args, field in [
        (["queues", "add", "Sales Team"], "[name]"),
        (["queues", "add", "x", "--skill", "sales=1"], "[required_skills]"),
        (["queues", "add", "x", "--offer-timeout", "500"], "[offer_timeout_seconds]"),
        (["queues", "add", "x", "--max-wait", "soon"], "[max_wait_seconds]"),
        (["queues", "add", "x", "--max-wait", "60"], "[overflow_action]"),
        (["queues", "add", "x", "--overflow", "queue"], "[overflow_queue]"),
        (["queues", "add", "x", "--overflow", "queue:nowhere"], "[overflow_queue]"),
        (["queues", "add", "x", "--overflow", "hangup"], "[overflow_action]"),
        (["queues", "add", "sales"], "already exists"),
        (["queues", "set", "nope", "--wrap-up", "5"], "[name]"),
        (["queues", "set", "sales", "--overflow", "queue:sales"], "[overflow_queue]"),
    ]:
        result = runner.invoke(args=args)
        assert result.exit_code == 1, (args, result.output)
        assert field in result.output and len(result.output.strip().splitlines()) == 1, args
    bad_choice = runner.invoke(args=["queues", "add", "x", "--strategy", "random"])
    assert bad_choice.exit_code == 2 and "random" in bad_choice.output


def test_agents_skills_and_list(runner, deps):
    add_user(runner, "ana", "--skills", "sales:8")
    add_user(runner, "sam", "--role", "supervisor")
    add_user(runner, "root", "--role", "admin")
    shown = runner.invoke(args=["agents", "skills", "ana"])
    assert shown.exit_code == 0 and "sales:8" in shown.output
    set_ = runner.invoke(args=["agents", "skills", "ana", "sales:8", "spanish:7"])
    assert set_.exit_code == 0 and "sales:8,spanish:7" in set_.output, set_.output
    listed = runner.invoke(args=["agents", "list"]).output.splitlines()
    assert [line.split()[1] for line in listed] == ["ana", "sam"]  # no admins
    assert "client:agent_ana" in listed[0]
    cleared = runner.invoke(args=["agents", "skills", "sam", "--clear"])
    assert cleared.exit_code == 0 and " - " in cleared.output
    bad = runner.invoke(args=["agents", "skills", "ana", "sales:11"])
    assert bad.exit_code == 1 and "[skills]" in bad.output
    nobody = runner.invoke(args=["agents", "skills", "nobody"])
    assert nobody.exit_code == 1 and "[username]" in nobody.output
    with deps.session_factory() as s:
        assert {a.username: a.skills for a in acd.list_agents(s)}["ana"] == {
            "sales": 8,
            "spanish": 7,
        }


def test_queue_hours_time_zone_and_holidays(runner):
    added = runner.invoke(
        args=[
            "queues",
            "add",
            "bdc",
            "--hours",
            "mon-fri 08:00-17:00",
            "--time-zone",
            "America/Chicago",
        ]
    )
    assert added.exit_code == 0, added.output
    assert "hours: mon 08:00-17:00" in added.output and "America/Chicago" in added.output
    bad = runner.invoke(args=["queues", "set", "bdc", "--hours", "mon 5pm"])
    assert bad.exit_code == 1 and "hours" in bad.output
    closed = runner.invoke(args=["holidays", "add", "2026-12-25", "Christmas Day"])
    assert closed.exit_code == 0, closed.output
    short = runner.invoke(
        args=[
            "holidays",
            "add",
            "2026-12-24",
            "Christmas Eve",
            "--queue",
            "bdc",
            "--hours",
            "09:00-13:00",
        ]
    )
    assert short.exit_code == 0 and "open 09:00-13:00" in short.output
    listed = runner.invoke(args=["holidays", "list"]).output
    assert "Christmas Eve" in listed and "bdc" in listed and "every queue" in listed
    nowhere = runner.invoke(args=["holidays", "add", "2026-12-31", "Eve", "--queue", "nope"])
    assert nowhere.exit_code == 1


def test_queues_disposition_required_on_and_off(runner, deps):
    added = runner.invoke(args=["queues", "add", "sales", "--disposition-required"])
    assert added.exit_code == 0, added.output
    assert "wrap 30s (disposition required)" in added.output
    with deps.session_factory() as s:
        assert acd.queue_config(acd.get_queue(s, "sales")).disposition_required is True
    assert "(disposition required)" in runner.invoke(args=["queues", "list"]).output
    off = runner.invoke(args=["queues", "set", "sales", "--no-disposition-required"])
    assert off.exit_code == 0 and "disposition required" not in off.output, off.output
    kept = runner.invoke(args=["queues", "set", "sales", "--wrap-up", "45"])
    assert "wrap 45s " in kept.output and "disposition required" not in kept.output
    with deps.session_factory() as s:
        assert acd.queue_config(acd.get_queue(s, "sales")).disposition_required is False
