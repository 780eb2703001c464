"""Video in and out through the ffmpeg binary that ships in the ``imageio-ffmpeg`` wheel; probing through PyAV.

Frames cross the process boundary as raw RGB24 over pipes to and from that binary. It has no ffprobe, so what a
file holds (:func:`probe`, :func:`read_tags`) is read with PyAV, FFmpeg's libraries bound in-process, as
structured fields rather than by parsing ffmpeg's human-readable report.

Encoding writes H.264 (yuv420p, ``+faststart``) MP4, which every chat platform plays inline. Audio is added in
a second pass (:func:`mux_audio`): an encoder that also reads the source file for its audio while we feed it
frames can deadlock once both pipes fill.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import av

STDERR_TAIL = 2000  # characters of ffmpeg's stderr kept for error messages


class MediaError(RuntimeError):
    """ffmpeg could not read or write a file; the message carries the end of ffmpeg's own report."""


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` found in a media file."""

    width: int
    height: int
    fps: float
    frames: int
    duration_s: float
    has_audio: bool
    codec: str
    rotation: int = 0  # degrees the player rotates the picture by (phone videos); frames are decoded upright

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height as shown, after rotation."""
        return (self.height, self.width) if self.rotation % 180 == 90 else (self.width, self.height)


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped by ``imageio-ffmpeg`` (``IMAGEIO_FFMPEG_EXE`` overrides it)."""
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def even(value: float) -> int:
    """``value`` rounded down to an even number of at least 2: yuv420p needs even dimensions."""
    return max(2, int(value) // 2 * 2)


def _tail(data: bytes) -> str:
    return data.decode("utf-8", "replace").strip()[-STDERR_TAIL:]


# ---- probing --------------------------------------------------------------------------------------------------

# Demuxers that read one still picture: such a file has a "video" stream but is no video.
_IMAGE_FORMATS = ("image2", "_pipe")


def probe(path: Path, *, count_frames: bool = False) -> VideoInfo:
    """Size, frame rate, duration, audio presence and rotation of the video at ``path``.

    Read through PyAV (FFmpeg's libraries in-process): the container's own fields, and its first frame
    decoded, which proves the picture decodes and carries the rotation phone videos are shot with. Raises
    ``MediaError`` naming the file for anything that is not a complete, readable video: a missing or empty
    file, one that is not media, audio only, a still image, or a video cut short (its index points past the
    end of the file). ``frames`` is the container's frame count, else duration × fps; ``count_frames``
    decodes the whole stream for an exact count.
    """
    import av

    name = Path(path).name
    try:
        with av.open(str(path), metadata_errors="replace") as container:
            return _describe(container, name, Path(path).stat().st_size, count_frames=count_frames)
    except OSError as exc:  # missing, a directory, unreadable (PyAV's own errors for these are OSErrors too)
        raise MediaError(f"cannot open {name}: {_reason(exc)}") from exc
    except av.error.FFmpegError as exc:
        raise MediaError(f"{name} is not a video ffmpeg can read: {_reason(exc)}") from exc


def _describe(container: av.container.InputContainer, name: str, size: int, *, count_frames: bool) -> VideoInfo:
    if not container.streams.video:
        raise MediaError(f"no video stream in {name}")
    if container.format.name.endswith(_IMAGE_FORMATS):
        raise MediaError(f"{name} is a still image ({container.format.name}), not a video")
    video = container.streams.video[0]  # the stream ffmpeg's -map 0:v:0 picks
    width, height = video.codec_context.width, video.codec_context.height
    if not width or not height:
        raise MediaError(f"cannot read the picture size of {name}")
    ends = [entry.pos + entry.size for entry in video.index_entries or () if entry.pos >= 0]
    if ends and max(ends) > size:
        raise MediaError(f"{name} is cut short: its last frame lies {max(ends) - size} bytes past the end of "
                         "the file (an interrupted upload or copy?)")
    fps = float(video.average_rate or video.guessed_rate or 0)
    duration = _duration_s(container, video)
    if count_frames:
        video.thread_type = "AUTO"  # whole-stream decode: frame threads; one frame is quicker without
    decoded = container.decode(video)
    first = next(decoded, None)
    if first is None:
        raise MediaError(f"{name} has a video stream without a single frame")
    frames = video.frames or (round(duration * fps) if fps and duration else 0)
    if count_frames:
        frames = 1 + sum(1 for _ in decoded)
    return VideoInfo(width=width, height=height, fps=fps, frames=frames, duration_s=duration,
                     has_audio=bool(container.streams.audio), codec=video.codec_context.codec.canonical_name,
                     rotation=round(first.rotation) % 360)


def _duration_s(container: av.container.InputContainer, video: av.video.stream.VideoStream) -> float:
    """The container's duration (what players show), else the video stream's, else 0 where neither is known."""
    import av

    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    if video.duration is not None and video.time_base is not None:
        return float(video.duration * video.time_base)
    return 0.0


def _reason(exc: BaseException) -> str:
    """FFmpeg's own words for a failure, without the errno and path PyAV wraps them in."""
    return str(getattr(exc, "strerror", None) or exc)


# ---- decoding -------------------------------------------------------------------------------------------------


def read_frames(path: Path, *, size: tuple[int, int] | None = None, fps: float | None = None,
                max_frames: int | None = None) -> Generator[np.ndarray, None, None]:
    """The frames of ``path`` as upright RGB ``uint8`` arrays of shape (height, width, 3).

    ``size`` scales every frame to (width, height); ``fps`` resamples the frame rate. A caller that stops
    early calls ``close()`` on the generator (or lets it be collected): that stops and reaps the decoder.
    """
    info = probe(path)
    width, height = size if size is not None else info.display_size
    filters = []
    if fps is not None:
        filters.append(f"fps={fps:g}")
    if size is not None:
        filters.append(f"scale={width}:{height}:flags=bicubic")
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path), "-map", "0:v:0"]
    if filters:
        command += ["-vf", ",".join(filters)]
    if max_frames is not None:
        command += ["-frames:v", str(max_frames)]
    command += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    frame_bytes = width * height * 3
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    errors = _Drain(process.stderr)
    completed = False
    try:
        while True:
            chunk = _read_exactly(process.stdout, frame_bytes)
            if not chunk:
                break
            if len(chunk) < frame_bytes:
                break  # a truncated last frame: the file ended mid-frame
            yield np.frombuffer(chunk, dtype=np.uint8).reshape(height, width, 3)
        completed = True
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stdout.close()
        errors.join()
    if completed and process.returncode != 0:
        raise MediaError(f"ffmpeg could not decode {Path(path).name}: {_tail(errors.data)}")


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    parts: list[bytes] = []
    remaining = size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


class _Drain(threading.Thread):
    """Reads a pipe to its end on a thread, so a chatty ffmpeg never blocks on a full stderr pipe."""

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.data = b""
        self.start()

    def run(self) -> None:
        try:
            self.data = self.stream.read()
        finally:
            self.stream.close()  # the pipe is finished with: release its descriptor now, not at garbage collection


# ---- encoding -------------------------------------------------------------------------------------------------


# Given a clip's frame size, what to apply to each frame before encoding it (None: nothing at that size).
MarkFactory = Callable[[int, int], Callable[[np.ndarray], np.ndarray] | None]


class VideoWriter:
    """Writes RGB frames to an H.264 MP4 at ``path``; the file appears only once it is complete.

    Use as a context manager. Frames must all be ``size`` = (width, height), both even. On any error the
    partial output is removed, so nothing half-written is left behind.
    """

    def __init__(self, path: Path, *, size: tuple[int, int], fps: float, crf: int = 20,
                 preset: str = "veryfast", mark: MarkFactory | None = None) -> None:
        width, height = size
        if width % 2 or height % 2 or width < 2 or height < 2:
            raise ValueError(f"video size must be even and at least 2x2, got {width}x{height}")
        if not 1 <= fps <= 120:
            raise ValueError(f"fps must be between 1 and 120, got {fps:g}")
        self.path = Path(path)
        self.size = (width, height)
        # Applied to every frame before it is encoded (the provenance watermark), so the clip is encoded once.
        self._mark = mark(width, height) if mark is not None else None
        self.fps = fps
        self.frames = 0
        self._partial = self.path.with_name(f".{self.path.stem}.{os.getpid()}.partial.mp4")
        rate = Fraction(fps).limit_denominator(1001)
        command = [
            ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
            "-r", f"{rate.numerator}/{rate.denominator}", "-i", "-",
            "-an", "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p",
            "-movflags", "+faststart", str(self._partial),
        ]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
        assert self._process.stderr is not None
        self._errors = _Drain(self._process.stderr)

    def write(self, frame: np.ndarray) -> None:
        """Append one (height, width, 3) ``uint8`` RGB frame."""
        width, height = self.size
        if frame.shape != (height, width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"frame must be {height}x{width}x3 uint8, got {frame.shape} {frame.dtype}")
        if self._mark is not None:
            frame = self._mark(frame)
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(np.ascontiguousarray(frame).reshape(-1).data)  # no copy
        except BrokenPipeError as exc:
            self._process.wait()
            self._errors.join()
            raise MediaError(f"ffmpeg stopped while encoding: {_tail(self._errors.data)}") from exc
        self.frames += 1

    def close(self) -> Path:
        """Finish the file and move it into place; returns its path."""
        self._close_stdin()
        code = self._process.wait()
        self._errors.join()
        if code != 0:
            self._partial.unlink(missing_ok=True)
            raise MediaError(f"ffmpeg could not encode {self.path.name}: {_tail(self._errors.data)}")
        if self.frames == 0:
            self._partial.unlink(missing_ok=True)
            raise MediaError("no frames were written")
        os.replace(self._partial, self.path)
        return self.path

    def abort(self) -> None:
        """Stop ffmpeg and remove the partial file."""
        if self._process.poll() is None:
            self._process.kill()
        self._close_stdin()
        self._process.wait()
        self._errors.join()
        self._partial.unlink(missing_ok=True)

    def _close_stdin(self) -> None:
        # Closing flushes buffered frame bytes; if ffmpeg already died that raises, and the exit code (or the
        # kill in abort) is what reports the failure.
        assert self._process.stdin is not None
        if not self._process.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self._process.stdin.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_video(frames: Iterable[np.ndarray], path: Path, *, fps: float, crf: int = 20,
                preset: str = "veryfast") -> Path:
    """Encode ``frames`` (all the same even size) to an MP4 at ``path``."""
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise MediaError("no frames to encode")
    with VideoWriter(path, size=(first.shape[1], first.shape[0]), fps=fps, crf=crf, preset=preset) as writer:
        writer.write(first)
        for frame in iterator:
            writer.write(frame)
    return Path(path)


def mux_audio(video: Path, audio_from: Path, out: Path) -> Path:
    """``video``'s picture with ``audio_from``'s first audio track (AAC), cut to the shorter of the two.

    When ``audio_from`` has no audio the picture is copied as it is. The picture stream is never re-encoded.
    """
    out = Path(out)
    partial = out.with_name(f".{out.stem}.{os.getpid()}.partial.mp4")
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(video),
               "-i", str(audio_from), "-map", "0:v:0", "-map", "1:a:0?", "-c:v", "copy", "-c:a", "aac",
               "-b:a", "160k", "-shortest", "-movflags", "+faststart", str(partial)]
    result = subprocess.run(command, capture_output=True, timeout=600)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise MediaError(f"ffmpeg could not add the audio: {_tail(result.stderr)}")
    os.replace(partial, out)
    return out


def transcode(source: Path, out: Path, *, video_filter: str, fps: float, max_seconds: float | None = None,
              crf: int = 20, max_kbps: int | None = None, audio_kbps: int = 128,
              tags: Mapping[str, str] | None = None, preset: str = "veryfast",
              progress: Callable[[float], None] | None = None) -> Path:
    """``source`` re-encoded in one ffmpeg run: picture through ``video_filter``, audio to AAC, H.264 MP4 out.

    ``video_filter`` is a filtergraph that reads the decoded (upright) picture and ends in the output frame;
    labelled branches (``split=2[a][b];[a]...``) are allowed. The picture is resampled to ``fps`` and encoded
    at constant quality ``crf``, capped at ``max_kbps``; it stops at ``max_seconds``. The first audio track,
    if any, goes along as stereo AAC. The source's own metadata is dropped; ``tags`` are written instead.
    ``progress`` gets the encoded fraction now and then; whatever it raises stops ffmpeg, and on every
    failure the partial output is removed.
    """
    out = Path(out)
    info = probe(source)
    total = min(info.duration_s, max_seconds) if max_seconds else info.duration_s
    partial = out.with_name(f".{out.stem}.{os.getpid()}.partial.mp4")
    rate = Fraction(fps).limit_denominator(1001)
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-nostats", "-y",
               "-i", str(source), "-filter_complex", f"[0:v:0]{video_filter},fps={rate.numerator}/{rate.denominator},"
               "format=yuv420p[v]", "-map", "[v]", "-map", "0:a:0?", "-map_metadata", "-1", "-map_chapters", "-1"]
    if max_seconds:
        command += ["-t", f"{max_seconds:.3f}"]
    command += ["-c:v", "libx264", "-preset", preset, "-profile:v", "high", "-crf", str(crf),
                "-g", str(max(1, round(2 * fps)))]
    if max_kbps:
        command += ["-maxrate", f"{max_kbps}k", "-bufsize", f"{2 * max_kbps}k"]
    command += ["-c:a", "aac", "-b:a", f"{audio_kbps}k", "-ar", "48000", "-ac", "2"]
    for key, value in (tags or {}).items():
        command += ["-metadata", f"{key}={value}"]
    command += ["-movflags", "+faststart", "-progress", "pipe:1", str(partial)]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    errors = _Drain(process.stderr)
    try:
        for line in process.stdout:
            # ffmpeg's progress report: key=value lines, the encoded position in out_time_us.
            key, _, value = line.decode("ascii", "replace").strip().partition("=")
            if progress is not None and key == "out_time_us" and value.isdigit() and total > 0:
                progress(min(1.0, int(value) / 1e6 / total))
        code = process.wait()
        errors.join()
        if code != 0:
            raise MediaError(f"ffmpeg could not convert {Path(source).name}: {_tail(errors.data)}")
        os.replace(partial, out)
    except BaseException:
        if process.poll() is None:
            process.kill()
        process.wait()
        errors.join()
        partial.unlink(missing_ok=True)
        raise
    finally:
        process.stdout.close()
    return out


def read_tags(path: Path) -> dict[str, str]:
    """The container-level metadata tags of a media file (``comment``, ``description`` ...)."""
    import av

    try:
        with av.open(str(path), metadata_errors="replace") as container:
            return dict(container.metadata)
    except av.error.FFmpegError as exc:
        raise MediaError(f"cannot read the tags of {Path(path).name}: {_reason(exc)}") from exc


def still_frame(path: Path, *, at_s: float = 0.0) -> np.ndarray:
    """One upright RGB frame of ``path`` at ``at_s`` seconds (the first frame by default)."""
    info = probe(path)
    width, height = info.display_size
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-ss", f"{max(at_s, 0.0):.3f}",
               "-i", str(path), "-map", "0:v:0", "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    result = subprocess.run(command, capture_output=True, timeout=120)
    if result.returncode != 0 or len(result.stdout) < width * height * 3:
        raise MediaError(f"could not read a frame of {Path(path).name} at {at_s:g} s: {_tail(result.stderr)}")
    return np.frombuffer(result.stdout[: width * height * 3], dtype=np.uint8).reshape(height, width, 3)
