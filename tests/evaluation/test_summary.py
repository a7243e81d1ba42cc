"""Pure parts of evaluation: scoring, summaries, the drop table, answer judging, resume file."""

from __future__ import annotations

import pytest

from video_r1.evaluation.annotate import judge_answers, think_block
from video_r1.evaluation.answering import frame_order_indices
from video_r1.evaluation.results import drop_partial_last_line, read_results, sample_key
from video_r1.evaluation.settings import EvalSettings
from video_r1.evaluation.summary import (
    order_drop_table,
    score_output,
    summarize_lines,
    summarize_run,
    vsibench_scores,
)


def _line(task, problem_type, published, official=None, order="ordered", pid=0, error=None,
          category=None, benchmark="b.json"):  # fmt: skip
    score = None if error else {"published": published, "official": official or published}
    return {"benchmark": benchmark, "problem_id": pid, "task": task, "category": category,
            "problem_type": problem_type, "data_type": "video", "frame_order": order,
            "score": score, "correct": None if error else published >= 1,
            "error": error}  # fmt: skip


def test_score_output_both_semantics() -> None:
    got = score_output("<think>x</think><answer>b.</answer>", "B", "multiple choice")
    assert got == {"answer": "b.", "score": {"published": 0.0, "official": 1.0}, "correct": False}
    # regression 8 vs 10: error 0.2 < 1 - t for t = 0.50..0.75 -> 6 of 10 thresholds
    assert score_output("<answer>8</answer>", "10", "regression")["score"]["published"] == 0.6


def test_summary_counts_failed_apart_and_means_by_type_and_task() -> None:
    lines = [
        _line("t1", "multiple choice", 1.0, pid=1),
        _line("t1", "multiple choice", 0.0, pid=2),
        _line("t2", "regression", 0.6, 0.7, pid=3),
        _line("t2", "regression", 0.0, error="MediaError: x.mp4: truncated", pid=4),
    ]
    s = summarize_lines(lines, vsibench=True)
    assert (s["n"], s["failed"], s["scored"], s["correct"]) == (4, 1, 3, 1)
    assert s["score"]["published"] == pytest.approx((1 + 0 + 0.6) / 3)
    assert s["by_type"]["multiple choice"] == {
        "metric": "accuracy", "n": 2, "published": 0.5, "official": 0.5
    }  # fmt: skip
    assert s["by_type"]["regression"]["metric"] == "MRA"
    assert s["by_task"]["t2"] == {"n": 2, "failed": 1, "published": 0.6, "official": 0.7}
    # VSI-Bench as Video-R1 reports it: (mc accuracy 0.5 + MRA 0.6) / 2; the lines carry no
    # question_type, so the official overall (a mean over question types) is not a number
    assert s["vsibench"]["published"] == pytest.approx(0.55)
    assert s["vsibench"]["official"] is None
    assert "no question_type" in s["vsibench"]["official_missing"]
    only_mc = vsibench_scores({"multiple choice": s["by_type"]["multiple choice"]}, lines[:2])
    assert only_mc["published"] is None


def _vsi_lines() -> list[dict]:
    """10 counting questions (8 right), 1 easy and 1 hard direction question (right, wrong)."""
    lines = [_line("c", "regression", float(i < 8), pid=i, category="object_counting")
             for i in range(10)]  # fmt: skip
    lines.append(_line("d", "multiple choice", 1.0, pid=10, category="object_rel_direction_easy"))
    lines.append(_line("d", "multiple choice", 0.0, pid=11, category="object_rel_direction_hard"))
    return lines


def test_vsibench_official_is_the_mean_over_question_types() -> None:
    s = summarize_lines(_vsi_lines(), vsibench=True)
    # categories: counting 8/10 = 0.8; direction = mean(easy 1.0, hard 0.0) = 0.5
    assert s["vsibench"]["categories"] == {"object_counting": 0.8, "object_rel_direction": 0.5}
    assert s["vsibench"]["official"] == pytest.approx((0.8 + 0.5) / 2)
    # the published column keeps Video-R1's pooled form: (mc acc 1/2 + MRA 8/10) / 2
    assert s["vsibench"]["published"] == pytest.approx((0.5 + 0.8) / 2)
    assert s["score"]["official"] == pytest.approx(9 / 12)  # pooled: not the VSI figure


def test_a_vsibench_file_is_recognised_by_its_records_whatever_its_name() -> None:
    from video_r1.evaluation.report import markdown_report

    name = "spatial_test.jsonl"
    lines = [dict(x, benchmark=name) for x in _vsi_lines()]
    summary = summarize_run(lines, [name], ["ordered"])
    s = summary["orders"]["ordered"]["benchmarks"][name]
    # every record has a VSI-Bench question_type: the same figures as under a VSI-Bench name
    # (official (counting 0.8 + direction 0.5) / 2; published (mc 1/2 + MRA 8/10) / 2)
    assert s["vsibench"]["official"] == pytest.approx((0.8 + 0.5) / 2)
    assert s["vsibench"]["published"] == pytest.approx((0.5 + 0.8) / 2)
    assert "by its records" in s["vsibench_note"]
    report = markdown_report(summary)
    assert f"| {name} / VSI-Bench score |" in report
    assert f"{name}: recognised as VSI-Bench by its records" in report
    # by a data_source naming VSI-Bench too (no question_type: no official overall, said why)
    by_source = [dict(x, category=None, data_source="VSI-Bench") for x in lines]
    s = summarize_run(by_source, [name], ["ordered"])["orders"]["ordered"]["benchmarks"][name]
    assert s["vsibench"]["published"] == pytest.approx(0.65)
    assert "no question_type" in s["vsibench"]["official_missing"]
    # a file mixing VSI-Bench questions with others gets no figure, and the summary says why
    mixed = [*lines, _line("t", "multiple choice", 1.0, pid=50, benchmark=name)]
    summary = summarize_run(mixed, [name], ["ordered"])
    s = summary["orders"]["ordered"]["benchmarks"][name]
    assert "vsibench" not in s
    assert "12 of 13 records are VSI-Bench questions" in s["vsibench_note"]
    assert "no VSI-Bench figure over a mixed file" in markdown_report(summary)
    # another benchmark's question_type field (MMVU's) is not VSI-Bench's
    mmvu = [dict(x, category="multiple-choice", benchmark="mmvu.json") for x in _vsi_lines()]
    s = summarize_run(mmvu, ["mmvu.json"], ["ordered"])["orders"]["ordered"]["benchmarks"]
    assert "vsibench" not in s["mmvu.json"] and "vsibench_note" not in s["mmvu.json"]


def test_macro_mean_uses_each_benchmark_figure() -> None:
    vsi = [dict(x, benchmark="eval_vsibench.json") for x in _vsi_lines()]
    other = [_line("t", "multiple choice", 1.0, pid=i, benchmark="mvbench.json") for i in (1, 2)]
    summary = summarize_run(vsi + other, ["eval_vsibench.json", "mvbench.json"], ["ordered"])
    macro = summary["orders"]["ordered"]["overall"]["macro"]
    # VSI's own figures (0.65 both ways here), not its pooled sample mean 9/12; MVBench 1.0
    assert macro["published"] == pytest.approx((0.65 + 1.0) / 2)
    assert macro["official"] == pytest.approx((0.65 + 1.0) / 2)
    no_category = [dict(x, category=None) for x in vsi]
    summary = summarize_run(
        no_category + other, ["eval_vsibench.json", "mvbench.json"], ["ordered"]
    )
    assert summary["orders"]["ordered"]["overall"]["macro"]["official"] is None


def test_macro_mean_is_not_taken_over_the_benchmarks_that_have_a_figure() -> None:
    from video_r1.evaluation.report import markdown_report

    good = [_line("t", "multiple choice", float(i < 6), pid=i, benchmark="mvbench.json")
            for i in range(10)]  # fmt: skip
    failed = [_line("t", "multiple choice", 0.0, pid=i, benchmark="videomme.json",
                    error="MediaError: x.mp4: truncated") for i in range(10)]  # fmt: skip
    summary = summarize_run(good + failed, ["mvbench.json", "videomme.json"], ["ordered"])
    overall = summary["orders"]["ordered"]["overall"]
    assert summary["orders"]["ordered"]["benchmarks"]["mvbench.json"]["score"]["published"] == 0.6
    assert overall["macro"] == {"published": None, "official": None}  # not 0.6 over one of two
    report = markdown_report(summary)
    assert "published n/a, official n/a" in report
    assert "videomme.json: no scored sample (10 of 10 failed)" in report


def test_stored_answer_is_what_was_scored() -> None:
    got = score_output("B", "B", "multiple choice")  # no tag: the whole output is scored
    assert got["answer"] == "B" and got["score"]["published"] == 1.0


def test_drop_table_compares_samples_scored_in_every_order() -> None:
    orders = ["ordered", "shuffled"]
    lines = [
        _line("dir", "multiple choice", 1.0, pid=1),
        _line("dir", "multiple choice", 1.0, pid=2),
        _line("dir", "multiple choice", 1.0, pid=1, order="shuffled"),
        _line("dir", "multiple choice", 0.0, pid=2, order="shuffled"),
        _line("dir", "multiple choice", 1.0, pid=3),  # failed when shuffled: left out
        _line("dir", "multiple choice", 0.0, pid=3, order="shuffled", error="boom"),
    ]
    rows = order_drop_table(lines, orders)
    assert rows[0] == {"task": "dir", "n": 2, "ordered": 1.0, "shuffled": 0.5,
                       "drop_shuffled": 0.5}  # fmt: skip
    assert rows[-1]["task"] == "(all)" and rows[-1]["n"] == 2


def test_frame_orders() -> None:
    assert frame_order_indices("ordered", 4, 0) == [0, 1, 2, 3]
    assert frame_order_indices("reversed", 4, 0) == [3, 2, 1, 0]
    shuffled = frame_order_indices("shuffled", 8, 5)
    assert sorted(shuffled) == list(range(8)) and shuffled != list(range(8))
    assert frame_order_indices("shuffled", 8, 5) == shuffled  # seeded per sample
    with pytest.raises(ValueError, match="unknown frame order"):
        frame_order_indices("sideways", 4, 0)


def test_settings_defaults_are_published_and_checked() -> None:
    s = EvalSettings()
    assert (s.frames, s.video_max_pixels, s.video_min_pixels) == (16, 256 * 28 * 28, 128 * 28 * 28)
    assert (s.temperature, s.top_p, s.max_new_tokens) == (0.01, 0.001, 1024)
    with pytest.raises(ValueError, match="min pixels"):
        EvalSettings(video_min_pixels=10, video_max_pixels=5)


def test_judge_answers_keeps_the_most_accurate_well_formed_answer() -> None:
    outputs = ["<answer>3</answer>", "<think>a</think><answer>2</answer>",
               "<think>b</think> <answer>3</answer>"]  # fmt: skip
    best, reason, checks = judge_answers(outputs, "3", "numerical", 0.6)
    assert (best, reason) == (2, "kept")
    assert [c["format"] for c in checks] == [False, True, True]
    assert think_block(outputs[best]) == "<think>b</think>"
    assert judge_answers(outputs[:2], "3", "numerical", 0.6)[:2] == (None, "inaccurate")
    assert judge_answers(["no tags"], "3", "numerical", 0.0)[:2] == (None, "malformed")


def test_partial_last_line_is_cut_before_resume(tmp_path) -> None:
    path = tmp_path / "samples.jsonl"
    path.write_text('{"key": "a"}\n{"key": "b"}\n{"key": "c", "outp')
    assert drop_partial_last_line(path) == len('{"key": "c", "outp')
    assert [x["key"] for x in read_results(path)] == ["a", "b"]
    path.write_text('{"key": "a"}\n{"key": "a"}\n')
    with pytest.raises(ValueError, match="appears twice"):
        read_results(path)
    assert sample_key("m.json", 7, "shuffled") == "m.json|7|shuffled"


def test_report_header_says_how_failures_and_each_type_are_scored() -> None:
    from video_r1.evaluation.report import markdown_report

    lines = [dict(x, benchmark="eval_vsibench.json") for x in _vsi_lines()]
    lines.append(_line("c", "regression", 0, pid=99, error="MediaError: gone", category="x"))
    summary = summarize_run(lines, ["eval_vsibench.json"], ["ordered"])
    header = markdown_report(summary).split("## Frame order")[0]
    assert "excluded from every denominator" in header
    assert "OCR by 1 - WER" in header and "free-form by the mean of ROUGE" in header
    report = markdown_report(summary)
    assert "| eval_vsibench.json / VSI-Bench score |" in report
    assert "| 65.0 | 65.0 |" in report  # published (0.5 + 0.8) / 2; official (0.8 + 0.5) / 2
    no_category = summarize_run([dict(x, category=None) for x in lines], ["eval_vsibench.json"],
                                ["ordered"])  # fmt: skip
    report = markdown_report(no_category)
    assert "| 65.0 | n/a |" in report and "official overall" in report
    assert "cannot be computed" in report


def test_judge_drops_empty_reasoning_and_keeps_only_above_the_threshold() -> None:
    empty = judge_answers(["<think>  </think><answer>3</answer>"], "3", "numerical", 0.6)
    assert empty[:2] == (None, "malformed")
    # OCR: 2 wrong words of 5 -> 1 - WER = 0.6, not above the published 0.6
    at_threshold = ["<think>read it</think><answer>a b c x y</answer>"]
    assert judge_answers(at_threshold, "a b c d e", "OCR", 0.6)[:2] == (None, "inaccurate")
    kept = judge_answers(at_threshold, "a b c d e", "OCR", 0.6, keep_rule="at-least")
    assert kept[:2] == (0, "kept")
