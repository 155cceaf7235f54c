from __future__ import annotations

from tests.bench.compare import compare_lines, flatten


def test_flatten_keeps_numeric_leaves_by_dotted_path_and_drops_the_rest() -> None:
    results = {"machine": "x86_64", "a": 10, "d": {"ours": {"us": 2.5}, "ok": True}}
    assert flatten(results) == {"a": 10.0, "d.ours.us": 2.5}


def test_compare_puts_before_and_after_on_one_line_with_their_ratio() -> None:
    [_, line] = compare_lines({"a_decode_frames_per_s": 500_000}, {"a_decode_frames_per_s": 1e6})
    assert line.split() == ["a_decode_frames_per_s", "500,000", "1,000,000", "2.00x"]


def test_a_figure_in_one_file_only_shows_a_dash_for_the_other() -> None:
    lines = compare_lines({"gone": 1.0}, {"new": 2.0})
    assert lines[1].split() == ["new", "-", "2.00", "-"]
    assert lines[2].split() == ["gone", "1.00", "-", "-"]


def test_times_are_marked_lower_is_better() -> None:
    [_, line] = compare_lines({"c.median_us": 4.0}, {"c.median_us": 2.0})
    assert line.endswith("0.50x (lower is better)")
