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
