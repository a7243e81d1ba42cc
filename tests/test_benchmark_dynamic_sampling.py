"""benchmarks/dynamic_sampling.py's measures and table, on hand-made run folders (the runs
themselves are a measurement, not a test: docs/dapo_gspo.md)."""

import importlib.util
import json
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "dynamic_sampling.py"


@pytest.fixture(scope="module")
def benchmark():
    spec = importlib.util.spec_from_file_location("dynamic_sampling_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(tmp_path: Path, metrics: list[dict], by_task: dict[str, float]) -> tuple[Path, Path]:
    demo, run = tmp_path / "demo", tmp_path / "run"
    (demo / "synth").mkdir(parents=True)
    tasks = {"direction": True, "reverse": True, "shape_video": False}
    (demo / "synth" / "tasks.json").write_text(json.dumps(
        {"tasks": {name: {"order_dependent": dep} for name, dep in tasks.items()}}
    ))  # fmt: skip
    (run / "train").mkdir(parents=True)
    (run / "train" / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    (run / "eval").mkdir()
    rows = {t: {"n": 10, "failed": 0, "published": a} for t, a in by_task.items()}
    summary = {"orders": {"ordered": {"overall": {"by_task": rows}}}}
    (run / "eval" / "summary.json").write_text(json.dumps(summary))
    return demo, run


def test_plain_run_counts_every_prompt_of_each_step(benchmark, tmp_path):
    demo, run = _run(tmp_path, [{"train/groups/zero_variance_count": 3},
                                {"train/groups/zero_variance_count": 1}],
                     {"direction": 0.5, "reverse": 0.7, "shape_video": 0.1})  # fmt: skip
    m = benchmark.measures(run, demo, prompts_per_step=4)
    # 2 steps x 4 prompts: 4 of 8 groups had zero variance; order tasks (0.5 + 0.7) / 2
    assert (m["steps"], m["groups_trained"], m["groups_drawn"]) == (2, 8, 8)
    assert m["zero_variance_share"] == 0.5
    assert m["ordered_accuracy_order_tasks"] == pytest.approx(0.6)


def test_dynamic_run_counts_the_groups_it_trained(benchmark, tmp_path):
    step = {"train/groups/zero_variance_count": 0, "train/dynamic/groups_trained": 3,
            "train/dynamic/groups_drawn": 10}  # fmt: skip
    demo, run = _run(tmp_path, [step], {"direction": 1.0, "reverse": 0.0, "shape_video": 1.0})
    m = benchmark.measures(run, demo, prompts_per_step=4)
    assert (m["groups_trained"], m["groups_drawn"], m["zero_variance_share"]) == (3, 10, 0.0)
    assert m["ordered_accuracy_order_tasks"] == 0.5


def test_table_gives_mean_spread_and_each_seed(benchmark):
    results = [
        {"arm": "plain", "seed": s, "zero_variance_share": z, "steps": n, "groups_drawn": 4 * n,
         "ordered_accuracy_order_tasks": a}
        for s, z, n, a in ((0, 0.5, 100, 0.6), (1, 0.7, 110, 0.7))
    ]  # fmt: skip
    line = benchmark.table(results).splitlines()[2]
    # zero-variance share 60 +- 14.1 (%), steps 105 +- 7.1, accuracy 65 +- 7.1 (%)
    assert line.startswith("| plain | 2 | 60.0 +- 14.1 (50.0, 70.0) | 105.0 +- 7.1 (100.0, 110.0)")
    assert line.endswith("| 65.0 +- 7.1 (60.0, 70.0) |")
