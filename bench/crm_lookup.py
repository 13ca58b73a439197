"""Screen-pop benchmark: ``crm_core.customers.find_by_phone`` against a raw indexed SELECT.

For each backend (SQLite, PostgreSQL) it fills a database with N customers (one phone each,
bulk-loaded), then times, lookup by lookup and on the same randomly chosen numbers (about 10%
of them owned by nobody):

* the service: ``with read session: find_by_phone(session, "(313) …")``,
  i.e. what ``GET /api/customers?phone=`` does: a read session, the phone normalised, the ORM
  query, the entity loaded;
* the baseline: the same customer row fetched through ``customer_phones.e164`` with a
  parameterised (prepared) SELECT on a raw DBAPI cursor, given the E.164 already;
* for reference, the same hand-written SELECT through the same kind of session (``text()``):
  the difference to the service is what the ORM and the normalisation cost.

Both run in alternating blocks (service first, then baseline first) after a warm-up, so drift
and page-cache effects fall on both sides. Targets: service/baseline ratio <= 1.5 (p50 and
p99) and service p99 < 5 ms.

    python bench/crm_lookup.py                         # 1,000,000 customers, both backends
    python bench/crm_lookup.py --customers 10000       # quick smoke run
    python bench/crm_lookup.py --backends sqlite --breakdown

The SQLite file (under the temp dir unless ``--sqlite-path``) and the PostgreSQL database
``callcenter_bench`` are reused when they already hold the same generated rows.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import phonenumbers
from sqlalchemy import literal, select, text
from sqlalchemy.engine import Engine, make_url

from crm_core.customers import find_by_phone
from crm_core.db import make_engine, make_read_engine, make_session_factory
from crm_core.models import Customer, CustomerPhone
from migrations import upgrade

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1/callcenter_bench"
DEFAULT_PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1/test"
SEED = 20240501
TARGET_RATIO = 1.5
TARGET_P99_MS = 5.0

# Real area codes, with a plausible city, ZIP code and time zone for the generated customers.
AREAS = [
    (313, "Detroit", "MI", "48201", "America/Detroit"),
    (248, "Troy", "MI", "48084", "America/Detroit"),
    (312, "Chicago", "IL", "60601", "America/Chicago"),
    (773, "Chicago", "IL", "60614", "America/Chicago"),
    (214, "Dallas", "TX", "75201", "America/Chicago"),
    (713, "Houston", "TX", "77002", "America/Chicago"),
    (305, "Miami", "FL", "33101", "America/New_York"),
    (404, "Atlanta", "GA", "30303", "America/New_York"),
    (617, "Boston", "MA", "02108", "America/New_York"),
    (206, "Seattle", "WA", "98101", "America/Los_Angeles"),
]
# Exchanges 200-999 without the N11 service codes and 555.
EXCHANGES = [e for e in range(200, 1000) if e % 100 != 11 and e != 555]
PER_AREA = len(EXCHANGES) * 10_000
FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Carlos", "Maria", "Wei", "Aisha", "Omar", "Priya",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
    "Jackson", "Martin", "Lee", "Nguyen", "Kowalski", "Haddad", "Okafor", "Schmidt",
)  # fmt: skip

CUSTOMER_COLUMNS = (
    "id", "first_name", "last_name", "email", "city", "state", "postal_code", "time_zone",
    "language", "preferred_channel", "preferred_makes", "preferred_models", "do_not_call",
    "created_at", "updated_at",
)  # fmt: skip
PHONE_COLUMNS = ("id", "customer_id", "e164", "kind", "is_primary")


# --- the generated data set ----------------------------------------------------------------


def e164_of(k: int) -> str:
    area, rest = divmod(k, PER_AREA)
    exchange, subscriber = divmod(rest, 10_000)
    return f"+1{AREAS[area][0]}{EXCHANGES[exchange]}{subscriber:04d}"


def human(e164: str) -> str:
    """The national format an agent would type: +13135550123 -> (313) 555-0123."""
    return f"({e164[2:5]}) {e164[5:8]}-{e164[8:]}"


@dataclass
class DataSet:
    keys: list[int]  # customer i (id i + 1) owns e164_of(keys[i])
    misses: list[str]  # valid numbers that nobody owns

    @property
    def size(self) -> int:
        return len(self.keys)


def make_dataset(customers: int, misses: int) -> DataSet:
    """Deterministic for a given ``customers``: a reused database holds exactly these rows."""
    space = len(AREAS) * PER_AREA
    keys = random.Random(SEED).sample(range(space), customers)
    taken = set(keys)
    rng = random.Random(SEED + 1)
    miss_keys: list[int] = []
    while len(miss_keys) < misses:
        k = rng.randrange(space)
        if k not in taken:
            taken.add(k)
            miss_keys.append(k)
    data = DataSet(keys, [e164_of(k) for k in miss_keys])
    check_numbers(data)
    return data


def check_numbers(data: DataSet, sample: int = 2000) -> None:
    rng = random.Random(SEED + 2)
    numbers = [e164_of(k) for k in rng.sample(data.keys, min(sample, data.size))]
    numbers += data.misses[:sample]
    for e164 in numbers:
        parsed = phonenumbers.parse(human(e164), "US")
        formatted = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        if not phonenumbers.is_valid_number(parsed) or formatted != e164:
            raise SystemExit(f"generated number {e164} is not a valid US number")


def customer_rows(data: DataSet, timestamp: str, boolean: Callable[[bool], object]) -> Iterator:
    false = boolean(False)
    for i, k in enumerate(data.keys):
        _code, city, state, zip_code, zone = AREAS[k // PER_AREA]
        first = FIRST_NAMES[k % len(FIRST_NAMES)]
        last = LAST_NAMES[(k // 7) % len(LAST_NAMES)]
        yield (
            i + 1, first, last, f"{first}.{last}{i + 1}@example.com".lower(), city, state,
            zip_code, zone, "en-US", "voice", "[]", "[]", false, timestamp, timestamp,
        )  # fmt: skip


def phone_rows(data: DataSet, boolean: Callable[[bool], object]) -> Iterator:
    true = boolean(True)
    kinds = ("mobile", "mobile", "mobile", "home", "work")
    for i, k in enumerate(data.keys):
        yield (i + 1, i + 1, e164_of(k), kinds[k % len(kinds)], true)


# --- loading ---------------------------------------------------------------------------------


def rows_present(engine: Engine, data: DataSet) -> bool:
    """Whether the database already holds exactly this data set."""
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM customer_phones")).scalar_one()
        customers = conn.execute(text("SELECT count(*) FROM customers")).scalar_one()
        if count != data.size or customers != data.size:
            return False
        probe = {1: e164_of(data.keys[0]), data.size: e164_of(data.keys[-1])}
        found = dict(
            conn.execute(
                text("SELECT id, e164 FROM customer_phones WHERE id IN (:a, :b)"),
                {"a": 1, "b": data.size},
            ).all()
        )
    return found == probe


def load_sqlite(engine: Engine, data: DataSet) -> None:
    raw = engine.raw_connection()
    try:
        db = raw.driver_connection
        db.execute("PRAGMA synchronous=OFF")
        db.execute("PRAGMA cache_size=-524288")  # 512 MB while building the indexes
        db.execute("DELETE FROM customer_phones")
        db.execute("DELETE FROM customers")
        marks = ", ".join("?" * len(CUSTOMER_COLUMNS))
        db.executemany(
            f"INSERT INTO customers ({', '.join(CUSTOMER_COLUMNS)}) VALUES ({marks})",
            customer_rows(data, "2024-05-01 12:00:00.000000", int),
        )
        marks = ", ".join("?" * len(PHONE_COLUMNS))
        db.executemany(
            f"INSERT INTO customer_phones ({', '.join(PHONE_COLUMNS)}) VALUES ({marks})",
            phone_rows(data, int),
        )
        db.commit()
        db.execute("ANALYZE")
        db.commit()
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA cache_size=-2000")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()


def copy_rows(cursor, table: str, columns: tuple[str, ...], rows: Iterator) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        chunk: list[str] = []
        for row in rows:
            chunk.append("\t".join(map(str, row)))
            if len(chunk) == 50_000:
                copy.write("\n".join(chunk) + "\n")
                chunk.clear()
        if chunk:
            copy.write("\n".join(chunk) + "\n")


def load_postgresql(engine: Engine, data: DataSet) -> None:
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        with conn.cursor() as cur:
            cur.execute("SET synchronous_commit = off")
            cur.execute("TRUNCATE customers, customer_phones RESTART IDENTITY CASCADE")
            bool_text = {False: "f", True: "t"}.__getitem__
            customers = customer_rows(data, "2024-05-01 12:00:00+00", bool_text)
            copy_rows(cur, "customers", CUSTOMER_COLUMNS, customers)
            copy_rows(cur, "customer_phones", PHONE_COLUMNS, phone_rows(data, bool_text))
            for table in ("customers", "customer_phones"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {data.size})")
        conn.commit()
        conn.autocommit = True
        try:
            conn.execute("VACUUM ANALYZE customers")
            conn.execute("VACUUM ANALYZE customer_phones")
        finally:
            conn.autocommit = False
    finally:
        raw.close()


def sqlite_url(path: str | None, customers: int) -> str:
    if path is None:
        path = str(Path(tempfile.gettempdir()) / "callcenter_bench" / f"crm_{customers}.sqlite3")
    return f"sqlite:///{path}"


def postgres_ready(url: str, admin_url: str) -> str | None:
    """Create the bench database if needed. Returns why PostgreSQL can't be used, or None."""
    import psycopg

    def conninfo(u: str) -> str:
        return make_url(u).set(drivername="postgresql").render_as_string(hide_password=False)

    name = make_url(url).database
    try:
        psycopg.connect(conninfo(url), connect_timeout=3).close()
        return None
    except psycopg.OperationalError as exc:
        if f'"{name}" does not exist' not in str(exc):
            reason = " ".join(str(exc).split())
            return f"cannot connect to {make_url(url).render_as_string()}: {reason}"
    try:
        with psycopg.connect(conninfo(admin_url), connect_timeout=3, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        return f"cannot create database {name}: {' '.join(str(exc).split())}"
    return None


# --- timing ----------------------------------------------------------------------------------


@dataclass
class Result:
    backend: str
    customers: int
    lookups: int
    setup: str
    service: list[int]  # nanoseconds per lookup
    raw: list[int]
    session_sql: list[int]
    breakdown: dict[str, list[int]] | None = None


def pct(samples: list[int], q: int) -> float:
    """The q-th percentile in milliseconds."""
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1] / 1e6


def mean_ms(samples: list[int]) -> float:
    return statistics.fmean(samples) / 1e6


def raw_select(engine: Engine):
    """A raw DBAPI connection and a function doing one prepared, indexed SELECT on it."""
    columns = ", ".join(f"c.{col.name}" for col in Customer.__table__.columns)
    sql = (
        f"SELECT {columns} FROM customers c "
        "JOIN customer_phones p ON p.customer_id = c.id WHERE p.e164 = {mark}"
    )
    raw = engine.raw_connection()
    if engine.dialect.name == "postgresql":
        conn = raw.driver_connection
        conn.rollback()
        conn.autocommit = True  # one round trip per lookup: no BEGIN/ROLLBACK around it
        cur = conn.cursor()
        query = sql.format(mark="%s")

        def lookup(e164: str):
            cur.execute(query, (e164,), prepare=True)
            return cur.fetchone()

        def close() -> None:
            cur.close()
            conn.autocommit = False
            raw.close()

    else:
        cur = raw.driver_connection.cursor()  # sqlite3 caches the prepared statement
        query = sql.format(mark="?")

        def lookup(e164: str):
            cur.execute(query, (e164,))
            return cur.fetchone()

        def close() -> None:
            cur.close()
            raw.close()

    return lookup, close


def choose_numbers(data: DataSet, count: int, miss_ratio: float, rng: random.Random) -> list[str]:
    """``count`` numbers, ``miss_ratio`` of them unknown; without repeats when there are enough
    (so the phone-normalisation cache doesn't flatter the service)."""
    n_miss = round(count * miss_ratio)
    n_hit = count - n_miss
    if n_hit <= data.size:
        hits = [e164_of(k) for k in rng.sample(data.keys, n_hit)]
    else:
        hits = [e164_of(k) for k in rng.choices(data.keys, k=n_hit)]
    misses = rng.sample(data.misses, n_miss) if n_miss <= len(data.misses) else []
    numbers = hits + misses
    rng.shuffle(numbers)
    return numbers


def run_lookups(engine: Engine, numbers: list[str], warmup: list[str], block: int):
    read_engine = make_read_engine(engine)
    session_factory = make_session_factory(read_engine)
    raw_lookup, raw_close = raw_select(engine)
    clock = time.perf_counter_ns
    hand_written = text(
        "SELECT c.* FROM customers c JOIN customer_phones p ON p.customer_id = c.id "
        "WHERE p.e164 = :e164"
    )

    def session_sql(batch: list[str], out: list[int], ids: list) -> None:
        for e164 in batch:
            t0 = clock()
            with session_factory() as session:
                row = session.execute(hand_written, {"e164": e164}).first()
            out.append(clock() - t0)
            ids.append(row[0] if row is not None else None)

    def service(batch: list[str], out: list[int], ids: list) -> None:
        for number in [human(e) for e in batch]:
            t0 = clock()
            with session_factory() as session:
                customer = find_by_phone(session, number)
                cid = customer.id if customer is not None else None
            out.append(clock() - t0)
            ids.append(cid)

    def baseline(batch: list[str], out: list[int], ids: list) -> None:
        for e164 in batch:
            t0 = clock()
            row = raw_lookup(e164)
            out.append(clock() - t0)
            ids.append(row[0] if row is not None else None)

    try:
        scratch: list = []
        for i in range(0, len(warmup), block):
            service(warmup[i : i + block], scratch, scratch)
            baseline(warmup[i : i + block], scratch, scratch)
            session_sql(warmup[i : i + block], scratch, scratch)
        sides = [(service, [], []), (baseline, [], []), (session_sql, [], [])]
        gc.collect()
        for j, i in enumerate(range(0, len(numbers), block)):
            batch = numbers[i : i + block]
            shift = j % len(sides)  # each side takes each place in the order in turn
            for fn, out, ids in sides[shift:] + sides[:shift]:
                fn(batch, out, ids)
    finally:
        raw_close()
        if read_engine is not engine:
            read_engine.dispose()
    (_, service_ns, service_ids), (_, raw_ns, raw_ids), (_, sql_ns, sql_ids) = sides
    if not service_ids == raw_ids == sql_ids:
        wrong = sum(a != b for a, b in zip(service_ids, raw_ids, strict=True))
        raise SystemExit(f"service and baseline disagree on {wrong} lookups")
    return service_ns, raw_ns, sql_ns, sum(cid is not None for cid in service_ids)


def run_breakdown(engine: Engine, numbers: list[str]) -> dict[str, list[int]]:
    """Where a service lookup spends its time, piece by piece (diagnostic, ``--breakdown``)."""
    from crm_core import phones

    normalize = getattr(phones._normalize, "__wrapped__", phones._normalize)  # uncached
    session_factory = make_session_factory(engine)
    clock = time.perf_counter_ns
    inputs = [human(e) for e in numbers]

    def orm_query(e164: str):
        return (
            select(Customer)
            .join(CustomerPhone, CustomerPhone.customer_id == Customer.id)
            .where(CustomerPhone.e164 == e164)
        )

    parts: dict[str, list[int]] = {
        "normalise (uncached)": [],
        "session + SELECT 1": [],
        "ORM query, new session": [],
        "ORM query, open session": [],
    }
    for number in inputs:
        t0 = clock()
        normalize(number, "US", "phone")
        parts["normalise (uncached)"].append(clock() - t0)
    for _ in range(len(numbers)):
        t0 = clock()
        with session_factory() as session:
            session.execute(select(literal(1))).scalar_one()
        parts["session + SELECT 1"].append(clock() - t0)
    for e164 in numbers:
        t0 = clock()
        with session_factory() as session:
            session.scalars(orm_query(e164)).one_or_none()
        parts["ORM query, new session"].append(clock() - t0)
    with session_factory() as session:
        for e164 in numbers:
            t0 = clock()
            session.scalars(orm_query(e164)).one_or_none()
            parts["ORM query, open session"].append(clock() - t0)
            session.expunge_all()
    return parts


def bench_backend(backend: str, url: str, args: argparse.Namespace, data: DataSet) -> Result:
    label = make_url(url).render_as_string()
    print(f"\n== {backend}: {label}", flush=True)
    t0 = time.perf_counter()
    upgrade(url)
    engine = make_engine(url)
    try:
        if rows_present(engine, data):
            setup = "reused"
            print(f"   {data.size:,} customers already loaded", flush=True)
        else:
            print(f"   loading {data.size:,} customers ...", flush=True)
            (load_postgresql if backend == "postgresql" else load_sqlite)(engine, data)
            engine.dispose()
            setup = f"loaded in {time.perf_counter() - t0:.1f} s"
            print(f"   {setup}", flush=True)
        rng = random.Random(SEED + 3)
        numbers = choose_numbers(data, args.lookups + args.warmup, args.miss_ratio, rng)
        warmup, measured = numbers[: args.warmup], numbers[args.warmup :]
        t1 = time.perf_counter()
        service_ns, raw_ns, sql_ns, found = run_lookups(engine, measured, warmup, args.block)
        unknown = set(data.misses)
        expected = sum(e164 not in unknown for e164 in measured)
        if found != expected:
            raise SystemExit(f"found {found} customers, expected {expected}")
        print(
            f"   {3 * len(measured):,} timed lookups in {time.perf_counter() - t1:.1f} s "
            f"({found:,} of {len(measured):,} numbers found, as expected, by both)"
        )
        breakdown = run_breakdown(engine, measured[: args.breakdown]) if args.breakdown else None
    finally:
        engine.dispose()
    result = Result(backend, data.size, len(measured), setup, service_ns, raw_ns, sql_ns, breakdown)
    report(result, args.miss_ratio)
    return result


# --- output ----------------------------------------------------------------------------------


def verdict(r: Result) -> tuple[float, float, bool, bool]:
    ratio50 = pct(r.service, 50) / pct(r.raw, 50)
    ratio99 = pct(r.service, 99) / pct(r.raw, 99)
    return (
        ratio50,
        ratio99,
        ratio50 <= TARGET_RATIO and ratio99 <= TARGET_RATIO,
        pct(r.service, 99) < TARGET_P99_MS,
    )


def stats_line(name: str, samples: list[int]) -> str:
    return f"   {name:30}{pct(samples, 50):9.3f}{pct(samples, 99):9.3f}{mean_ms(samples):9.3f}"


def report(r: Result, miss_ratio: float) -> None:
    print(
        f"   {r.customers:,} customers, {r.lookups:,} lookups each "
        f"({miss_ratio:.0%} misses), data {r.setup}"
    )
    print(f"   {'':30}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}")
    print(stats_line("service find_by_phone", r.service))
    print(stats_line("raw indexed SELECT (DBAPI)", r.raw))
    print(stats_line("same SELECT, same session", r.session_sql))
    ratio50, ratio99, ratio_ok, p99_ok = verdict(r)
    ratio_mean = mean_ms(r.service) / mean_ms(r.raw)
    print(f"   {'ratio service/raw':30}{ratio50:9.2f}{ratio99:9.2f}{ratio_mean:9.2f}")
    print(
        f"   {'ratio service/session SELECT':30}"
        f"{pct(r.service, 50) / pct(r.session_sql, 50):9.2f}"
        f"{pct(r.service, 99) / pct(r.session_sql, 99):9.2f}"
        f"{mean_ms(r.service) / mean_ms(r.session_sql):9.2f}"
    )
    print(
        f"   target ratio <= {TARGET_RATIO}: {'met' if ratio_ok else 'NOT MET'}; "
        f"target service p99 < {TARGET_P99_MS:g} ms: {'met' if p99_ok else 'NOT MET'}"
    )
    if r.breakdown:
        print(f"   breakdown ({len(next(iter(r.breakdown.values()))):,} lookups each):")
        for name, samples in r.breakdown.items():
            print(stats_line("  " + name, samples))


def table(results: list[Result]) -> None:
    print(
        "\n| backend | customers | service p50 | service p99 | raw p50 | raw p99 "
        "| ratio p50 | ratio p99 | ratio <= 1.5 | p99 < 5 ms | vs session SELECT p50/p99 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|:-:|:-:|---:|")
    for r in results:
        ratio50, ratio99, ratio_ok, p99_ok = verdict(r)
        print(
            f"| {r.backend} | {r.customers:,} | {pct(r.service, 50):.3f} ms "
            f"| {pct(r.service, 99):.3f} ms | {pct(r.raw, 50):.3f} ms | {pct(r.raw, 99):.3f} ms "
            f"| {ratio50:.2f} | {ratio99:.2f} | {'yes' if ratio_ok else 'no'} "
            f"| {'yes' if p99_ok else 'no'} "
            f"| {pct(r.service, 50) / pct(r.session_sql, 50):.2f} / "
            f"{pct(r.service, 99) / pct(r.session_sql, 99):.2f} |"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=20_000, help="timed lookups per side")
    parser.add_argument("--warmup", type=int, default=2_000, help="untimed lookups first")
    parser.add_argument("--miss-ratio", type=float, default=0.10)
    parser.add_argument("--block", type=int, default=100, help="lookups per alternating block")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--sqlite-path", help="default: <tmp>/callcenter_bench/crm_<N>.sqlite3")
    parser.add_argument("--postgres-url", default=DEFAULT_PG_URL)
    parser.add_argument(
        "--postgres-admin-url",
        default=DEFAULT_PG_ADMIN_URL,
        help="used only to CREATE DATABASE the bench database when it is missing",
    )
    parser.add_argument(
        "--breakdown", type=int, nargs="?", const=5_000, default=0, metavar="N",
        help="also time the pieces of a service lookup on N numbers (default 5000)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    if args.customers < 1 or args.lookups < 100:
        parser.error("need at least 1 customer and 100 lookups")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    n_miss = round((args.lookups + args.warmup) * args.miss_ratio) + 1
    data = make_dataset(args.customers, n_miss)
    print(
        f"crm_lookup: {args.customers:,} customers, {args.lookups:,} lookups per side "
        f"(+{args.warmup:,} warm-up), Python {sys.version.split()[0]}; "
        f"numbers generated in {time.perf_counter() - t0:.1f} s"
    )
    results = []
    for backend in args.backends:
        if backend == "postgresql":
            reason = postgres_ready(args.postgres_url, args.postgres_admin_url)
            if reason:
                print(f"\n== postgresql: skipped ({reason})")
                continue
            url = args.postgres_url
        else:
            url = sqlite_url(args.sqlite_path, args.customers)
        results.append(bench_backend(backend, url, args, data))
    if results:
        table(results)
    print(f"\ntotal {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
