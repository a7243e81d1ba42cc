"""The package's shape: one home per concern, files of a readable size (docs/design.md)."""

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "video_r1"
PROCESSOR_KEYS = re.compile(r"pixel_values|_grid_thw|second_per_grid_ts")


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_only_the_prompting_stage_names_processor_keys() -> None:
    # rollouts, evaluation and recipes take the key table from video_r1.prompts
    outside = [
        str(path.relative_to(PACKAGE))
        for path in _sources()
        if PROCESSOR_KEYS.search(path.read_text())
        and not path.relative_to(PACKAGE).parts[0].startswith("prompts")
    ]
    assert outside == []
