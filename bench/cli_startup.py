"""Start-up time of ``callcenter --help`` against importing the libraries it is built on.

Both run as fresh subprocesses of the same Python, alternating one after the other so that
drift in the machine's load falls on both sides:

* the command: ``callcenter --help`` (the installed script beside this Python; ``python -m
  app --help`` when it is not installed);
* the baseline: ``python -c "import flask, sqlalchemy, redis, rq, twilio.rest"``.

It prints the median wall time of each over N runs and the ratio command/baseline. Target:
ratio <= 1.5 (the command imports its libraries only inside the commands that use them).

    python bench/cli_startup.py             # 15 runs of each
    python bench/cli_startup.py --runs 7
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "import flask, sqlalchemy, redis, rq, twilio.rest"
TARGET = 1.5


def _time(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def measure(runs: int) -> tuple[float, float]:
    """Median seconds of (the command, the baseline) over ``runs`` alternating runs each,
    after one untimed run of each (the file-system cache warm for both)."""
    script = Path(sys.executable).parent / "callcenter"
    command = [str(script) if script.exists() else sys.executable, "--help"]
    if not script.exists():
        command[1:1] = ["-m", "app"]
    baseline = [sys.executable, "-c", BASELINE]
    _time(command), _time(baseline)
    own, base = [], []
    for i in range(runs):
        pair = [(command, own), (baseline, base)]
        for argv, times in pair if i % 2 == 0 else reversed(pair):
            times.append(_time(argv))
    return statistics.median(own), statistics.median(base)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each (default 15)")
    args = parser.parse_args(argv)
    own, base = measure(args.runs)
    ratio = own / base
    print(f"callcenter --help          median {own * 1000:7.1f} ms  ({args.runs} runs)")
    print(f"import the libraries       median {base * 1000:7.1f} ms  ({args.runs} runs)")
    print(f"ratio {ratio:.2f} (target <= {TARGET})")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
