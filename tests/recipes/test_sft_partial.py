"""SFT on 9 records, 2 per step: 5 steps, the last on one record (none left out)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _sft_data import write_cot_records

from video_r1.recipes.sft import SFTConfig, train
from video_r1.train.config import load_config
from video_r1.utils.io import read_jsonl

REPO = Path(__file__).parents[2]
pytestmark = pytest.mark.slow


@pytest.mark.parametrize(("drop_last", "steps"), [(False, 5), (True, 4)])
def test_the_last_partial_step_trains_unless_drop_last(tiny_qwen25, tmp_path, drop_last, steps):
    data = write_cot_records(tmp_path / "data", n=9)
    out = tmp_path / "run"
    cfg = load_config(SFTConfig, REPO / "configs" / "sft_tiny.yaml", [
        f"model.path={tiny_qwen25}", f"data.train_file={data}", f"data.media_root={data.parent}",
        f"checkpoint.output_dir={out}", "logging.progress_bar=false", "logging.log_every=1",
        "optim.epochs=1", "optim.max_steps=0", "optim.per_device_batch_size=1",
        "optim.grad_accum=2", f"sft.drop_last={str(drop_last).lower()}",
    ])  # fmt: skip
    assert train(cfg).final_step == steps
    rows = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(1, steps + 1))
    trained = [i for r in read_jsonl(out / "data_order" / "rank0.jsonl") for i in r["problem_ids"]]
    assert len(trained) == (9 if not drop_last else 8) and len(set(trained)) == len(trained)
    assert rows[-1]["train/loss"] > 0
