"""Business hours and holidays: when a queue answers, in its own time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_core import acd
from crm_core.acd_schemas import QueueIn, QueueUpdate
from crm_core.errors import InvalidInput
from crm_core.hours import add_holiday, holidays_for, is_open, list_holidays, parse_hours
from crm_core.schemas import parse

NY = "America/New_York"
WEEK = parse_hours("mon-fri 09:00-20:00; sat 09:00-18:00")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_text_and_mapping_forms_agree():
    assert (
        parse_hours(
            dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), "09:00-20:00")
            | {"sat": "09:00-18:00"}
        )
        == WEEK
    )
    assert parse_hours("mon 08:00-12:00 13:00-17:00")["mon"] == [
        ["08:00", "12:00"],
        ["13:00", "17:00"],
    ]
    assert parse_hours("") == {} and parse_hours("sun 00:00-24:00")["sun"] == [["00:00", "24:00"]]


@pytest.mark.parametrize(
    "bad",
    ["mon-fri 9-5", "fri-mon 09:00-10:00", "mon 18:00-09:00", "someday 09:00-10:00", 7, {"x": 1}],
)
def test_bad_hours_name_the_problem(bad):
    with pytest.raises(InvalidInput) as error:
        parse_hours(bad)
    assert error.value.field == "hours"


def test_open_and_closed_in_the_queues_time_zone():
    # Monday 2026-01-05: 13:59 UTC is 08:59 in New York; 14:00 UTC is 09:00.
    assert not is_open(WEEK, NY, utc(2026, 1, 5, 13, 59)).open
    assert is_open(WEEK, NY, utc(2026, 1, 5, 14, 0)).open
    closed = is_open(WEEK, NY, utc(2026, 1, 6, 1, 30))  # Monday 20:30 in New York
    assert not closed.open and closed.next_open == datetime.fromisoformat("2026-01-06T09:00-05:00")
    sunday = is_open(WEEK, NY, utc(2026, 1, 11, 17, 0))
    assert not sunday.open and sunday.next_open.date() == date(2026, 1, 12)


def test_no_hours_is_always_open():
    assert is_open({}, NY, utc(2026, 1, 11, 8, 0)).open


def test_holidays_close_or_shorten_a_day():
    new_year = {date(2026, 1, 1): ("New Year's Day", None)}
    state = is_open(WEEK, NY, utc(2026, 1, 1, 16, 0), new_year)
    assert not state.open and state.holiday == "New Year's Day"
    assert state.next_open == datetime.fromisoformat("2026-01-02T09:00-05:00")
    eve = {date(2025, 12, 31): ("New Year's Eve", [["09:00", "14:00"]])}
    assert is_open(WEEK, NY, utc(2025, 12, 31, 18, 0), eve).open  # 13:00 local
    assert not is_open(WEEK, NY, utc(2025, 12, 31, 20, 0), eve).open  # 15:00 local
    assert is_open({}, NY, utc(2026, 1, 1, 16, 0), new_year).open  # roadside never closes


def test_queues_keep_hours_and_time_zone_and_holidays_are_per_queue(session, clock):
    sales = acd.create_queue(
        session,
        parse(QueueIn, {"name": "sales", "hours": "mon-fri 09:00-20:00", "time_zone": NY}),
        clock,
    )
    config = acd.queue_config(sales)
    assert config.hours["mon"] == [["09:00", "20:00"]] and config.time_zone == NY
    assert acd.QueueConfig.from_dict(config.to_dict()) == config
    acd.update_queue(session, "sales", parse(QueueUpdate, {"hours": "sat 10:00-16:00"}), clock)
    assert list(acd.queue_config(sales).hours) == ["sat"]
    add_holiday(session, date(2026, 12, 25), "Christmas Day")
    add_holiday(
        session, date(2026, 12, 24), "Christmas Eve", queue_id=sales.id, hours="09:00-13:00"
    )
    days = holidays_for(list_holidays(session), sales.id)
    assert days[date(2026, 12, 25)] == ("Christmas Day", None)
    assert days[date(2026, 12, 24)] == ("Christmas Eve", [["09:00", "13:00"]])
    with pytest.raises(InvalidInput) as error:
        parse(QueueUpdate, {"time_zone": "Mars/Olympus"})
    assert error.value.field == "time_zone"


def test_a_fresh_database_has_the_auto_attendants_queues(database_url):
    """Migration 0005 creates them (the test fixtures empty the tables afterwards, so this
    builds a database of its own)."""
    import tempfile

    from sqlalchemy import create_engine, text

    from migrations import upgrade

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/fresh.db"
        upgrade(url)
        engine = create_engine(url)
        with engine.connect() as connection:
            names = connection.execute(text("SELECT name FROM routing_queues")).scalars().all()
        engine.dispose()
    assert sorted(names) == ["operator", "payments", "roadside", "sales", "service"]


@given(st.text(max_size=60))
def test_any_text_is_hours_or_a_clear_error(text):
    try:
        hours = parse_hours(text)
    except InvalidInput as error:
        assert error.field == "hours" and error.message
    else:
        assert set(hours) <= {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}


def test_the_holiday_cache_reads_again_after_its_ttl_or_on_another_day(deps):
    from crm_core.hours import HolidayCache

    now = [0.0]
    cache = HolidayCache(deps.read_session_factory, ttl=5.0, monotonic=lambda: now[0])
    day = date(2026, 12, 24)
    assert cache(day) == []
    with deps.session_factory.begin() as s:
        add_holiday(s, date(2026, 12, 25), "Christmas Day")
        add_holiday(s, date(2027, 2, 1), "Far away")  # beyond the two weeks looked at
    now[0] = 4.9
    assert cache(day) == []  # within the ttl: what it had
    now[0] = 5.0
    assert [(h.day, h.name) for h in cache(day)] == [(date(2026, 12, 25), "Christmas Day")]
    with deps.session_factory.begin() as s:
        add_holiday(s, date(2026, 12, 31), "New Year's Eve", hours="09:00-13:00")
    assert len(cache(date(2026, 12, 25))) == 2  # another day: read now


@pytest.mark.parametrize("bad", [{"a": 1}, ["America/Detroit"], 5, "Mars/Olympus"])
def test_a_time_zone_that_is_not_one_is_named(bad):
    from crm_core.hours import parse_zone

    with pytest.raises(InvalidInput) as caught:
        parse_zone(bad)
    assert caught.value.field == "time_zone"
