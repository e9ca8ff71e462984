"""bench/e2e_pipeline.py's pure parts: late replies grouped into the stalls that made them late."""

from __future__ import annotations

from bench.e2e_pipeline import RunFigures, late_bursts


def _figures(pairs: dict[str, list[tuple[float, float]]]) -> RunFigures:
    return RunFigures("product", 0, 0, 0, 0, 0, [], 0.0, 0.0, matched=pairs)


def test_late_replies_posted_close_together_are_one_burst_and_on_time_ones_split_nothing() -> None:
    pairs = {
        "a": [(100.0, 100.009), (128.36, 128.50), (128.40, 128.52)],  # on time; then two late in one stall
        "b": [(128.45, 128.46), (128.60, 128.75)],  # on time inside the stall; late 0.2 s after the last late one
        "c": [(130.0, 130.09), (140.0, 140.02)],  # late 1.4 s later: another stall; then on time
    }
    assert late_bursts(_figures(pairs)) == [
        {"at_s": 28.36, "replies": 3, "max_ms": 150.0},
        {"at_s": 30.0, "replies": 1, "max_ms": 90.0},
    ]


def test_a_run_with_every_reply_on_time_or_none_at_all_has_no_burst() -> None:
    assert late_bursts(_figures({"a": [(1.0, 1.01), (2.0, 2.03)]})) == []
    assert late_bursts(_figures({})) == []
