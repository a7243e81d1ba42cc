"""run.json records the engine of every run, native included; older folders read as native."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from video_r1.evaluation.results import check_run_description
from video_r1.evaluation.runner import EvalRun, run_description


def _description(tmp_path: Path, engine: str) -> dict:
    bench = tmp_path / "bench.jsonl"
    bench.write_text("{}\n")
    run = EvalRun(model=str(tmp_path / "model"), benchmarks=[bench], media_root=tmp_path,
                  out=tmp_path / "out", engine=engine)  # fmt: skip
    return run_description(run)


def test_resuming_a_vllm_folder_natively_names_both_engines(tmp_path: Path) -> None:
    results = tmp_path / "samples.jsonl"
    results.write_text('{"key": "a"}\n')  # the folder holds results: a resume
    check_run_description(tmp_path / "run.json", _description(tmp_path, "vllm"), results)
    native = _description(tmp_path, "native")
    assert native["engine"] == "native"
    with pytest.raises(ValueError, match="engine: 'vllm' -> 'native'"):
        check_run_description(tmp_path / "run.json", native, results)


def test_a_folder_from_before_the_engine_was_recorded_resumes_natively(tmp_path: Path) -> None:
    results = tmp_path / "samples.jsonl"
    results.write_text('{"key": "a"}\n')
    old = {k: v for k, v in _description(tmp_path, "native").items() if k != "engine"}
    (tmp_path / "run.json").write_text(json.dumps(old))
    check_run_description(tmp_path / "run.json", _description(tmp_path, "native"), results)
    with pytest.raises(ValueError, match="engine: 'native' -> 'vllm'"):
        check_run_description(tmp_path / "run.json", _description(tmp_path, "vllm"), results)
