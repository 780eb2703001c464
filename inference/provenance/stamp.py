"""Both layers on a finished file: the invisible watermark in its pixels, then the IPTC label and a signed
C2PA manifest in its metadata. The watermark goes first because the signature covers the pixels.

``stamp`` is what a worker calls on every image or video it delivers; exports use the same ``Stamper`` on each
rendition (``inference/export``), watermarking the frame after it has been scaled to the preset's exact size.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

from core.platforms import IMAGE, VIDEO
from core.settings import Settings
from inference.media import MarkFactory, probe, transcode
from inference.provenance import iptc, labels, payload, watermark
from inference.provenance.credentials import MIME, Claim, Ingredient, Signer, sniff_file
from inference.provenance.keys import SigningKeys, load_keys
from storage.states import AssetOrigin

JPEG_QUALITY = 95  # a delivered JPEG is re-encoded once to carry the watermark: keep that generation light
PNG_COMPRESSION = 1  # zlib level: a delivered PNG is a little larger, and written several times faster
VIDEO_CRF = 18  # the watermarking re-encode of a delivered clip: visually lossless
IMAGE_CONTAINERS = ("jpeg", "png", "webp")
VIDEO_CONTAINERS = ("mp4", "mov")


class Stamper:
    """Watermarks and signs files with one key set; make one per process and keep it."""

    def __init__(self, keys: SigningKeys) -> None:
        self.keys = keys
        self.signer = Signer(keys)

    @classmethod
    def from_settings(cls, settings: Settings) -> Stamper:
        """A stamper with the configured keys (or the local ones, made on first use)."""
        return cls(load_keys(settings))

    # -- pictures ---------------------------------------------------------------------------------------

    @staticmethod
    def mark_pixels(rgb: np.ndarray, asset_id: str) -> tuple[np.ndarray, str | None]:
        """``rgb`` with ``asset_id``'s watermark and the payload embedded; unchanged and None when too small."""
        height, width = rgb.shape[:2]
        if min(width, height) < watermark.MIN_SIDE:
            return rgb, None
        return watermark.embed(rgb, asset_id), payload.prefix_of(asset_id)

    def mark_image(self, image: Image.Image, asset_id: str, *,
                   in_place: bool = False) -> tuple[Image.Image, str | None]:
        """An RGB, RGBA or greyscale ``image`` watermarked (alpha kept), and the payload it carries.

        ``in_place``: an RGB ``image`` the caller owns (a frame it has just made) gets the marked pixels written
        back into it, and is returned: no new image is allocated, whose fresh memory costs more to map than
        the copy into it.
        """
        if image.mode not in ("RGB", "RGBA", "L"):
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        if min(image.size) < watermark.MIN_SIDE:
            return image, None
        pixels = np.asarray(image)
        carried = payload.prefix_of(asset_id)
        if image.mode == "L":
            marked = watermark.embed_transient(cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB), asset_id)
            return Image.fromarray(np.ascontiguousarray(marked[..., 0])), carried
        # Marked in the watermark's reused buffer: the pixels are copied out of it at once.
        marked = watermark.embed_transient(np.ascontiguousarray(pixels[..., :3]), asset_id)
        if image.mode == "RGBA":
            return Image.fromarray(np.dstack([marked, pixels[..., 3]])), carried
        if in_place:
            image.frombytes(marked)
            return image, carried
        return Image.fromarray(marked), carried

    def sign_bytes(self, claim: Claim, container: str, data: bytes) -> bytes:
        """``data`` (a ``container`` file) with ``claim``'s signed manifest."""
        return self.signer.sign_bytes(claim, MIME[container], data)

    def _stamp_image(self, path: Path, container: str, claim: Claim, mark: bool) -> bytes:
        with Image.open(path) as opened:
            # Upright pixels: the EXIF that said how to turn them is not carried into the re-encoded file.
            image: Image.Image = ImageOps.exif_transpose(opened) or opened
            image.load()
            icc = opened.info.get("icc_profile")
            texts = {k: v for k, v in getattr(opened, "text", {}).items() if k != iptc.PNG_XMP_KEY}
        carried = None
        if mark:
            image, carried = self.mark_image(image, claim.asset_id)
        code = labels.source_type(claim.origin)
        buffer = io.BytesIO()
        if container == "png":
            info = iptc.png_info(code)
            for key, value in texts.items():
                info.add_text(key, value)
            image.save(buffer, "PNG", pnginfo=info, compress_level=PNG_COMPRESSION, icc_profile=icc)
        else:
            if container == "jpeg" and image.mode not in ("RGB", "L"):
                image = image.convert("RGB")
            image.save(buffer, "JPEG" if container == "jpeg" else "WEBP", quality=JPEG_QUALITY,
                       icc_profile=icc, xmp=iptc.xmp_packet(code))
        signed_claim = _with_watermark(claim, carried)
        return self.sign_bytes(signed_claim, container, buffer.getvalue())

    # -- videos -----------------------------------------------------------------------------------------

    def video_filter(self, picture_filter: str, *, width: int, height: int, asset_id: str,
                     workdir: Path) -> tuple[str, str | None]:
        """``picture_filter`` with the watermark added by ffmpeg, and the payload; unchanged when too small.

        ``width``×``height`` is the frame ``picture_filter`` ends in (even sizes); the pattern file is written
        into ``workdir``, which must outlive the encode.
        """
        if min(width, height) < watermark.MIN_SIDE:
            return picture_filter, None
        pattern_path = watermark.write_video_pattern(workdir / f"watermark-{width}x{height}-{asset_id}.y4m",
                                                     width, height, asset_id)
        return watermark.video_filter(picture_filter, pattern_path), payload.prefix_of(asset_id)

    def _stamp_video(self, path: Path, claim: Claim, mark: bool, workdir: Path) -> Path:
        source = path
        carried = None
        if mark:
            info = probe(path)
            width, height = (max(2, side // 2 * 2) for side in info.display_size)
            graph, carried = self.video_filter(f"scale={width}:{height},setsar=1", width=width, height=height,
                                               asset_id=claim.asset_id, workdir=workdir)
            source = transcode(path, workdir / "marked.mp4", video_filter=graph, fps=info.fps or 30.0,
                               crf=VIDEO_CRF, tags=iptc.mp4_tags(labels.source_type(claim.origin)))
        signed = workdir / "signed.mp4"
        self.signer.sign_file(_with_watermark(claim, carried), MIME["mp4"], source, signed)
        return signed

    # -- one call for any file --------------------------------------------------------------------------

    def stamp(self, path: Path, *, kind: str, origin: AssetOrigin | str, asset_id: str,
              ingredients: Sequence[Ingredient] = (), note: str = "", mark: bool = True) -> Path:
        """Watermark (unless ``mark`` is False: the encoder did it) and sign the file at ``path`` in place.

        ``kind`` is "image" (JPEG, PNG or WebP, kept in its format) or "video" (MP4; re-encoded once to carry
        the watermark). ``ingredients`` are the files it was made from that the studio holds; a parent
        ingredient makes the manifest an edit of it. Returns ``path``.
        """
        path = Path(path)
        container = sniff_file(path)
        expected = IMAGE_CONTAINERS if kind == IMAGE else VIDEO_CONTAINERS if kind == VIDEO else ()
        if not expected:
            raise ValueError(f"kind must be {IMAGE!r} or {VIDEO!r}, got {kind!r}")
        if container is None or container not in expected:
            raise ValueError(f"{path.name} is not a {' / '.join(expected)} file, so it cannot be stamped as {kind}")
        claim = Claim(origin=labels.origin_of(origin), asset_id=asset_id, title=path.name, note=note,
                      ingredients=tuple(ingredients))
        payload.prefix_of(asset_id)  # a bad id fails before any work
        with tempfile.TemporaryDirectory(prefix=".stamp-", dir=path.parent) as folder:
            workdir = Path(folder)
            if kind == IMAGE:
                finished = workdir / "signed"
                finished.write_bytes(self._stamp_image(path, container, claim, mark))
            else:
                finished = self._stamp_video(path, claim, mark, workdir)
            os.replace(finished, path)  # same folder, so the delivered file is swapped whole
        return path


def frame_marks(asset_id: str) -> MarkFactory:
    """What a video encoder applies to each frame so the clip carries ``asset_id``'s watermark, for code that
    makes frames itself (then ``stamp(..., mark=False)`` only signs); nothing for frames too small to carry it."""
    payload.prefix_of(asset_id)  # a bad id fails before any frame is made

    def factory(width: int, height: int) -> Callable[[np.ndarray], np.ndarray] | None:
        if min(width, height) < watermark.MIN_SIDE:
            return None
        return watermark.FrameMarker(width, height, asset_id)

    return factory


def _with_watermark(claim: Claim, carried: str | None) -> Claim:
    return Claim(origin=claim.origin, asset_id=claim.asset_id, title=claim.title, note=claim.note,
                 ingredients=claim.ingredients, watermark=carried)


def stamp(path: Path, *, kind: str, origin: AssetOrigin | str, asset_id: str, settings: Settings,
          ingredients: Sequence[Ingredient] = (), note: str = "", mark: bool = True,
          stamper: Stamper | None = None) -> Path:
    """Both provenance layers on the file at ``path``, in place (see ``Stamper.stamp``).

    Pass a long-lived ``stamper`` (``Stamper.from_settings``) from a worker to skip loading the keys per file.
    """
    own = stamper if stamper is not None else Stamper.from_settings(settings)
    return own.stamp(path, kind=kind, origin=origin, asset_id=asset_id, ingredients=ingredients, note=note,
                     mark=mark)
