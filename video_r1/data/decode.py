"""Opening every media file of a dataset in parallel (`data check --decode`)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from video_r1.data.records import Problem, Record


def decode_problem(record: Record) -> Problem | None:
    """Open the record's media with the media stage; a Problem if it fails (or a grounding
    answer ends after the video), else None."""
    from video_r1.media import ImageSettings, load_image, probe_video
    from video_r1.media.types import MediaError

    try:
        if record.data_type == "video":
            info = probe_video(record.media_path)
            return _beyond_duration(record, info.num_frames, info.fps)
        load_image(record.media_path, ImageSettings())
    except MediaError as err:
        return _problem(record, "path", f"decode: {err.reason}")
    return None


def _beyond_duration(record: Record, num_frames: int, fps: float) -> Problem | None:
    """A grounding answer's end must lie within the video: at most its duration (frames / fps)
    plus one frame's time, which an annotation rounded up to the next frame may add."""
    from video_r1.rewards.grounding import GROUNDING, parse_solution

    interval = parse_solution(record.answer) if record.problem_type == GROUNDING else None
    if interval is None or not fps > 0:
        return None
    duration = num_frames / fps
    if interval[1] > duration + 1.0 / fps:
        reason = f"answer ends at {interval[1]} s, after the video's {duration:.3f} s"
        return _problem(record, "solution", reason)
    return None


def _problem(record: Record, field: str, reason: str) -> Problem:
    return Problem(
        record.file, record.line, record.problem_id, field, reason, record.index, record.in_array
    )


def decode_problems(records: list[Record], workers: int) -> list[Problem]:
    """Decode all records' media with a thread pool (decoders release the GIL); show progress."""
    from tqdm import tqdm

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(
            tqdm(pool.map(decode_problem, records), total=len(records), desc="decode", unit="file")
        )
    return [p for p in results if p is not None]
