"""The watermark: timers fire only when every input partition has passed their time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.runtime.watermark import Watermark

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


def test_on_the_wall_clock_a_partition_behind_holds_the_watermark_at_what_it_has_read() -> None:
    mark = Watermark("wall")
    mark.assign(["a:0", "b:0"])
    mark.saw("a:0", T)
    mark.saw("b:0", T + 5 * H)
    behind = {"a:0"}
    assert mark.value(T + 10 * H, lambda p: p not in behind) == T
    behind.clear()
    assert mark.value(T + 10 * H, lambda p: p not in behind) == T + 10 * H


def test_on_the_wall_clock_a_partition_never_read_and_not_at_its_end_holds_everything() -> None:
    mark = Watermark("wall")
    mark.assign(["a:0", "b:0"])
    mark.saw("a:0", T)
    assert mark.value(T + H, lambda p: p == "a:0") is None
    assert mark.value(T + H, lambda p: True) == T + H


def test_on_the_message_clock_the_watermark_is_the_earliest_partition_time() -> None:
    mark = Watermark("message")
    mark.assign(["a:0", "b:0", "c:0"])
    assert mark.value(T, lambda p: True) is None
    mark.saw("a:0", T + 3 * H)
    mark.saw("b:0", T + H)
    mark.saw("b:0", T)  # an earlier time never moves a partition back
    assert mark.value(T + 100 * H, lambda p: True) == T + H  # c:0 never carried a record


def test_after_a_restart_a_partition_read_before_holds_until_it_is_read_again() -> None:
    mark = Watermark("message")
    mark.assign(["a:0", "b:0"], previously_read=["a:0", "b:0"])
    mark.saw("a:0", T)
    assert mark.value(T, lambda p: True) is None
    mark.saw("b:0", T + H)
    assert mark.value(T, lambda p: True) == T
