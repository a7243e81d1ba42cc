"""The synthetic temporal grounding task (lamp_window): valid records, answers that the
sampled frames show, the planted colour shortcut, and opt-in only."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import numpy as np
import pytest

from video_r1.cli import main
from video_r1.data import load_records
from video_r1.media import load_video
from video_r1.media.types import VideoSettings
from video_r1.synth import TASKS, SynthConfig, generate_samples
from video_r1.synth.generate import select_tasks
from video_r1.synth.grounding_task import (
    SEGMENTS,
    WINDOWS,
    interval_iou,
    iou_figures,
    segment_frames,
    window_seconds,
)
from video_r1.synth.render import BACKGROUND, COLOURS, LAMP_OFF

TASK = TASKS["lamp_window"]


def lit_pixels(frame: np.ndarray) -> np.ndarray:
    """[N, 3] pixels far from both the background and the grey of an unlit lamp."""
    pixels = frame.reshape(-1, 3).astype(int)
    off_bg = np.abs(pixels - BACKGROUND).sum(-1) > 60
    return pixels[off_bg & (np.abs(pixels - LAMP_OFF).sum(-1) > 60)]


def lit(frame: np.ndarray) -> bool:
    return len(lit_pixels(frame)) > frame.shape[0] * frame.shape[1] // 20


def lit_colour(frame: np.ndarray) -> str:
    mean = lit_pixels(frame).mean(0)
    return min(COLOURS, key=lambda c: np.abs(mean - COLOURS[c]).sum())


def test_records_validate_and_the_sampled_frames_show_the_answer(tmp_path, capsys):
    out = tmp_path / "synth"
    assert main(["synth", str(out), "--n", "12", "--seed", "1", "--tasks", "lamp_window"]) == 0
    for split in ("train", "test"):
        assert main(["data", "check", str(out / f"{split}.jsonl"), "--media-root", str(out),
                     "--decode"]) == 0  # fmt: skip
    records = load_records(out / "train.jsonl", out) + load_records(out / "test.jsonl", out)
    assert {r.problem_type for r in records} == {"temporal grounding"}
    cfg = SynthConfig()
    for record in records:
        start, end = json.loads(record.answer)
        # the media stage's default sampling (2 fps): one frame per segment, each lit exactly
        # when its time lies in the answer's [start, end)
        clip = load_video(record.media_path, VideoSettings())
        assert clip.num_frames == SEGMENTS
        assert clip.source_fps == cfg.fps
        frames = clip.frames.permute(0, 2, 3, 1).numpy()
        for frame, index, seconds in zip(frames, clip.indices, clip.timestamps, strict=True):
            assert lit(frame) == (start <= index / clip.source_fps < end)
            assert seconds == pytest.approx(index / clip.source_fps, abs=1e-3)
    tasks = json.loads((out / "tasks.json").read_text())["tasks"]
    assert tasks["lamp_window"]["problem_type"] == "temporal grounding"
    assert tasks["lamp_window"]["chance_miou"] < tasks["lamp_window"]["order_blind_miou"] < 1


def test_every_segment_gets_a_sampled_frame_at_other_clip_rates(tmp_path):
    from video_r1.media.encode import write_video

    for fps, frames in ((8.0, 8), (4.0, 4), (2.0, 8)):
        cfg = SynthConfig(size=56, frames=frames, fps=fps)
        per_segment = segment_frames(cfg)
        assert per_segment / fps >= 0.5
        sample = generate_samples(TASK, "test", 1, seed=0, cfg=cfg)[0]
        assert len(sample.media) == SEGMENTS * per_segment
        path = write_video(tmp_path / f"{fps}.mp4", sample.media, fps=fps)
        clip = load_video(path, VideoSettings(min_pixels=3136, max_pixels=3136))
        segments = {index // per_segment for index in clip.indices}
        assert segments == set(range(SEGMENTS))
        start, end = json.loads(sample.answer)
        shown = [lit(f) for f in clip.frames.permute(0, 2, 3, 1).numpy()]
        assert shown == [start <= i / fps < end for i in clip.indices]


def test_windows_and_shortcut_are_balanced():
    cycle = len(WINDOWS) * 4
    samples = generate_samples(TASK, "train", cycle, seed=0, cfg=SynthConfig())
    assert Counter(s.answer for s in samples) == {
        json.dumps(list(window_seconds(a, n, SynthConfig()))): 4 for a, n in WINDOWS
    }
    assert sum(s.cue_agrees for s in samples) == cycle * 3 // 4


def test_order_blind_solver_reaches_the_advertised_figure_and_no_more():
    """Frames in random order give the lit colour and how many frames are lit: the best rule
    on them is right about as often as the task says, and the frame order gives the answer."""
    rng = np.random.default_rng(0)
    cfg = SynthConfig()

    def blind(sample) -> tuple:
        frames = sample.media[rng.permutation(len(sample.media))]
        shown = [f for f in frames if lit(f)]
        return len(shown), lit_colour(shown[0])

    table: dict[tuple, Counter] = defaultdict(Counter)
    for sample in generate_samples(TASK, "train", 192, seed=5, cfg=cfg):
        table[blind(sample)][sample.answer] += 1
    held_out = generate_samples(TASK, "test", 192, seed=5, cfg=cfg)
    hits = [table[blind(s)].most_common(1)[0][0] == s.answer for s in held_out]
    assert abs(np.mean(hits) - TASK.order_blind_accuracy) < 0.1
    per_segment = segment_frames(cfg)
    for sample in held_out:  # in order: the first and last lit frames give the window
        on = [t for t, frame in enumerate(sample.media) if lit(frame)]
        seconds = per_segment / cfg.fps
        answer = [on[0] // per_segment * seconds, (on[-1] // per_segment + 1) * seconds]
        assert answer == json.loads(sample.answer)


def test_iou_figures_by_hand():
    assert interval_iou((1.0, 2.0), (1.5, 3.0)) == pytest.approx(0.5 / 2.0)
    # two equally likely windows of one segment each, not told apart: a guess covering both
    # (IoU 1/2 with either) beats either one (IoU 1 or 0, 1/2 on average) only by ties
    joint = [((), "[0.0, 1.0]", 0.5), ((), "[1.0, 2.0]", 0.5)]
    figures = iou_figures(joint)
    assert figures["chance_miou"] == 0.5 and figures["order_blind_miou"] == 0.5
    assert TASK.extras["chance_miou"] < TASK.extras["order_blind_miou"] < 1.0


def test_opt_in_only():
    assert TASK not in select_tasks(None)
    assert select_tasks(["lamp_window"]) == [TASK]
    from video_r1.demo.pipeline import DEMO_TASKS

    assert "lamp_window" not in DEMO_TASKS
