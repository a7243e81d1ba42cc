"""The main job out of the box: synthetic benchmark -> tiny model -> SFT -> T-GRPO -> eval ->
report, on a laptop-sized CPU (`video-r1 demo`). pipeline.py runs the stages; report.py
writes OUT/report.md and its plots."""

from video_r1.demo.pipeline import add_arguments, run

__all__ = ["add_arguments", "run"]
