"""Video in and out through the ffmpeg binary that ships in the ``imageio-ffmpeg`` wheel.

Frames cross the process boundary as raw RGB24 over pipes, so no codec library is linked into the worker.
Encoding writes H.264 (yuv420p, ``+faststart``) MP4, which every chat platform plays inline. Audio is added in
a second pass (:func:`mux_audio`): an encoder that also reads the source file for its audio while we feed it
frames can deadlock once both pipes fill.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import threading
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import IO

import numpy as np

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

_STREAM_RE = re.compile(r"Stream #\d+:\d+.*?: (Video|Audio): (\w+)(.*)")
_DURATION_RE = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_SIZE_RE = re.compile(r", (\d{2,5})x(\d{2,5})")
_FPS_RE = re.compile(r", (\d+(?:\.\d+)?) fps")
_ROTATION_RE = re.compile(r"rotat(?:e|ion)\s*(?:of|:)?\s*(-?\d+(?:\.\d+)?)")
_FRAME_RE = re.compile(r"frame=\s*(\d+)")


def probe(path: Path, *, count_frames: bool = False) -> VideoInfo:
    """Size, frame rate, duration and audio presence of the video at ``path``.

    The shipped build has no ffprobe, so this reads ffmpeg's own banner. ``count_frames`` decodes the stream
    (fast, no scaling) for an exact frame count; otherwise it is estimated from duration × fps.
    """
    result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
                            capture_output=True, timeout=120)
    report = result.stderr.decode("utf-8", "replace")
    video = audio = None
    for match in _STREAM_RE.finditer(report):
        if match.group(1) == "Video" and video is None:
            video = match
        elif match.group(1) == "Audio" and audio is None:
            audio = match
    if video is None:
        raise MediaError(f"no video stream in {Path(path).name}: {report.strip()[-300:]}")
    size = _SIZE_RE.search(video.group(3))
    if size is None:
        raise MediaError(f"cannot read the picture size of {Path(path).name}")
    fps_match = _FPS_RE.search(video.group(3))
    fps = float(fps_match.group(1)) if fps_match else 0.0
    duration_match = _DURATION_RE.search(report)
    duration = 0.0
    if duration_match:
        hours, minutes, seconds = duration_match.groups()
        duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    rotation_match = _ROTATION_RE.search(report)
    rotation = round(float(rotation_match.group(1))) % 360 if rotation_match else 0
    frames = round(duration * fps) if fps and duration else 0
    if count_frames:
        counted = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0",
                                  "-f", "null", "-"], capture_output=True, timeout=600)
        found = _FRAME_RE.findall(counted.stderr.decode("utf-8", "replace"))
        if found:
            frames = int(found[-1])
    return VideoInfo(width=int(size.group(1)), height=int(size.group(2)), fps=fps, frames=frames,
                     duration_s=duration, has_audio=audio is not None, codec=video.group(2), rotation=rotation)


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


class VideoWriter:
    """Writes RGB frames to an H.264 MP4 at ``path``; the file appears only once it is complete.

    Use as a context manager. Frames must all be ``size`` = (width, height), both even. On any error the
    partial output is removed, so nothing half-written is left behind.
    """

    def __init__(self, path: Path, *, size: tuple[int, int], fps: float, crf: int = 20,
                 preset: str = "veryfast") -> None:
        width, height = size
        if width % 2 or height % 2 or width < 2 or height < 2:
            raise ValueError(f"video size must be even and at least 2x2, got {width}x{height}")
        if not 1 <= fps <= 120:
            raise ValueError(f"fps must be between 1 and 120, got {fps:g}")
        self.path = Path(path)
        self.size = (width, height)
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


_TAG_RE = re.compile(r"^\s{4}(\w+)\s*: (.*)$")


def read_tags(path: Path) -> dict[str, str]:
    """The container-level metadata tags of a media file (``comment``, ``description`` ...)."""
    result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True,
                            timeout=120)
    tags: dict[str, str] = {}
    in_container = False
    for line in result.stderr.decode("utf-8", "replace").splitlines():
        if line.startswith("Input #"):
            in_container = True
        elif in_container and line.strip().startswith(("Duration:", "Stream #")):
            break  # what follows belongs to the streams
        elif in_container and (match := _TAG_RE.match(line)):
            tags[match.group(1)] = match.group(2).strip()
    return tags


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
