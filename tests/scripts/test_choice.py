"""scripts/choice.py: the one rule for which script an agent reads on a call (the desk and
the QA page both ask it)."""

from __future__ import annotations

import shutil

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_core.models import CallDirection
from scripts import BUNDLED, Library
from scripts.choice import agent_script, is_outbound
from tests.scripts.files import write


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """The bundled scripts plus a manager's inbound_sales.yaml (the inbound one renamed)."""
    directory = tmp_path_factory.mktemp("library")
    for path in BUNDLED.glob("*.yaml"):
        shutil.copy(path, directory / path.name)
    text = (BUNDLED / "inbound.yaml").read_text(encoding="utf-8")
    write(
        directory / "inbound_sales.yaml", text.replace("name: inbound\n", "name: inbound_sales\n")
    )
    return Library(directory)


DIRECTIONS = st.sampled_from([None, *CallDirection, *(d.value for d in CallDirection)])
QUEUES = st.one_of(st.none(), st.sampled_from(["sales", "service"]), st.text(max_size=12))


@given(direction=DIRECTIONS, queue=QUEUES, callback=st.booleans())
def test_the_script_follows_the_calls_direction_and_queue(library, direction, queue, callback):
    name, why = agent_script(library, direction=direction, queue=queue, callback=callback)
    value = getattr(direction, "value", direction)
    if callback or value not in (None, "inbound") or (value is None and not queue):
        assert name == "outbound_sales"
    elif queue == "sales":
        assert name == "inbound_sales"  # the queue's own script wins
    else:
        assert name == "inbound"  # never the outbound pitch for a caller who rang us
    assert why


def test_an_inbound_call_without_an_inbound_script_reads_the_pitch(tmp_path):
    for name in ("outbound_sales", "elevator_pitch"):
        shutil.copy(BUNDLED / f"{name}.yaml", tmp_path / f"{name}.yaml")
    name, why = agent_script(Library(tmp_path), direction="inbound", queue="sales")
    assert name == "elevator_pitch" and "no inbound_sales or inbound script" in why


def test_outbound_is_any_direction_but_inbound_or_a_callback():
    assert not is_outbound(CallDirection.INBOUND) and not is_outbound("inbound")
    assert is_outbound(CallDirection.OUTBOUND_DIAL) and is_outbound("outbound-api")
    assert is_outbound("inbound", callback=True)
    assert not is_outbound(None)
