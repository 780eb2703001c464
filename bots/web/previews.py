"""Small previews for page grids: image thumbnails and video poster frames, made once and kept on disk.

A grid never loads full-size originals: a 1024 px PNG is about 1.5 MB, its 360 px WebP thumbnail about 20 KB.
Previews are made on first request and kept under ``<data dir>/cache/previews`` by the source's content
digest, so each one is made once per web process's disk, whoever asks; the folder can be deleted at any time.

Poster frames need ffmpeg. The web page makes them itself, with the binary from ``imageio-ffmpeg`` (a
dependency of the ``bots`` extra, so the web container has it) or an ``ffmpeg`` on the PATH; without either, a
video tile shows a plain placeholder instead of a frame. See "Web pages" in docs/ARCHITECTURE.md for why the
worker does not make them.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError

log = logging.getLogger(__name__)

GRID_SIDE = 360  # gallery tiles: about 180 CSS px at 2x
WIDE_SIDE = 640  # export page tiles are larger: a phone shows one or two across
QUALITY = 78
POSTER_TIMEOUT_S = 20.0
PREVIEW_TYPE = "image/webp"


def find_ffmpeg() -> str | None:
    """An ffmpeg binary: imageio-ffmpeg's when installed, else one on the PATH; None when there is none."""
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        return shutil.which("ffmpeg")


class Previews:
    """Makes and keeps previews in ``root``; ``ffmpeg`` (a binary path or None) makes video posters."""

    def __init__(self, root: Path, *, ffmpeg: str | None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.scratch = self.root / "tmp"
        self.scratch.mkdir(exist_ok=True)
        self.ffmpeg = ffmpeg

    @property
    def makes_posters(self) -> bool:
        """Whether video tiles get a frame of the video."""
        return self.ffmpeg is not None

    def path_for(self, key: str, side: int) -> Path:
        """Where the preview of ``key`` at ``side`` pixels is kept (``key``: a digest, maybe with a suffix)."""
        return self.root / key[:2] / f"{key}-{side}.webp"

    def image(self, key: str, side: int, source: Callable[[], BinaryIO]) -> Path | None:
        """The thumbnail of an image, made from ``source()`` on first use; None when it cannot be read."""
        target = self.path_for(key, side)
        if target.is_file():
            return target
        try:
            with source() as stream, Image.open(stream) as opened:
                # JPEG decodes straight at a reduced scale: far faster for the large files exports hold.
                opened.draft("RGB", (side * 2, side * 2))
                picture = ImageOps.exif_transpose(opened)
                picture.thumbnail((side, side), Image.Resampling.LANCZOS, reducing_gap=2.0)
                return self._save(_flatten(picture), target)
        except (OSError, UnidentifiedImageError, Image.DecompressionBombError, ValueError) as exc:
            log.warning("no thumbnail for %s: %s", key, exc)
            return None

    def poster(self, key: str, side: int, video: Callable[[], AbstractContextManager[Path]],
               duration_s: float | None) -> Path | None:
        """A frame of a video as a thumbnail, made on first use; None without ffmpeg or when no frame decodes.

        The frame is a tenth into the clip (at most 1 s): the very first frame of a fade or of a camera move
        is often its least telling one.
        """
        target = self.path_for(key, side)
        if target.is_file():
            return target
        if self.ffmpeg is None:
            return None
        at = min(1.0, (duration_s or 0.0) / 10)
        self.scratch.mkdir(parents=True, exist_ok=True)
        with video() as path:
            frame = self._frame(path, at) or (self._frame(path, 0.0) if at else None)
        if frame is None:
            return None
        with Image.open(io.BytesIO(frame)) as opened:
            picture = opened.convert("RGB")
            picture.thumbnail((side, side), Image.Resampling.LANCZOS, reducing_gap=2.0)
            return self._save(picture, target)

    def _frame(self, path: Path, at: float) -> bytes | None:
        assert self.ffmpeg is not None
        command = [self.ffmpeg, "-hide_banner", "-loglevel", "error", "-ss", f"{at:.3f}", "-i", str(path),
                   "-frames:v", "1", "-an", "-f", "image2pipe", "-c:v", "png", "pipe:1"]
        try:
            done = subprocess.run(command, capture_output=True, timeout=POSTER_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("no poster frame from %s: %s", path.name, exc)
            return None
        if done.returncode != 0 or not done.stdout:
            log.warning("no poster frame from %s: %s", path.name, done.stderr.decode(errors="replace")[-300:])
            return None
        return done.stdout

    def _save(self, picture: Image.Image, target: Path) -> Path:
        # The cache may have been deleted while the page runs (that is allowed): make its folders again.
        target.parent.mkdir(parents=True, exist_ok=True)
        self.scratch.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=self.scratch, prefix="preview-", suffix=".webp")
        try:
            with os.fdopen(fd, "wb") as out:
                picture.save(out, "WEBP", quality=QUALITY, method=4)
            # Two requests for the same new preview may both make it: the rename lets the last one win whole.
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return target


def _flatten(picture: Image.Image) -> Image.Image:
    """RGB on white: transparency would show the tile's own background through a thumbnail."""
    if picture.mode in ("RGBA", "LA") or (picture.mode == "P" and "transparency" in picture.info):
        rgba = picture.convert("RGBA")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    return picture.convert("RGB")


def fitted(width: int, height: int, side: int) -> tuple[int, int]:
    """The size a ``width``×``height`` picture gets as a preview of at most ``side`` pixels."""
    if width <= 0 or height <= 0:
        return side, side
    scale = min(1.0, side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))
