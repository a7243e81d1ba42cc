"""The synthetic benchmark's task contract, and what each task's distribution allows.

A task turns (rng, slot) into one `Sample`. The slot is its place in a balanced cycle of
`n_slots` (answer class x shortcut agreement), so every split has balanced classes and the
shortcut holds for exactly the advertised share of records. `joint()` enumerates the task's
distribution as (what an order-blind viewer sees, answer, probability): from it follow the
chance accuracy and the best accuracy reachable without the frame order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import numpy as np

LETTERS = "ABCD"
CUE_SLOTS = 4  # the shortcut cue agrees with the answer in 3 of every 4 records
CUE_RATE = 0.75


@dataclass(frozen=True)
class SynthConfig:
    """Media settings of the generated benchmark.

    size: frame/image side in pixels (multiple of 28 so Qwen-VL takes frames unresized).
    frames, fps: each clip has `frames` frames at `fps` (default 8 at 4 fps = 2 s). Clips are
    built from 4 equal segments, so the media stage's 2-fps sampling (4 frames, one per
    segment) sees every event.
    """

    size: int = 112
    frames: int = 8
    fps: float = 4.0

    def __post_init__(self) -> None:
        if self.size < 56 or self.size % 28:
            raise ValueError(f"size must be a multiple of 28 and >= 56, got {self.size}")
        if self.frames < 4 or self.frames % 4:
            raise ValueError(
                f"frames must be a multiple of 4 (clips are 4 segments), got {self.frames}"
            )
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")

    @property
    def segment(self) -> int:
        """Frames per quarter of a clip."""
        return self.frames // 4


@dataclass(frozen=True)
class Sample:
    """One generated question. `media` is uint8 [T, H, W, 3] (video) or [H, W, 3] (image)."""

    problem: str
    answer: str
    rationale: str  # plain sentence(s); the record's `process` wraps it in <think> tags
    media: np.ndarray
    options: tuple[str, ...] = ()
    cue_agrees: bool | None = None  # shortcut tasks: does the static cue give the answer?


@dataclass(frozen=True)
class Task:
    """A procedurally generated task of the benchmark."""

    name: str
    description: str
    problem_type: str
    data_type: str  # "video" | "image"
    order_dependent: bool
    weight: int  # share in the default mix
    n_slots: int  # length of the balanced cycle of (class, cue) combinations
    make: Callable[[np.random.Generator, int, SynthConfig], Sample]
    joint: Callable[[], list[tuple[Hashable, str, float]]]
    shortcut: str = ""  # the static cue, if the task has one
    # in the default mix of `video-r1 synth`; an opt-in task is generated only when named, so
    # adding one leaves the default benchmark (and everything built on it) unchanged
    default: bool = True
    extras: dict = field(default_factory=dict)

    @property
    def chance_accuracy(self) -> float:
        return chance_accuracy(self.joint())

    @property
    def order_blind_accuracy(self) -> float:
        return best_accuracy(self.joint())


def chance_accuracy(joint: list[tuple[Hashable, str, float]]) -> float:
    """Exact-match accuracy of a uniform guess over the answers the task can have.

    Example:
        >>> chance_accuracy([((), "A", 0.5), ((), "B", 0.5)])
        0.5
    """
    return 1.0 / len({answer for _, answer, _ in joint})


def best_accuracy(joint: list[tuple[Hashable, str, float]]) -> float:
    """Bayes accuracy: for each observation, answer the likeliest answer given it.

    Example: direction seen only through colour, which agrees with it 75% of the time:
        >>> best_accuracy([("red", "right", 0.375), ("red", "left", 0.125),
        ...                ("blue", "left", 0.375), ("blue", "right", 0.125)])
        0.75
    """
    mass: dict[Hashable, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for observation, answer, prob in joint:
        mass[observation][answer] += prob
    total = sum(prob for _, _, prob in joint)
    return round(sum(max(by_answer.values()) for by_answer in mass.values()) / total, 6)


def cue_agrees(slot: int, n_classes: int) -> bool:
    """Whether a shortcut task's static cue gives the answer in this slot: the slot cycles
    through the answer classes first, then through CUE_SLOTS agreement slots (3 of 4 agree).

    Example:
        >>> [cue_agrees(s, 2) for s in range(8)]
        [True, True, True, True, True, True, False, False]
    """
    return (slot // n_classes) % CUE_SLOTS < round(CUE_RATE * CUE_SLOTS)


def lettered(choices: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Options in the dataset's format.

    Example:
        >>> lettered(["left", "right"])
        ('A. left', 'B. right')
    """
    return tuple(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))


def balanced_slots(rng: np.random.Generator, n_slots: int, count: int) -> list[int]:
    """`count` slots made of shuffled full cycles of range(n_slots) (the last one cut short).

    Example:
        >>> sorted(balanced_slots(np.random.default_rng(0), 2, 4))
        [0, 0, 1, 1]
    """
    cycles = -(-count // n_slots)
    return [int(s) for _ in range(cycles) for s in rng.permutation(n_slots)][:count]
