"""PyAV video reader: decodes only what the sampled frames need, in parallel across GOPs.

Why it is fast (figures in benchmarks/frames.py): packets are demuxed once (cheap, no
decoding); each group of pictures (keyframe to keyframe, decode order) that holds a wanted
frame is decoded by its own decoder on a small thread pool (FFmpeg releases the GIL), only up
to the last wanted packet of the group; H.264 packets marked non-reference (nal_ref_idc == 0)
that are not wanted are never decoded, because no other picture can depend on them; and only
the wanted frames are converted to RGB. The output is bit-identical to a full sequential
decode (tested against decord). Anything the plan cannot vouch for (missing or duplicate
timestamps, open GOPs) falls back to a plain sequential decode.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from video_r1.media.types import BackendMissing


class BackendError(Exception):
    """A backend could not read a file; load_video turns it into MediaError."""


def import_backend(module: str, package: str):
    """The backend's library, or BackendMissing saying what to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise BackendMissing([f"{module} is not installed (pip install {package})"]) from e


@dataclass
class _Packets:
    """Video packets of one stream in decode order, with what the planner needs."""

    packets: list  # av.Packet, decode order
    pts: list[int | None]
    keyframe: list[bool]
    nonref: list[bool]  # True only when provably not a reference picture (H.264 nal_ref_idc 0)
    # decoded as a reference, never shown: the lead-in of a clip cut without re-encoding
    # (`ffmpeg -ss ... -c copy` writes an edit list; the decoder drops these frames)
    discard: list[bool]


def default_threads() -> int:
    """Decoder threads: 2 at most (the GOP pool gains little beyond, and workers multiply)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(2, cpus))


def h264_nonref(data: bytes, length_size: int) -> bool:
    """True if every slice NAL unit of an AVCC H.264 access unit has nal_ref_idc == 0.

    Example: h264_nonref(b"\\x00\\x00\\x00\\x02\\x01\\x9e", 4) is True (slice, ref_idc 0);
    h264_nonref(b"\\x00\\x00\\x00\\x02\\x41\\x9a", 4) is False (slice, ref_idc 2).
    """
    i, seen_slice = 0, False
    while i + length_size < len(data):
        size = int.from_bytes(data[i : i + length_size], "big")
        header = data[i + length_size]
        if header & 0x1F in (1, 5):  # coded slice (non-IDR / IDR)
            seen_slice = True
            if header & 0x60:  # nal_ref_idc != 0
                return False
        i += length_size + size
    return seen_slice


def _avcc_length_size(codec_name: str, extradata: bytes | None) -> int | None:
    """NAL length-prefix size of an AVCC H.264 stream, None if not AVCC H.264."""
    if codec_name != "h264" or not extradata or len(extradata) < 7 or extradata[0] != 1:
        return None
    return (extradata[4] & 0x03) + 1


def _say(error: BaseException) -> str:
    """A library exception as one short line: its type and first line of message."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0][:300]}" if lines else type(error).__name__


def _declared_seconds(stream) -> float | None:
    """The stream's own declared duration in seconds: its header's, or Matroska's per-track
    DURATION tag ("00:01:02.500000000"); None when it declares none.

    Example: a Matroska track tagged DURATION "00:00:06.000000000" -> 6.0
    """
    if stream.duration:
        return float(stream.duration * stream.time_base)
    tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    try:
        hours, minutes, seconds = str(tag).split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except (TypeError, ValueError):
        return None


def _rotation_k(rotation: float | int | None) -> int:
    """Quarter turns counterclockwise for a display-matrix rotation in degrees."""
    return int(round((rotation or 0) / 90.0)) % 4


class PyAVVideo:
    """An opened video: info from the demuxed packets; `read(indices)` decodes frames."""

    def __init__(self, path: str, threads: int | None = None):
        av = import_backend("av", "av")
        self.path = path
        self.threads = threads or default_threads()
        # Any library exception (FFmpegError, or e.g. ValueError for an exotic pixel format)
        # becomes a BackendError: load_video promises MediaError and nothing else.
        try:
            container = av.open(path)
        except Exception as e:
            raise BackendError(f"cannot open container ({_say(e)})") from e
        try:
            self._demux(container)
        except BackendError:
            raise
        except Exception as e:
            raise BackendError(f"cannot demux, truncated or corrupt ({_say(e)})") from e
        finally:
            container.close()

    def _demux(self, container) -> None:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams})
            raise BackendError(
                f"audio only, no video stream (streams: {kinds})"
                if "audio" in kinds
                else f"not a video: no video stream (streams: {kinds or 'none'})"
            )
        stream = container.streams.video[0]
        ctx = stream.codec_context
        self.codec_name, self.extradata = ctx.name, ctx.extradata
        self.time_base = stream.time_base
        self.header_frames = stream.frames
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        length_size = _avcc_length_size(ctx.name, ctx.extradata)
        pk = _Packets([], [], [], [], [])
        for packet in container.demux(stream):
            if packet.size == 0:  # the end-of-stream flush packet
                continue
            pk.packets.append(packet)
            pk.pts.append(packet.pts)
            pk.keyframe.append(bool(packet.is_keyframe))
            pk.nonref.append(length_size is not None and h264_nonref(bytes(packet), length_size))
            pk.discard.append(bool(packet.is_discard))
        self._pk = pk
        shown = len(pk.packets) - sum(pk.discard)
        # with an edit list the demuxer also drops the samples before the cut's keyframe, so
        # the header's count (every sample) says nothing about truncation there
        if self.header_frames and not any(pk.discard) and shown < self.header_frames:
            raise BackendError(
                f"truncated: header lists {self.header_frames} frames, file holds {shown}"
            )
        if not self.header_frames:  # Matroska, WebM, TS: no count to check, maybe a duration
            self._check_duration(stream, rate)
        if not pk.packets:
            raise BackendError("zero frames: the video stream has no packets")
        if not shown:
            raise BackendError("zero frames: every packet of the video stream is marked discard")
        self.num_frames = shown  # frames shown: a discarded lead-in is not part of the clip
        self.fps = float(rate) if rate else 0.0
        self.start_pts = min(
            (p for p, gone in zip(pk.pts, pk.discard, strict=True) if p is not None and not gone),
            default=0,
        )
        self.rotation = self._read_rotation(ctx)

    def _check_duration(self, stream, rate) -> None:
        """Refuse a stream whose packets end well before the duration it declares (a file
        cut short: Matroska keeps its header's duration, and no frame count tells)."""
        declared = _declared_seconds(stream)
        times = [p for p, gone in zip(self._pk.pts, self._pk.discard, strict=True)
                 if p is not None and not gone]  # fmt: skip
        if not declared or not times:
            return
        frame = 1.0 / float(rate) if rate else 0.0
        covered = float((max(times) - min(times)) * stream.time_base) + frame
        if covered < declared - max(1.0, 0.1 * declared):
            raise BackendError(
                f"truncated: the stream declares {declared:.1f} s, its frames end at {covered:.1f} s"
            )

    def _read_rotation(self, ctx) -> int:
        """Display rotation (degrees counterclockwise) from the first decoded frame.

        Only the stream's own decoder attaches the container's display matrix to frames; the
        per-GOP decoders made from the codec name do not, so it is read once here. One decoder
        thread, as the GOP decoders have: one frame needs no threads, and the stream's default
        (thread_count 0: FFmpeg slice threads for every CPU) is the setting PyAV users report
        decode deadlocks with when other threads compete (vLLM's PyAV backend, for one).
        """
        ctx.thread_count = 1  # before the first decode opens the codec
        for packet in [*self._pk.packets[:16], None]:
            for frame in ctx.decode(packet):
                return _rotation_k(frame.rotation) * 90
        return 0

    def read(self, indices: list[int]) -> tuple[np.ndarray, list[float]]:
        """uint8 [len(indices), H, W, 3] frames (display orientation) and their seconds."""
        if not indices:
            raise ValueError("no frame indices to read")
        if max(indices) >= self.num_frames or min(indices) < 0:
            raise BackendError(f"frame index out of range 0..{self.num_frames - 1}: {indices}")
        wanted = sorted(set(indices))

        try:
            jobs = self._plan(set(wanted))
            if jobs is None:
                got = self._decode_sequential(set(wanted))
            elif len(jobs) > 1 and self.threads > 1:
                got = {}
                with ThreadPoolExecutor(min(self.threads, len(jobs))) as pool:
                    for part in pool.map(self._decode_job, jobs):
                        got.update(part)
            else:
                got = {}
                for job in jobs:
                    got.update(self._decode_job(job))
        except Exception as e:  # see __init__: nothing from the library escapes
            raise BackendError(f"decoding failed, corrupt or truncated data ({_say(e)})") from e
        missing = [i for i in wanted if i not in got]
        if missing:
            raise BackendError(f"truncated or corrupt: frames {missing[:5]} could not be decoded")
        frames = np.stack([got[i][0] for i in indices])
        seconds = [got[i][1] for i in indices]
        return frames, seconds

    def _plan(self, wanted: set[int]) -> list[tuple[list, dict[int, int]]] | None:
        """Decode jobs: (packets to feed, pts -> display index) per needed GOP; None when the
        stream's timestamps cannot be trusted for planning."""
        pk = self._pk
        if any(p is None for p in pk.pts) or len(set(pk.pts)) != len(pk.pts):
            return None
        # display order = pts order, of the frames shown (discarded ones get no index)
        rank = {p: i for i, p in enumerate(sorted(p for p, gone in zip(pk.pts, pk.discard,
                                                                      strict=True) if not gone))}  # fmt: skip
        groups: list[list[int]] = []
        for i, key in enumerate(pk.keyframe):
            if key or not groups:
                groups.append([])
            groups[-1].append(i)
        for group in groups:  # open GOP: a picture shown before its keyframe needs the last GOP
            if any(pk.pts[i] < pk.pts[group[0]] for i in group):
                return None
        pts_to_index = {p: rank[p] for p in rank if rank[p] in wanted}
        jobs = []
        for group in groups:
            needed = [j for j, i in enumerate(group) if pk.pts[i] in pts_to_index]
            if not needed:
                continue
            kept = [
                pk.packets[i]
                for i in group[: needed[-1] + 1]
                if pk.pts[i] in pts_to_index or not pk.nonref[i]
            ]
            jobs.append((kept, pts_to_index))
        return jobs

    def _new_decoder(self):
        import av

        ctx = av.CodecContext.create(self.codec_name, "r")
        if self.extradata:
            ctx.extradata = self.extradata
        ctx.thread_count = 1  # parallelism comes from decoding GOPs side by side
        return ctx

    def _keep(self, frame) -> tuple[np.ndarray, float]:
        array = frame.to_ndarray(format="rgb24")
        k = self.rotation // 90
        if k:
            array = np.ascontiguousarray(np.rot90(array, k))
        pts = frame.pts if frame.pts is not None else self.start_pts
        return array, float((pts - self.start_pts) * self.time_base)

    def _decode_job(self, job: tuple[list, dict[int, int]]) -> dict[int, tuple[np.ndarray, float]]:
        packets, pts_to_index = job
        decoder, got = self._new_decoder(), {}
        for packet in [*packets, None]:  # None flushes the decoder's reorder buffer
            for frame in decoder.decode(packet):
                index = pts_to_index.get(frame.pts)
                if index is not None:
                    got[index] = self._keep(frame)
        return got

    def _decode_sequential(self, wanted: set[int]) -> dict[int, tuple[np.ndarray, float]]:
        decoder, got, shown = self._new_decoder(), {}, 0
        for packet in [*self._pk.packets, None]:
            for frame in decoder.decode(packet):
                if shown in wanted:
                    got[shown] = self._keep(frame)
                shown += 1
            if wanted and shown > max(wanted):
                break
        return got
