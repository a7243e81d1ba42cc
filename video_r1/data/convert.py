"""Converting published annotation files into Video-R1-format records (`video-r1 data convert`).

Charades-STA (the TALL release, Gao et al. 2017): one moment per line,
`VIDEO_ID START END##sentence`, times in seconds; the videos are Charades' `VIDEO_ID.mp4`.
Each line becomes one temporal grounding record (docs/spec.md#temporal-grounding):

    {"problem_id": "3MSZA_0", "problem": QUESTION with the query, "data_type": "video",
     "problem_type": "temporal grounding", "solution": "<answer>[24.3, 30.4]</answer>",
     "path": "3MSZA.mp4", "data_source": "charades-sta", "query": "person turn a light on"}

The query is the sentence as Time-R1's loader reads it (stripped, lower-cased, a final "."
removed); the problem puts it in Time-R1's question (`QUESTION`); the answer format is the
grounding type's instruction, added by the prompt like every type's.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

SOURCES: tuple[str, ...] = ("charades-sta",)
# Time-R1's question (www-Ye/Time-R1 `src/open_r1/grpo_video.py` QUESTION_TEMPLATE, first line)
QUESTION = (
    'To accurately pinpoint the event "{query}" in the video, determine the precise time '
    "period of the event."
)


@dataclass(frozen=True)
class BadLine:
    """One annotation line that makes no record; str() is `file:line: reason`."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


def clean_query(sentence: str) -> str:
    """The query as Time-R1 reads a sentence: stripped, lower-cased, a final "." removed.

    Example:
        >>> clean_query(" Person turns a light on. ")
        'person turns a light on'
    """
    query = sentence.strip().lower()
    return query[:-1].rstrip() if query.endswith(".") else query


def parse_charades_line(text: str) -> tuple[str, float, float, str] | str:
    """(video id, start, end, query) of one `VIDEO_ID START END##sentence` line, or the reason
    it is not one (a str).

    Example:
        >>> parse_charades_line("3MSZA 24.3 30.4##person turn a light on.")
        ('3MSZA', 24.3, 30.4, 'person turn a light on')
        >>> parse_charades_line("3MSZA 30.4 24.3##x")
        'start 30.4 is not before end 24.3'
    """
    head, sep, sentence = text.partition("##")
    if not sep:
        return "no '##' between the times and the sentence"
    fields = head.split()
    if len(fields) != 3:
        return f"expected 'VIDEO_ID START END' before '##', got {head.strip()!r}"
    video_id, start_text, end_text = fields
    try:
        start, end = float(start_text), float(end_text)
    except ValueError:
        return f"start and end must be numbers (seconds), got {start_text!r} and {end_text!r}"
    if not (math.isfinite(start) and math.isfinite(end)):
        return f"start and end must be finite, got {start_text!r} and {end_text!r}"
    if start < 0:
        return f"start {start} is negative"
    if start >= end:
        return f"start {start} is not before end {end}"
    query = clean_query(sentence)
    if not query:
        return "empty sentence after '##'"
    return video_id, start, end, query


def media_path(video_id: str, videos: str | os.PathLike, media_root: str | os.PathLike) -> str:
    """The record's `path`: `VIDEO_ID.mp4` in `videos`, relative to `media_root` (which must
    hold `videos`).

    Example:
        >>> media_path("3MSZA", "data/charades/videos", "data")
        'charades/videos/3MSZA.mp4'
    """
    root, folder = Path(media_root).resolve(), Path(videos).resolve()
    if not folder.is_relative_to(root):
        raise ValueError(f"--videos {videos} is not inside the media root {media_root}")
    return (folder / f"{video_id}.mp4").relative_to(root).as_posix()


def convert_charades_sta(
    annotations: str | os.PathLike,
    videos: str | os.PathLike,
    media_root: str | os.PathLike | None = None,
    question: str = QUESTION,
) -> tuple[list[dict], list[BadLine]]:
    """Records of every good line of a Charades-STA annotation file, and the bad lines.

    Blank lines are skipped. problem_id is `VIDEO_ID_k`, k counting that video's moments in
    file order (as Time-R1 names them). `media_root` defaults to `videos`. Raises ValueError
    when `question` has no `{query}` or `videos` lies outside `media_root`.
    """
    if "{query}" not in question:
        raise ValueError(f"the question {question!r} has no {{query}} to put the sentence in")
    root = videos if media_root is None else media_root
    name = str(annotations)
    records: list[dict] = []
    bad: list[BadLine] = []
    seen: dict[str, int] = {}
    text = Path(annotations).read_text(encoding="utf-8-sig")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parsed = parse_charades_line(line)
        if isinstance(parsed, str):
            bad.append(BadLine(name, number, parsed))
            continue
        video_id, start, end, query = parsed
        k = seen.get(video_id, 0)
        seen[video_id] = k + 1
        records.append(
            {
                "problem_id": f"{video_id}_{k}",
                "problem": question.replace("{query}", query),
                "data_type": "video",
                "problem_type": "temporal grounding",
                "solution": f"<answer>{json.dumps([start, end])}</answer>",
                "path": media_path(video_id, videos, root),
                "data_source": "charades-sta",
                "query": query,
            }
        )
    return records, bad
