"""Synthetic video/image reasoning benchmark in the Video-R1 schema (see `video-r1 synth`)."""

from video_r1.synth.generate import TASKS, generate_benchmark, generate_samples, select_tasks
from video_r1.synth.tasks import Sample, SynthConfig, Task, best_accuracy, chance_accuracy

__all__ = [
    "TASKS",
    "Sample",
    "SynthConfig",
    "Task",
    "best_accuracy",
    "chance_accuracy",
    "generate_benchmark",
    "generate_samples",
    "select_tasks",
]
