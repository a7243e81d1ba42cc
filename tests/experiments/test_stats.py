"""The experiment's statistics, paired comparison and channel analysis on hand-computed inputs."""

from __future__ import annotations

import doctest
import importlib
import json
import math

import pytest
import torch

from video_r1.experiments.channel import channel_fractions, group_channel, run_channel
from video_r1.experiments.stats import (
    Interval,
    Summary,
    familywise_level,
    paired_differences,
    pool,
    pooled,
    seeds_for_half_width,
    sign_flip_test,
    sign_test,
    summarise,
    t_interval,
    t_quantile,
    wilcoxon_test,
)
from video_r1.experiments.temporal_curves import (
    ACCURACY,
    flatness_line,
    flatness_verdict,
    last_window_rise,
)
from video_r1.experiments.temporal_paired import (
    MEASURES,
    POOLED,
    load_earlier,
    paired_rows,
    paired_table,
    verdict,
    with_earlier,
)


def test_t_quantiles_match_the_tables():
    # Student t, 97.5% quantile: df 1 12.706, df 7 2.365 (8 seeds), df 30 2.042, df -> inf 1.96
    assert t_quantile(1) == pytest.approx(12.7062, abs=1e-4)
    assert t_quantile(7) == pytest.approx(2.3646, abs=1e-4)
    assert t_quantile(30) == pytest.approx(2.0423, abs=1e-4)
    assert t_quantile(35) == pytest.approx(2.0301, abs=1e-4)
    assert t_quantile(10_000) == pytest.approx(1.9602, abs=1e-4)
    # other levels (the tables' 99.5% quantile is the two-sided 99% one): df 7 3.4995, df 30
    # 2.7500; 99.9% two-sided, df 10: 4.5869
    assert t_quantile(7, 0.99) == pytest.approx(3.4995, abs=1e-4)
    assert t_quantile(30, 0.99) == pytest.approx(2.7500, abs=1e-4)
    assert t_quantile(10, 0.999) == pytest.approx(4.5869, abs=1e-4)
    with pytest.raises(ValueError, match="at least 2 values"):
        t_quantile(0)
    with pytest.raises(ValueError, match="between 0 and 1, got 1.0"):
        t_quantile(7, 1.0)


def test_familywise_level_is_bonferroni():
    # margin's sixth look at 900 steps, two variants compared there: 12 comparisons
    assert familywise_level(12) == pytest.approx(1 - 0.05 / 12)
    assert familywise_level(10) == pytest.approx(0.995) and familywise_level(1) == 0.95
    assert familywise_level(2, level=0.9) == pytest.approx(0.95)
    with pytest.raises(ValueError, match="at least 1, got 0"):
        familywise_level(0)
    # a wider interval of the same values: 8 differences, df 7, 99.5% two-sided t 4.0293
    diffs = [0.10, 0.05, 0.00, 0.15, 0.10, 0.05, 0.10, 0.05]
    wide = t_interval(diffs, familywise_level(10))
    assert wide.mean == pytest.approx(0.075)
    assert wide.half_width == pytest.approx(4.0293 * math.sqrt(0.015 / 7) / math.sqrt(8), abs=1e-4)


def _exact_sign_flip(values):
    """Every sign pattern, counted by hand: the share whose |mean| reaches the observed one."""
    import itertools

    observed, hits = abs(sum(values) / len(values)), 0
    for signs in itertools.product((1, -1), repeat=len(values)):
        hits += (
            abs(sum(s * v for s, v in zip(signs, values, strict=True)) / len(values))
            >= observed - 1e-12
        )
    return hits / 2 ** len(values)


def test_sign_flip_test_counts_sign_patterns():
    # 3 differences, 8 patterns: only all-plus and all-minus reach |mean| 0.2
    assert sign_flip_test([0.1, 0.2, 0.3]) == pytest.approx(0.25)
    assert sign_flip_test([0.1, -0.1]) == 1.0  # mean 0: every pattern reaches it
    assert sign_flip_test([0.0, 0.0, 0.0]) == 1.0
    # exact up to 17 values (2^17 patterns <= the resamples)
    diffs = [0.10, 0.05, 0.00, 0.15, 0.10, 0.05, 0.10, -0.05, 0.3, -0.2]
    assert sign_flip_test(diffs) == pytest.approx(_exact_sign_flip(diffs))
    # 18 values: random patterns from a fixed seed, close to the exact share, reproducible
    many = [0.04, -0.02, 0.11, 0.0, 0.07, -0.05, 0.09, 0.02, -0.08, 0.13, 0.05, -0.01, 0.06,
            0.03, -0.04, 0.1, 0.01, -0.06]  # fmt: skip
    exact = _exact_sign_flip(many)
    assert 0.01 < exact < 0.5 and sign_flip_test(many) == pytest.approx(exact, abs=0.003)
    assert sign_flip_test(many) == sign_flip_test(many)
    with pytest.raises(ValueError, match="at least 2 values"):
        sign_flip_test([0.1])


def test_wilcoxon_test_by_hand():
    # ranks of |d|: 0.05 -> 1, 0.1 -> 2, 0.2 -> 3, 0.3 -> 4, 0.4 -> 5; the one negative has
    # rank 1, so W- = 1; subsets of {1..5} summing to <= 1: {} and {1}: p = 2 x 2 / 32
    assert wilcoxon_test([0.1, 0.2, -0.05, 0.3, 0.4]) == pytest.approx(0.125)
    assert wilcoxon_test([0.1, 0.2, 0.3, 0.4]) == pytest.approx(0.125)  # 2 x 1 / 16
    assert wilcoxon_test([-0.1, -0.2, -0.3, -0.4]) == pytest.approx(0.125)
    assert wilcoxon_test([0.0, 0.0]) == 1.0
    with pytest.raises(ValueError, match="at least 2 values"):
        wilcoxon_test([0.1])


def test_t_interval_by_hand():
    # 8 paired differences (points/100): 0.10, 0.05, 0.00, 0.15, 0.10, 0.05, 0.10, 0.05
    diffs = [0.10, 0.05, 0.00, 0.15, 0.10, 0.05, 0.10, 0.05]
    # mean 0.6 / 8 = 0.075; squared deviations: .000625 .000625 .005625 .005625 .000625
    #   .000625 .000625 .000625 = .015 -> sd sqrt(.015 / 7) = 0.046291
    # half-width 2.3646 x 0.046291 / sqrt(8) = 0.038700
    interval = t_interval(diffs)
    assert interval.mean == pytest.approx(0.075)
    assert interval.half_width == pytest.approx(2.3646 * math.sqrt(0.015 / 7) / math.sqrt(8))
    assert interval.half_width == pytest.approx(0.0387, abs=1e-4)
    assert interval.low == pytest.approx(0.0363, abs=1e-4) and interval.excludes_zero
    assert interval.n == 8
    with pytest.raises(ValueError, match="at least 2"):
        t_interval([0.1])


def test_paired_differences_and_pooling():
    # seeds 0 and 2 in both: 0.7 - 0.5 = 0.2, 0.4 - 0.6 = -0.2; seed 1 unpaired is dropped
    assert paired_differences({0: 0.7, 1: 0.9, 2: 0.4}, {0: 0.5, 2: 0.6}) == [0.2, -0.2]
    assert pooled({"a": 0.5, "b": 1.0, "c": 0.0}, ["a", "b"]) == 0.75
    assert pooled({"a": 0.5}, ["a", "b"]) is None


def test_pooled_summaries_give_the_interval_of_all_values():
    # seeds run in two sessions: 6 differences, then 5 more with another mean and spread
    first = [0.02, -0.05, 0.10, 0.00, 0.04, -0.01]
    second = [0.12, 0.08, -0.02, 0.15, 0.09]
    both = t_interval(first + second)
    pooled_interval = pool([summarise(first), summarise(second)])
    assert pooled_interval.n == 11
    assert pooled_interval.mean == pytest.approx(both.mean, abs=1e-12)
    assert pooled_interval.half_width == pytest.approx(both.half_width, abs=1e-12)
    # by hand: sum 0.10 + 0.42 = 0.52 over 11; the means differ, so the pooled sd exceeds both
    assert pooled_interval.mean == pytest.approx(0.52 / 11)
    assert summarise(first).sd < summarise(first + second).sd
    # three parts, order free
    three = pool([summarise(second), summarise(first[:3]), summarise(first[3:])])
    assert three.half_width == pytest.approx(both.half_width, abs=1e-12)
    with pytest.raises(ValueError, match="at least 2"):
        summarise([0.1])
    with pytest.raises(ValueError, match="at least 2"):
        pool([Summary(n=1, mean=0.0, sd=0.0)])


def _earlier(tmp_path, name, rows, base_sft="b1", steps=None):
    path = tmp_path / name
    path.write_text(json.dumps({"base_sft": base_sft, "steps": steps, "paired": rows}))
    return path


def test_sign_test_is_the_exact_binomial_tail():
    assert sign_test(5, 1) == pytest.approx(2 * (1 + 6) / 64)
    assert sign_test(1, 5) == sign_test(5, 1)
    assert sign_test(4, 0) == 0.125  # 4 seeds lost, none won: the smallest p 4 pairs allow
    assert sign_test(10, 10) == 1.0 and sign_test(0, 0) == 1.0
    assert sign_test(9, 1) == pytest.approx(2 * 11 / 1024)


def test_earlier_reports_pool_with_this_one_by_seed(tmp_path):
    now = [{"variant": "margin", "task": POOLED, "measure": "ordered", "seeds": [44, 45, 46],
            "differences": [0.05, -0.02, 0.03], "interval": t_interval([0.05, -0.02, 0.03])}]  # fmt: skip
    first = _earlier(tmp_path, "first.json", [
        {"variant": "margin", "task": POOLED, "measure": "ordered", "seeds": [10, 11],
         "differences": [0.10, 0.00]},
        {"variant": "margin", "task": "reverse", "measure": "ordered", "seeds": [10, 11],
         "differences": [0.5, -0.5]},
    ])  # fmt: skip
    second = _earlier(tmp_path, "second.json", [
        {"variant": "margin", "task": POOLED, "measure": "ordered", "seeds": [0, 1, 2, 3],
         "differences": [0.01, 0.02, -0.03, 0.0]},
    ])  # fmt: skip
    rows = with_earlier(now, {p: load_earlier(p, "b1") for p in (first, second)})
    by_key = {(r["task"], r["measure"]): r for r in rows}
    pooled_row = by_key[(POOLED, "ordered")]
    all_values = [0.05, -0.02, 0.03, 0.10, 0.00, 0.01, 0.02, -0.03, 0.0]
    assert pooled_row["seeds"] == [0, 1, 2, 3, 10, 11, 44, 45, 46]
    assert pooled_row["interval"].n == 9
    assert pooled_row["interval"].mean == pytest.approx(t_interval(all_values).mean, abs=1e-12)
    assert pooled_row["interval"].half_width == pytest.approx(
        t_interval(all_values).half_width, abs=1e-12
    )
    assert pooled_row["sources"][0] == "this report: 3 seeds"
    # a row only an earlier report has is kept, over its own seeds
    assert by_key[("reverse", "ordered")]["interval"].n == 2
    assert "| margin | (order-dependent, pooled) |" in paired_table(rows)
    # a seed in two parts is refused, naming both
    again = _earlier(tmp_path, "again.json", [
        {"variant": "margin", "task": POOLED, "measure": "ordered", "seeds": [10, 12],
         "differences": [0.1, 0.2]},
    ])  # fmt: skip
    with pytest.raises(ValueError, match=r"seeds \[10\] are in both .*first.json and .*again"):
        with_earlier(now, {p: load_earlier(p) for p in (first, again)})
    # the sign counts pool too: 9 differences, 5 above 0, 2 below (0.05, 0.03, 0.10, 0.01,
    # 0.02 / -0.02, -0.03), 2 ties
    assert (pooled_row["interval"].won, pooled_row["interval"].lost) == (5, 2)
    # runs of another length are not pooled with these
    with pytest.raises(ValueError, match="first.json: its runs made 300 RL steps, these 900"):
        load_earlier(_earlier(tmp_path, "first.json", [], steps=300), "b1", steps=900)
    # runs from another SFT checkpoint, or one not recorded, are not pooled
    with pytest.raises(ValueError, match="second.json: .*checkpoint b1, these from b2") as e:
        load_earlier(second, "b2")
    # ... and the message says how to start from the earlier runs' base on another machine
    kernels = torch.backends.cpu.get_cpu_capability()
    assert f"CPU kernels (this process: {kernels})" in str(e.value)
    assert "--base-sft" in str(e.value)
    assert "ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2" in str(e.value)
    unknown = _earlier(tmp_path, "unknown.json", [], base_sft=None)
    with pytest.raises(ValueError, match=r"\(not recorded\), these from b1"):
        load_earlier(unknown, "b1")
    # malformed files name the file and the row
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "other.json").write_text(json.dumps({"results": {}}))
    for name in ("bad.json", "other.json", "missing.json"):
        with pytest.raises(ValueError, match=f"{name}: not a results.json with paired rows"):
            load_earlier(tmp_path / name)
    with pytest.raises(ValueError, match="rows.json: paired row 0"):
        load_earlier(_earlier(tmp_path, "rows.json", [{"variant": "margin", "seeds": [1]}]))
    with pytest.raises(ValueError, match="3 differences for 2 seeds"):
        load_earlier(_earlier(tmp_path, "count.json", [
            {"variant": "m", "task": "t", "measure": "ordered", "seeds": [1, 2],
             "differences": [0.1, 0.2, 0.3]},
        ]))  # fmt: skip


def run(ordered: dict[str, float], gap: dict[str, float]) -> dict:
    return {t: {"ordered": ordered[t], "shuffled": ordered[t] - gap[t], "gap": gap[t]}
            for t in ordered}  # fmt: skip


def test_paired_rows_per_task_and_pooled_by_hand():
    runs = {
        "grpo": {0: run({"a": 0.5, "b": 0.7}, {"a": 0.1, "b": 0.0}),
                 1: run({"a": 0.6, "b": 0.6}, {"a": 0.0, "b": 0.1})},
        "after_norm": {0: run({"a": 0.7, "b": 0.7}, {"a": 0.2, "b": 0.1}),
                       1: run({"a": 0.7, "b": 0.8}, {"a": 0.2, "b": 0.1})},
    }  # fmt: skip
    rows = {(r["task"], r["measure"]): r for r in paired_rows(runs, ["a", "b"])}
    # task a, ordered: seed 0 0.7 - 0.5 = 0.2, seed 1 0.7 - 0.6 = 0.1
    assert rows[("a", "ordered")]["differences"] == [0.2, 0.1]
    # pooled ordered: seed 0 (0.7 + 0.7) / 2 - (0.5 + 0.7) / 2 = 0.1; seed 1 0.75 - 0.6 = 0.15
    pooled_ordered = rows[(POOLED, "ordered")]
    assert pooled_ordered["differences"] == pytest.approx([0.1, 0.15])
    # mean 0.125, sd sqrt(2 x 0.025^2 / 1) = 0.035355, half 12.7062 x 0.035355 / sqrt(2) = 0.3177
    assert pooled_ordered["interval"].mean == pytest.approx(0.125)
    assert pooled_ordered["interval"].half_width == pytest.approx(0.31766, abs=1e-4)
    # pooled gap: seed 0 0.15 - 0.05 = 0.1; seed 1 0.15 - 0.05 = 0.1: sd 0, interval [0.1, 0.1]
    assert rows[(POOLED, "gap")]["interval"].low == pytest.approx(0.1)
    table = paired_table(list(rows.values()))
    # 2 of 2 seeds won: sign p 2 / 4; sign-flip: (+,+) and (-,-) reach |mean| of 4 patterns;
    # Wilcoxon, n 2, no negative rank: 2 x 1 / 4
    assert (f"| after_norm | {POOLED} | +12.5 [-19.3, +44.3] | +10.0 [+10.0, +10.0] | 2 | "
            "2 / 0 (0.500) | 0.500, 0.500 |") in table  # fmt: skip
    assert "- after_norm: inconclusive: +12.5 points, half-width 31.8" in table
    assert paired_rows({"after_norm": runs["after_norm"]}, ["a"]) == []  # no GRPO to pair with


def test_verdicts():
    gap_wider = Interval(0.03, 0.01, 0.05, 8)
    assert verdict(Interval(0.06, 0.01, 0.11, 8), gap_wider).startswith("beats GRPO: +6.0 points")
    # the goal is +5 points with an interval excluding 0 *and* a wider gap
    assert verdict(Interval(0.06, 0.01, 0.11, 8), None).endswith(
        "gap is not shown wider: not the goal"
    )
    # +4 points, half-width 1.5, excluding 0: narrow, but a measured (small) effect, no null
    assert verdict(Interval(0.04, 0.025, 0.055, 8), None) == (
        "better than GRPO, below the +5 goal: +4.0 [+2.5, +5.5] points, half-width 1.5, "
        "interval excludes 0 (+5 neither shown nor ruled out)"
    )
    # wide but away from 0 (the 900-step `margin`, 24 seeds): an effect, not "inconclusive"
    assert verdict(Interval(0.047, 0.005, 0.090, 24), None) == (
        "better than GRPO, below the +5 goal: +4.7 [+0.5, +9.0] points, half-width 4.2, "
        "interval excludes 0 (+5 neither shown nor ruled out)"
    )
    assert verdict(Interval(0.03, 0.01, 0.045, 24), None).endswith("(+5 ruled out)")
    assert verdict(Interval(-0.06, -0.11, -0.01, 8), None) == (
        "worse than GRPO: -6.0 [-11.0, -1.0] points, half-width 5.0, interval excludes 0"
    )
    assert verdict(Interval(0.004, -0.011, 0.019, 8), None).startswith("powered null: +0.4")
    # near the null's 2 points the half-width shows the side it is on (900 steps, 100 seeds:
    # 2.02 was printed "half-width 2.0 (> 2)")
    assert verdict(Interval(0.005, 0.005 - 0.0202, 0.005 + 0.0202, 100), None).startswith(
        "inconclusive: +0.5 points, half-width 2.02 (> 2"
    )
    assert verdict(Interval(0.005, 0.005 - 0.0196, 0.005 + 0.0196, 100), None) == (
        "powered null: +0.5 points, half-width 1.96 <= 2"
    )
    assert verdict(Interval(0.0, -0.03, 0.03, 8), None).startswith("inconclusive")
    # half-width 3 points over 8 seeds: sd 3 x sqrt(8) / 2.3646 = 3.59 points; 15 seeds give
    # 2.1448 x 3.59 / sqrt(15) = 1.99 <= 2, 14 give 2.1604 x 3.59 / sqrt(14) = 2.07
    assert verdict(Interval(0.0, -0.03, 0.03, 8), None).endswith(
        "at this spread a half-width of 2 needs about 15 seeds"
    )


def _pooled_rows(diffs):
    return [{"variant": "margin", "task": POOLED, "measure": measure, "seeds": list(range(8)),
             "differences": diffs, "interval": t_interval(diffs)} for measure in MEASURES]  # fmt: skip


def test_a_familywise_interval_decides_the_verdict():
    # 8 seeds, mean +6 points, sd 6: the 95% interval excludes 0 (half-width 2.3646 x 6 /
    # sqrt(8) = 5.0), the 99.5% one does not (4.0293 x 6 / sqrt(8) = 8.5)
    diffs = [0.06 + 0.06 * v for v in _unit_spread(8)]
    rows = _pooled_rows(diffs)
    assert rows[0]["interval"].low > 0
    plain = paired_table(rows)
    assert "- margin: beats GRPO: +6.0 points, interval excludes 0, gap wider" in plain
    assert "comparisons)" not in plain
    table = paired_table(rows, comparisons=10)
    wide = t_interval(diffs, 0.995)
    assert wide.low == pytest.approx(0.06 - 4.0293 * 0.06 / math.sqrt(8), abs=1e-4) and wide.low < 0
    cell = f"{100 * wide.mean:+.1f} [{100 * wide.low:+.1f}, {100 * wide.high:+.1f}]"
    assert "| ordered, 99.50% (10 comparisons) |" in table and f"| {cell} |" in table
    assert (f"- margin: inconclusive: +6.0 points, half-width 5.0 (> 2), familywise "
            f"[{100 * wide.low:+.1f}, {100 * wide.high:+.1f}] holds 0") in table  # fmt: skip
    assert "all 10 comparisons hold together at 95% (Bonferroni)" in table
    # +10 points, sd 3: 0 stays outside the 99.5% interval too, and the effect stands
    strong = [0.10 + 0.03 * v for v in _unit_spread(8)]
    assert "- margin: beats GRPO: +10.0 points, familywise [+5.7, +14.3] excludes 0, gap wider" in (
        paired_table(_pooled_rows(strong), comparisons=10)
    )


@pytest.mark.parametrize("sd, n", [(0.01, 3), (0.05, 8), (0.128, 8), (0.3, 40)])
def test_seeds_for_half_width_is_the_smallest_count_that_reaches_the_target(sd, n):
    interval = t_interval([sd * v for v in _unit_spread(n)])  # n values of sample sd `sd`
    assert interval.half_width == pytest.approx(t_quantile(n - 1) * sd / math.sqrt(n))
    needed = seeds_for_half_width(interval, 0.02)
    assert t_interval([sd * v for v in _unit_spread(needed)]).half_width <= 0.02 + 1e-12
    if needed > 2:
        assert t_interval([sd * v for v in _unit_spread(needed - 1)]).half_width > 0.02
    with pytest.raises(ValueError, match="positive"):
        seeds_for_half_width(interval, 0.0)


def _unit_spread(n: int) -> list[float]:
    """n evenly spaced values with mean 0 and sample standard deviation 1."""
    centred = [i - (n - 1) / 2 for i in range(n)]
    sd = math.sqrt(sum(v * v for v in centred) / (n - 1))
    return [v / sd for v in centred]


def group(acc, fmt, length_bonus, bonus):
    """rollouts.jsonl rows of one group's ordered rollouts (total = sum of the parts)."""
    rows = zip(acc, fmt, length_bonus, bonus, strict=True)
    return [{"terms": {"accuracy": a, "format": f}, "length_bonus": lb, "temporal_bonus": b,
             "total": a + f + lb + b} for a, f, lb, b in rows]  # fmt: skip


def _rows(*accuracies):
    return [{ACCURACY: a, "train/loss": 0.0} for a in accuracies]


def test_last_window_rise_by_hand():
    # 3 windows of 2 steps; the last two windows: seed 0 0.5 -> 0.6 (+10), seed 1 0.5 -> 0.5 (0),
    # seed 2 0.6 -> 0.8 (+20): mean +10, sd 10, half-width 4.3027 x 10 / sqrt(3)
    runs = [_rows(0.1, 0.1, 0.5, 0.5, 0.6, 0.6), _rows(0.2, 0.2, 0.5, 0.5, 0.5, 0.5),
            _rows(0.0, 0.0, 0.6, 0.6, 0.8, 0.8)]  # fmt: skip
    rise = last_window_rise(runs, windows=3)
    assert rise.n == 3 and rise.mean == pytest.approx(10.0)
    assert rise.half_width == pytest.approx(4.3027 * 10 / math.sqrt(3), abs=1e-3)
    assert flatness_verdict(rise) == "undetermined"  # [-14.8, +34.8]: neither
    # a row without the key (an evaluation-only log line) is skipped, not read as 0
    runs[0].insert(3, {"train/loss": 1.0})
    assert last_window_rise(runs, windows=3).mean == pytest.approx(10.0)
    # one seed, or one window: no interval, no verdict
    assert last_window_rise(runs[:1], windows=3) is None
    assert last_window_rise(runs, windows=1) is None
    assert "too few seeds" in flatness_line("grpo", None)


def test_flatness_verdicts():
    assert flatness_verdict(Interval(0.2, -0.8, 1.0, 20)) == "flat"
    assert flatness_verdict(Interval(0.2, -0.8, 1.2, 20)) == "undetermined"
    assert flatness_verdict(Interval(2.0, 0.1, 3.9, 18)) == "still rising"
    assert flatness_verdict(Interval(-2.0, -3.9, -0.1, 18)) == "falling"
    assert flatness_verdict(None) == "unknown"
    line = flatness_line("grpo", Interval(2.0, 0.1, 3.9, 18))
    assert "+2.0 [+0.1, +3.9]" in line and "**still rising**" in line and "18 seeds" in line


def test_channel_of_groups_by_hand():
    # equal format and length, bonus on the correct ones: the bonus cancels
    c = group_channel(group([1, 0, 1, 0], [1, 1, 1, 1], [0, 0, 0, 0], [0.3, 0, 0.3, 0]))
    assert c == {"groups": True, "varying_terms": False, "varying_length": False,
                 "varying_any": False, "bonus_groups": True, "bonus_effective": False}  # fmt: skip
    # format varies: advantages [1.2247, 0, 0, -1.2247] vs [1.2145, -0.1584, 0.1584, -1.2145]
    c = group_channel(group([1, 0, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0.3, 0, 0.3, 0]))
    assert c["varying_terms"] and c["bonus_effective"]
    # length bonus varies, no temporal bonus (a failing group): a channel, but nothing to act
    c = group_channel(group([1, 0, 1, 0], [1, 1, 1, 1], [0.2, 0, 0, 0], [0, 0, 0, 0]))
    assert c["varying_length"] and c["varying_any"] and not c["bonus_groups"]


def test_run_channel_reads_rollouts_jsonl(tmp_path):
    rows = []
    # with 2 rollouts any reward is two-valued, so the bonus always cancels: 3 per group
    for pid, fmt in (("p0", [1, 1, 1]), ("p1", [1, 1, 0])):
        for r in group([1, 0, 0], fmt, [0, 0, 0], [0.3, 0, 0]):
            rows.append({"step": 1, "rank": 0, "problem_id": pid, "order": "ordered", **r})
        rows.append({"step": 1, "rank": 0, "problem_id": pid, "order": "shuffled", "accuracy": 0})
    (tmp_path / "rollouts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    counts = run_channel(tmp_path)
    # p0: equal format, bonus cancels; p1: rewards [2, 1, 0] -> [2.3, 1, 0], three values: acts
    assert counts == {"groups": 2, "varying_terms": 1, "varying_length": 0, "varying_any": 1,
                      "bonus_groups": 2, "bonus_effective": 1}  # fmt: skip
    fractions = channel_fractions([counts, counts])
    assert fractions["varying_any"] == 0.5 and fractions["bonus_effective"] == 0.5
    # a Dr. GRPO run (its saved config says so): the bonus scales both groups by 1.3
    (tmp_path / "final").mkdir()
    (tmp_path / "final" / "config.yaml").write_text("rl:\n  scale_rewards: none\n")
    assert run_channel(tmp_path)["bonus_effective"] == 2
    assert run_channel(tmp_path / "missing") is None


@pytest.mark.parametrize(
    "name",
    ["video_r1.experiments.stats", "video_r1.experiments.channel",
     "video_r1.experiments.temporal_paired", "video_r1.experiments.temporal_curves",
     "video_r1.experiments.temporal_report"],
)  # fmt: skip
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0
