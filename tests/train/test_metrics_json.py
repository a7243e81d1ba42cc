"""metrics.jsonl is strict JSON: a metric without a value is null, read back as NaN."""

from __future__ import annotations

import json
import math

from accelerate import Accelerator

from video_r1.train.metrics_logger import MetricsLogger
from video_r1.utils.io import read_metrics


def _strict(text: str) -> list[dict]:
    def refuse(name: str) -> None:
        raise ValueError(f"not JSON: {name}")

    return [json.loads(line, parse_constant=refuse) for line in text.splitlines()]


def test_nan_and_infinity_are_written_as_null_and_read_back_as_nan(tmp_path):
    path = tmp_path / "metrics.jsonl"
    with MetricsLogger(Accelerator(cpu=True), path, total_steps=1, trackers_enabled=False,
                       progress_bar=False) as logger:  # fmt: skip
        logger.log(1, {"train/temporal/passed_any_correct": math.nan, "train/x": math.inf,
                       "train/loss": 0.5})  # fmt: skip
    rows = _strict(path.read_text())
    assert rows == [{"step": 1, "train/temporal/passed_any_correct": None, "train/x": None,
                     "train/loss": 0.5}]  # fmt: skip
    back = read_metrics(path)[0]
    assert math.isnan(back["train/temporal/passed_any_correct"]) and back["train/loss"] == 0.5
