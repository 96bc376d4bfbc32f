"""`dlq list`'s error column (#30 item 11): a cut is never silent."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from skipcall_bridge.cli.dead_letters import shortened


@given(st.text(max_size=200), st.integers(min_value=2, max_value=120))
def test_a_cut_error_ends_in_an_ellipsis_and_a_whole_one_is_as_it_is(text: str, width: int) -> None:
    shown = shortened(text, width)
    assert len(shown) <= width
    if len(text) <= width:
        assert shown == text
    else:
        assert shown == text[: width - 1] + "…"
