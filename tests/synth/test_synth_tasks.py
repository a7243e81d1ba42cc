from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest

from video_r1.synth import TASKS, SynthConfig, best_accuracy, chance_accuracy, generate_samples
from video_r1.synth.generate import generate_benchmark, plan_counts
from video_r1.synth.render import BACKGROUND, COLOURS, LAMP_OFF

CFG = SynthConfig()


def object_mask(frame: np.ndarray) -> np.ndarray:
    return np.abs(frame.astype(int) - BACKGROUND).sum(-1) > 60  # [H, W]


def colour_of(frame: np.ndarray) -> str:
    mean = frame[object_mask(frame)].mean(0)
    return min(COLOURS, key=lambda c: np.abs(mean - COLOURS[c]).sum())


def centroid(frame: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(object_mask(frame))
    return np.array([xs.mean(), ys.mean()])


def lit_mask(frame: np.ndarray) -> np.ndarray:
    """Object pixels that are not an unlit (grey) lamp."""
    return object_mask(frame) & (np.abs(frame.astype(int) - LAMP_OFF).sum(-1) > 60)


def lit_offset(frame: np.ndarray) -> np.ndarray:
    """(dx, dy) from the frame centre to the lit lamp (event_order)."""
    ys, xs = np.nonzero(lit_mask(frame))
    return np.array([xs.mean(), ys.mean()]) - (frame.shape[0] - 1) / 2


def lit_colour(frames: np.ndarray) -> str:
    frame = next(f for f in frames if lit_mask(f).any())  # appear: some frames are empty
    mean = frame[lit_mask(frame)].mean(0)
    return min(COLOURS, key=lambda c: np.abs(mean - COLOURS[c]).sum())


def order_blind_features(task: str, frames: np.ndarray, options: tuple) -> tuple:
    """What a solver reads from frames in random order: nothing about time."""
    if task == "direction":
        spread = np.ptp(np.stack([centroid(f) for f in frames]), axis=0)
        return (colour_of(frames[0]), "h" if spread[0] > spread[1] else "v")
    if task == "event_order":  # the layout: along which axis, and is red left/top?
        dx, dy = lit_offset(frames[0])
        along = dx if abs(dx) > abs(dy) else dy
        red_first_side = (along < 0) == (lit_colour(frames[:1]) == "red")
        return ("h" if abs(dx) > abs(dy) else "v", red_first_side)
    # reverse, appear: the colour of what is there
    return (lit_colour(frames),)


def order_aware_answer(task: str, frames: np.ndarray, options: tuple) -> str:
    if task == "direction":
        dx, dy = centroid(frames[-1]) - centroid(frames[0])
        if abs(dx) > abs(dy):
            return "B" if dx > 0 else "A"
        return "D" if dy > 0 else "C"
    if task == "reverse":
        return "A" if object_mask(frames[-1]).sum() > object_mask(frames[0]).sum() else "B"
    if task == "event_order":  # option A is the red lamp
        return "A" if lit_colour(frames[:1]) == "red" else "B"
    return "A" if not object_mask(frames[0]).any() else "B"  # appear: empty first frame


@pytest.mark.parametrize("task", ["direction", "reverse", "event_order", "appear"])
def test_order_blind_solver_reaches_the_advertised_figure_and_no_more(task):
    rng = np.random.default_rng(0)
    fit = generate_samples(TASKS[task], "train", 96, seed=5, cfg=CFG)
    held_out = generate_samples(TASKS[task], "test", 96, seed=5, cfg=CFG)

    def blind(sample):
        shuffled = sample.media[rng.permutation(len(sample.media))]
        return order_blind_features(task, shuffled, sample.options)

    # the best order-blind rule: majority answer per observation, fitted on one set
    table: dict[tuple, Counter] = defaultdict(Counter)
    for sample in fit:
        table[blind(sample)][sample.answer] += 1
    hits = [
        table[blind(s)].most_common(1)[0][0] == s.answer if table[blind(s)] else False
        for s in held_out
    ]
    assert abs(np.mean(hits) - TASKS[task].order_blind_accuracy) < 0.12
    # the frame order does carry the answer
    assert all(order_aware_answer(task, s.media, s.options) == s.answer for s in held_out)


def test_order_independent_answer_survives_shuffling():
    rng = np.random.default_rng(1)
    for sample in generate_samples(TASKS["light_fraction"], "test", 12, seed=2, cfg=CFG):
        frames = sample.media[rng.permutation(len(sample.media))]
        lit = np.mean(
            [(np.abs(f.astype(int) - COLOURS["yellow"]).sum(-1) < 30).any() for f in frames]
        )
        assert float(sample.answer) == lit


def test_classes_and_shortcut_are_balanced():
    samples = generate_samples(TASKS["direction"], "train", 64, seed=0, cfg=CFG)  # 4 full cycles
    assert Counter(s.answer for s in samples) == {"A": 16, "B": 16, "C": 16, "D": 16}
    assert sum(s.cue_agrees for s in samples) == 48  # 75% of 64
    counts = Counter(s.answer for s in generate_samples(TASKS["count_video"], "test", 8, 0, CFG))
    assert counts == {"1": 2, "2": 2, "3": 2, "4": 2}


def test_media_shapes_and_decoded_clip(tmp_path):
    import av

    generate_benchmark(tmp_path, 9, seed=1)  # one record of each task of the default mix
    clip = next((tmp_path / "media").rglob("direction/*.mp4"))
    with av.open(str(clip)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == CFG.frames and frames[0].shape == (CFG.size, CFG.size, 3)
    sample = generate_samples(TASKS["ocr_image"], "train", 1, 0, CFG)[0]
    assert sample.media.shape == (112, 112, 3) and sample.media.dtype == np.uint8


def test_accuracy_figures_by_hand():
    # uniform guess over 3 answers: 1/3; observation equals the answer: 1.0
    joint = [(("x",), "x", 0.5), (("y",), "y", 0.25), (("z",), "z", 0.25)]
    assert chance_accuracy(joint) == pytest.approx(1 / 3) and best_accuracy(joint) == 1.0
    # colour cue right 3 times in 4 within each axis: 0.75, whatever the 4 directions
    assert TASKS["direction"].order_blind_accuracy == 0.75
    assert TASKS["reverse"].chance_accuracy == 0.5 and TASKS["reverse"].order_blind_accuracy == 0.75
    assert plan_counts({"a": 1, "b": 1, "c": 1}, 10) == {"a": 4, "b": 3, "c": 3}


def test_config_is_checked():
    with pytest.raises(ValueError, match="multiple of 4"):
        SynthConfig(frames=6)
    with pytest.raises(ValueError, match="multiple of 28"):
        SynthConfig(size=120)


@pytest.mark.parametrize("task", ["event_order", "appear"])
def test_new_order_tasks_survive_the_demo_media_stage(tmp_path, task):
    """At the demo's settings (56x56, 4 frames at 4 fps, 2 temporal patches of 2x2 tokens) the
    event is still readable after H.264 and the media stage: each half of the clip (one
    temporal patch) shows one state, and the order-aware reading gives the answer."""
    from video_r1.media import load_video
    from video_r1.media.encode import write_video
    from video_r1.media.types import VideoSettings

    cfg = SynthConfig(size=56, frames=4, fps=4.0)
    settings = VideoSettings(max_frames=4, min_pixels=3136, max_pixels=3136)
    for i, sample in enumerate(generate_samples(TASKS[task], "test", 16, seed=3, cfg=cfg)):
        path = tmp_path / f"{i}.mp4"
        write_video(path, sample.media, fps=cfg.fps)
        frames = load_video(path, settings).frames.permute(0, 2, 3, 1).numpy()  # [4, 56, 56, 3]
        assert frames.shape == (4, 56, 56, 3)
        assert order_aware_answer(task, frames, sample.options) == sample.answer
        # the two frames of each temporal patch show the same state
        assert np.abs(frames[0].astype(int) - frames[1]).mean() < 4
        assert np.abs(frames[0].astype(int) - frames[2]).mean() > 10


@pytest.mark.parametrize("name", ["video_r1.synth.tasks", "video_r1.synth.event_tasks"])
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0
