"""Customer search takes the text literally: ``%``, ``_`` and ``\\`` are characters to find,
never LIKE wildcards, in every clause the search builds (a name or e-mail starting with the
text; "first last" as the first name and the start of the last name)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from crm_core import customers
from crm_core.models import Customer

# ASCII only: SQLite's lower() folds ASCII letters alone, and the oracle below is Python's.
WORD = st.text(alphabet="abB%_\\.", min_size=1, max_size=5)
TEXT = st.text(alphabet="abB%_\\. ", min_size=1, max_size=6)
NAMES = st.lists(st.tuples(WORD, WORD, WORD | st.none()), min_size=1, max_size=6)


def add(session, clock, first, last, email=None) -> int:
    now = clock.now()
    row = Customer(first_name=first, last_name=last, email=email, created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    return row.id


def literally(row: tuple[str | None, str | None, str | None], text: str) -> bool:
    """What the search promises, in plain Python: no wildcard anywhere."""
    text = text.strip().lower()
    first, last, email = ((v or "").lower() for v in row)
    starts = any(v and v.startswith(text) for v in (first, last, email))
    head, _, tail = text.partition(" ")
    return starts or bool(tail and first == head and last and last.startswith(tail))


def test_a_space_then_a_percent_is_not_a_wildcard(session, clock):
    add(session, clock, "Zed", "Beta")
    assert customers.search(session, "zed %ta") == []
    assert customers.search(session, "zed _eta") == []
    assert [c.last_name for c in customers.search(session, "zed be")] == ["Beta"]


def test_wildcards_and_the_escape_char_are_found_literally(session, clock):
    pct = add(session, clock, "100%", "Sure")
    under = add(session, clock, "a_b", "Under")
    slash = add(session, clock, "back\\slash", "Slash")
    add(session, clock, "abc", "Plain")
    assert [c.id for c in customers.search(session, "100%")] == [pct]
    assert [c.id for c in customers.search(session, "a_")] == [under]
    assert [c.id for c in customers.search(session, "back\\")] == [slash]
    assert [c.id for c in customers.search(session, "a_b und")] == [under]


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=NAMES, data=st.data())
def test_a_search_finds_exactly_the_rows_that_match_literally(session, clock, rows, data):
    session.execute(delete(Customer))
    ids = {add(session, clock, *row): row for row in rows}
    # A piece of a stored value, a first name and anything, or anything.
    pieces = [v[: data.draw(st.integers(1, len(v)))] for row in rows for v in row if v]
    firsts = st.sampled_from([row[0] for row in rows])
    text = data.draw(
        st.sampled_from(pieces) | st.builds(lambda f, t: f"{f} {t}", firsts, TEXT) | TEXT
    )
    if not text.strip():
        return
    found = {c.id for c in customers.search(session, text, limit=100)}
    assert found == {i for i, row in ids.items() if literally(row, text)}, text
    session.rollback()
