"""decord reader (the fallback backend, and the reader qwen-vl-utils itself uses)."""

from __future__ import annotations

import numpy as np

from video_r1.media.video_pyav import BackendError, import_backend


class DecordVideo:
    """An opened video through decord: num_frames, fps; `read(indices)` decodes frames."""

    def __init__(self, path: str, threads: int | None = None):
        decord = import_backend("decord", "decord2")
        try:
            self._reader = decord.VideoReader(path, num_threads=threads or 0)
            self.num_frames = len(self._reader)
            self.fps = float(self._reader.get_avg_fps())
        except Exception as e:  # decord raises bare DECORDError/RuntimeError for everything
            raise BackendError(f"decord cannot open it ({_first_line(e)})") from e
        if self.num_frames <= 0:
            raise BackendError("zero frames")
        self.rotation = 0  # decord applies +-90 itself; 180 it mis-decodes (caught in read)

    def read(self, indices: list[int]) -> tuple[np.ndarray, list[float]]:
        """uint8 [len(indices), H, W, 3] frames and their start times in seconds."""
        try:
            frames = self._reader.get_batch(list(indices)).asnumpy()
            seconds = self._reader.get_frame_timestamp(list(indices))[:, 0].tolist()
        except Exception as e:
            raise BackendError(f"decord cannot decode frames ({_first_line(e)})") from e
        if frames.ndim != 4 or frames.shape[0] != len(indices):
            raise BackendError(f"decord returned an unexpected array of shape {frames.shape}")
        if frames.shape[-1] != 3:
            # Seen with decord2 on streams with 180-degree rotation metadata: the 4-channel
            # output is scrambled, not RGBA, so it cannot be repaired by dropping a channel.
            raise BackendError(f"decord returned {frames.shape[-1]}-channel frames")
        start = float(self._reader.get_frame_timestamp([0])[0, 0])
        return np.ascontiguousarray(frames, dtype=np.uint8), [float(s) - start for s in seconds]


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else type(error).__name__
