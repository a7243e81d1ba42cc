"""`video-r1 experiment temporal` at the quick scale, and its aggregation by hand."""

from __future__ import annotations

import json

import pytest

from video_r1.cli import main
from video_r1.experiments.temporal_paired import POOLED
from video_r1.experiments.temporal_report import (
    OVERALL,
    aggregate,
    base_fingerprint,
    mean_std,
    run_measures,
)


def test_experiment_runs_every_variant_and_seed(tmp_path):
    out = tmp_path / "exp"
    argv = ["experiment", "temporal", "--out", str(out), "--scale", "quick", "--seeds", "0", "1",
            "--steps", "1", "--variants", "grpo", "tgrpo_nostd", "--no-progress",
            "--jobs", "2"]  # fmt: skip
    assert main(argv) == 0
    # two processes, one seed each, each with its own log
    for job, seed in ((0, 0), (1, 1)):
        assert f"# tgrpo_nostd seed {seed}:" in (out / "logs" / f"job{job}.log").read_text()
    results = json.loads((out / "results.json").read_text())
    assert results["seeds"] == [0, 1] and results["steps"] == 1
    assert list(results["results"]) == ["grpo", "tgrpo_nostd"]
    overall = results["results"]["tgrpo_nostd"][OVERALL]
    assert set(overall) == {"ordered", "shuffled", "gap", "passed"}
    assert "passed" not in results["results"]["grpo"][OVERALL]  # GRPO has no temporal rule
    for variant in ("grpo", "tgrpo_nostd"):
        for seed in (0, 1):
            run = out / "runs" / variant / f"seed{seed}"
            assert len((run / "metrics.jsonl").read_text().splitlines()) == 1
            assert (run / "eval" / "summary.json").exists()
    # the variant's settings reached the recipe (its resolved config is saved with the model)
    config = (out / "runs" / "tgrpo_nostd" / "seed1" / "final" / "config.yaml").read_text()
    assert "scale_rewards: none" in config and "temporal: true" in config
    assert "paired_sampling: true" in config  # common random numbers across the variants
    assert "top_k: 0" in config  # sampled as the README's runs were, not at rl.top_k's default
    assert (
        "temporal: false" in (out / "runs" / "grpo" / "seed0" / "final" / "config.yaml").read_text()
    )
    table = (out / "results.md").read_text()
    assert f"| {OVERALL} | grpo |" in table and f"| {OVERALL} | tgrpo_nostd |" in table
    assert (out / "temporal.png").read_bytes()[:4] == b"\x89PNG"
    # paired differences to GRPO over the 2 seeds, per order-dependent task and pooled
    order_tasks = results["order_dependent_tasks"]
    assert set(order_tasks) == {"direction", "event_order", "reverse", "appear"}
    pooled = [r for r in results["paired"] if r["task"] == POOLED and r["measure"] == "ordered"]
    assert len(pooled) == 1 and pooled[0]["variant"] == "tgrpo_nostd"
    assert len(pooled[0]["differences"]) == 2 and pooled[0]["low"] <= pooled[0]["high"]
    assert "Paired differences to GRPO" in table and f"| tgrpo_nostd | {POOLED} |" in table
    assert (out / "paired.png").read_bytes()[:4] == b"\x89PNG"
    # every ordered rollout was logged, so the channel analysis saw every group: 1 step x
    # 2 prompts per run, 2 runs per variant
    assert (out / "runs" / "grpo" / "seed0" / "rollouts.jsonl").exists()
    assert results["channel"]["grpo"]["groups"] == 4
    assert results["channel"]["grpo"]["bonus_groups"] == 0.0  # GRPO gives no bonus
    assert "Where the published bonus can act" in table
    assert "| grpo | " in table.split("has GRPO's own curve flattened")[1]
    # 1 step per run: no windows to compare, said so (and None in the json)
    assert "grpo: too few seeds or steps" in table and results["grpo_last_window_rise"] is None
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    # a rerun finds everything done and rewrites the same table
    assert main(argv) == 0
    assert (out / "results.md").read_text() == table
    # the report alone, with a seed that has not run: listed, left out, nothing run
    report = ["experiment", "temporal", "--out", str(out), "--report-only", "--seeds", "0", "1",
              "2", "--variants", "grpo", "tgrpo_nostd"]  # fmt: skip
    assert main(report) == 0
    partial = json.loads((out / "results.json").read_text())
    assert partial["not_finished"] == {"grpo": [2], "tgrpo_nostd": [2]}
    assert partial["seeds_per_variant"] == {"grpo": [0, 1], "tgrpo_nostd": [0, 1]}
    assert partial["results"] == results["results"] and partial["steps"] == 1
    assert (
        "Not finished (left out): grpo seeds 2; tgrpo_nostd seeds 2."
        in (out / "results.md").read_text()
    )
    assert not (out / "runs" / "grpo" / "seed2").exists()
    # results.json keeps each run's measures by seed, for later reports to pool with
    assert set(results["per_seed"]["tgrpo_nostd"]) == {"0", "1"}
    assert results["per_seed"]["grpo"]["1"][OVERALL] == results_by_seed(out, "grpo", 1)
    # an earlier report's seeds (another session) pool with these, each seed once
    assert results["base_sft"] == base_fingerprint(out / "base") and len(results["base_sft"]) == 16
    earlier = tmp_path / "earlier.json"
    earlier.write_text(json.dumps({"base_sft": results["base_sft"], "steps": results["steps"], "paired": [
        {"variant": "tgrpo_nostd", "task": POOLED, "measure": "ordered", "seeds": [5, 6],
         "differences": [0.1, -0.3]},
    ]}))  # fmt: skip
    assert main([*report, "--earlier", str(earlier)]) == 0
    with_earlier = json.loads((out / "results.json").read_text())["paired_with_earlier"]
    row = next(r for r in with_earlier if r["task"] == POOLED and r["measure"] == "ordered")
    assert row["seeds"] == [0, 1, 5, 6]
    assert row["mean"] == pytest.approx((sum(pooled[0]["differences"]) + 0.1 - 0.3) / 4)
    assert "with the earlier seeds" in (out / "results.md").read_text()
    assert (out / "paired_with_earlier.png").read_bytes()[:4] == b"\x89PNG"
    # a verdict among 4 comparisons: each table adds the familywise (98.75%) interval
    assert main([*report, "--earlier", str(earlier), "--comparisons", "4"]) == 0
    assert json.loads((out / "results.json").read_text())["comparisons"] == 4
    assert (out / "results.md").read_text().count("| ordered, 98.75% (4 comparisons) |") == 2
    assert main([*report, "--comparisons", "0"]) == 2
    # a run about to add a seed the earlier report already has is refused before it runs
    clash = tmp_path / "clash.json"
    clash.write_text(earlier.read_text().replace("[5, 6]", "[1, 6]"))
    assert main([*argv, "--earlier", str(clash)]) == 2
    assert main([*report, "--earlier", str(tmp_path / "nothing.json")]) == 2
    other_base = tmp_path / "other_base.json"
    other_base.write_text(earlier.read_text().replace(results["base_sft"], "0" * 16))
    assert main([*report, "--earlier", str(other_base)]) == 2  # seeds of another SFT checkpoint
    # a new folder builds its base first, then refuses the other checkpoint before any RL run
    fresh = tmp_path / "fresh"
    fresh_argv = ["experiment", "temporal", "--out", str(fresh), "--scale", "quick", "--seeds",
                  "7", "--steps", "1", "--variants", "grpo", "--no-progress"]  # fmt: skip
    assert main([*fresh_argv, "--earlier", str(other_base)]) == 2
    assert (fresh / "base" / "sft" / "final").exists() and not (fresh / "runs").exists()
    assert main([*report[:5], "--variants", "grpo"]) == 0  # seeds found on disk: 0 and 1
    assert json.loads((out / "results.json").read_text())["seeds"] == [0, 1]
    assert main(["experiment", "temporal", "--out", str(tmp_path / "none"), "--report-only"]) == 2
    # another experiment from the same SFT checkpoint (a demo folder has this layout)
    other = tmp_path / "other"
    argv2 = ["experiment", "temporal", "--out", str(other), "--from-demo", str(out / "base"),
             "--scale", "quick", "--seeds", "3", "--steps", "1", "--variants", "tgrpo_mu1",
             "--no-progress"]  # fmt: skip
    assert main(argv2) == 0
    assert not (other / "base").exists()
    config = (other / "runs" / "tgrpo_mu1" / "seed3" / "final" / "config.yaml").read_text()
    assert "mu: 1.0" in config and str((out / "base" / "sft" / "final").resolve()) in config


def results_by_seed(out, variant: str, seed: int) -> dict:
    """The overall row of one run's eval summary, as run_measures reads it."""
    summary = json.loads(
        (out / "runs" / variant / f"seed{seed}" / "eval" / "summary.json").read_text()
    )
    row = next(r for r in summary["order_drop"] if r["task"] == "(all)")
    return {"ordered": row["ordered"], "shuffled": row["shuffled"], "gap": row["drop_shuffled"]}


def test_experiment_rejects_unknown_variant_and_missing_demo(tmp_path, capsys):
    argv = ["experiment", "temporal", "--out", str(tmp_path), "--variants", "ppo"]
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("error: unknown variant(s) ['ppo']")
    argv = ["experiment", "temporal", "--out", str(tmp_path), "--from-demo", str(tmp_path / "x")]
    assert main(argv) == 2
    assert "no finished demo" in capsys.readouterr().err
    # --steps 0 is refused, not taken for the default (which started a whole experiment)
    assert main(["experiment", "temporal", "--out", str(tmp_path), "--steps", "0"]) == 2
    assert "--steps >= 1" in capsys.readouterr().err and not (tmp_path / "base").exists()


def test_mean_std_by_hand():
    # mean (0.5 + 0.7) / 2 = 0.6; sample std sqrt(((-0.1)^2 + 0.1^2) / 1) = 0.1414
    mean, std = mean_std([0.5, 0.7])
    assert mean == pytest.approx(0.6) and std == pytest.approx(0.02**0.5)
    assert mean_std([0.3]) == (0.3, None)  # one seed: no spread
    assert mean_std([]) == (None, None)


def test_a_single_seed_shows_no_plus_minus():
    from video_r1.experiments.temporal_report import results_table

    one = {"grpo": aggregate([{OVERALL: {"ordered": 0.5, "shuffled": 0.25, "gap": 0.25}}])}
    table = results_table(one, seeds=[0])
    assert "±" not in table and "| 50.0 | 25.0 | 25.0 |" in table and "one run, seed [0]" in table
    two = {"grpo": aggregate([{OVERALL: {"ordered": 0.5}}, {OVERALL: {"ordered": 0.7}}])}
    assert "60.0 ± 14.1" in results_table(two, seeds=[0, 1])


def test_run_measures_and_aggregate():
    summary = {"order_drop": [
        {"task": "direction", "n": 4, "ordered": 0.75, "shuffled": 0.5, "drop_shuffled": 0.25},
        {"task": "(all)", "n": 4, "ordered": 0.75, "shuffled": 0.5, "drop_shuffled": 0.25},
    ]}  # fmt: skip
    metrics = [{"step": 1, "train/temporal/passed": 1.0}, {"step": 2, "train/temporal/passed": 0.5}]
    run = run_measures(summary, metrics)
    assert run["direction"] == {"ordered": 0.75, "shuffled": 0.5, "gap": 0.25}
    assert run[OVERALL]["passed"] == 0.75  # mean over steps (1.0 + 0.5) / 2
    other = run_measures({"order_drop": [{**summary["order_drop"][1], "ordered": 0.25,
                                          "drop_shuffled": -0.25}]}, [])  # fmt: skip
    agg = aggregate([run, other])
    assert agg[OVERALL]["ordered"][0] == pytest.approx(0.5)  # (0.75 + 0.25) / 2
    assert agg[OVERALL]["passed"] == (0.75, None)  # only the run that had the rule: no spread
    assert list(agg) == ["direction", OVERALL]


def test_every_variant_is_a_valid_grpo_config():
    """Each variant's overrides load over the demo's GRPO config; margin_a1 is margin with
    alpha 1.0, and every other variant keeps the published alpha."""
    from video_r1.demo.pipeline import load_demo_config
    from video_r1.experiments.temporal import DESCRIPTIONS, VARIANTS
    from video_r1.recipes.grpo_config import GRPOConfig

    assert set(DESCRIPTIONS) == set(VARIANTS)
    required = [
        "model.path=m",
        "data.train_file=t.jsonl",
        "data.media_root=.",
        "checkpoint.output_dir=o",
    ]
    rl = {name: load_demo_config(GRPOConfig, "grpo", required + list(overrides)).rl
          for name, overrides in VARIANTS.items()}  # fmt: skip
    assert (rl["margin_a1"].temporal_variant, rl["margin_a1"].alpha) == ("margin", 1.0)
    assert rl["margin_a1"].temporal and rl["margin"].temporal and not rl["grpo"].temporal
    assert {r.alpha for name, r in rl.items() if name != "margin_a1"} == {0.3}
