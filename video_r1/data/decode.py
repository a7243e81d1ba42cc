"""Opening every media file of a dataset in parallel (`data check --decode`)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from video_r1.data.records import Problem, Record


def decode_problem(record: Record) -> Problem | None:
    """Open the record's media with the media stage; a Problem if it fails, else None."""
    from video_r1.media import ImageSettings, load_image, probe_video
    from video_r1.media.types import MediaError

    try:
        if record.data_type == "video":
            probe_video(record.media_path)
        else:
            load_image(record.media_path, ImageSettings())
    except MediaError as err:
        reason = f"decode: {err.reason}"
        return Problem(
            record.file, record.line, record.problem_id, "path", reason, record.index,
            record.in_array,
        )  # fmt: skip
    return None


def decode_problems(records: list[Record], workers: int) -> list[Problem]:
    """Decode all records' media with a thread pool (decoders release the GIL); show progress."""
    from tqdm import tqdm

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(
            tqdm(pool.map(decode_problem, records), total=len(records), desc="decode", unit="file")
        )
    return [p for p in results if p is not None]
