"""Checking a file: its Content Credentials, its IPTC label and its watermark, in one report and one answer.

Anything can arrive here (a chat upload, a path on the command line): random bytes, a truncated JPEG, a
multi-gigabyte file, a PDF. Each layer is read on its own and a layer that cannot be read is reported as such;
nothing here raises for a bad file. Only the file's first bytes decide what it is, never its name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from core.errors import NotAvailable
from core.settings import Settings
from inference.media import MediaError, probe, read_frames, still_frame
from inference.provenance import credentials, iptc, labels, watermark
from inference.provenance.credentials import CredentialError, Credentials
from inference.provenance.keys import SigningKeys, load_keys
from storage.db import Database
from storage.models import Asset
from storage.states import AssetOrigin

log = logging.getLogger(__name__)

MAX_BYTES = 2 * 2**30  # larger files are not opened at all
VIDEO_FRAMES = 6  # frames read from a clip for its watermark, spread over its length
SEEK_ABOVE_S = 20.0  # longer clips are read by seeking to each frame instead of decoding them whole
SUPPORTED = "a JPEG, PNG or WebP picture or an MP4 video"
ORIGIN_WORDS = {AssetOrigin.GENERATED: "AI-generated", AssetOrigin.EDITED: "edited with AI",
                AssetOrigin.UPLOADED: "your own upload"}


@dataclass(frozen=True)
class AssetMatch:
    """The asset a watermark names, among the checked owner's own."""

    asset_id: str
    kind: str
    origin: str
    created: str  # ISO date


@dataclass
class VerifyReport:
    """Everything found in one file."""

    name: str
    size_bytes: int
    container: str | None = None  # jpeg, png, webp, mp4, mov; None: not a supported file
    refused: str | None = None  # why the file was not examined at all
    credentials: Credentials | None = None
    credentials_error: str | None = None
    local_key: bool = False  # this installation signs with its own CA (validators elsewhere say untrusted)
    iptc_source_type: str | None = None
    watermark: watermark.Detection | None = None
    watermark_error: str | None = None
    match: AssetMatch | None = None
    owner_checked: bool = False  # whether the payload was looked up among one owner's assets
    looked_up: bool = True  # False when the database could not be asked
    notes: list[str] = field(default_factory=list)

    @property
    def supported(self) -> bool:
        """Whether the file was examined."""
        return self.container is not None and self.refused is None

    @property
    def found_anything(self) -> bool:
        """Whether any provenance layer was found."""
        return bool(self.credentials or self.iptc_source_type or (self.watermark and self.watermark.present))

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (a job result, ``--json`` output)."""
        found = self.credentials
        mark = self.watermark
        return {
            "name": self.name, "bytes": self.size_bytes, "container": self.container, "refused": self.refused,
            "c2pa": None if found is None else {
                "state": found.state, "signer": found.signer, "generator": found.generator,
                "actions": [{"action": a, "digital_source_type": c} for a, c in found.actions],
                "failures": list(found.failures), "tampered": found.tampered, "watermark": found.watermark,
                "ingredients": found.ingredients, "local_key": self.local_key},
            "c2pa_error": self.credentials_error,
            "iptc_digital_source_type": self.iptc_source_type,
            "watermark": None if mark is None else {"present": mark.present, "payload": mark.prefix,
                                                    "score": mark.score, "corrected_bits": mark.corrected},
            "watermark_error": self.watermark_error,
            "match": None if self.match is None else vars(self.match),
            "owner_checked": self.owner_checked,
            "answer": self.answer(),
        }

    def answer(self) -> str:
        """One short answer for a chat or a terminal."""
        if self.refused:
            return self.refused
        if not self.supported:
            return f"That is not a file I can check: send {SUPPORTED}."
        if not self.found_anything:
            what = "video" if self.container in ("mp4", "mov") else "picture"
            found = ("no Content Credentials and no AI label, and its pixels could not be checked for a watermark "
                     f"({self.watermark_error})" if self.watermark_error else
                     "no Content Credentials, no AI label and no Persona Studio watermark")
            return (f"Nothing found in this {what}: {found}. That does not prove it is not AI-made: metadata is "
                    "easily stripped.")
        return "\n".join(["🔎 What this file carries:", self._c2pa_line(), self._iptc_line(), self._watermark_line(),
                          *self.notes])

    def _c2pa_line(self) -> str:
        found = self.credentials
        if found is None:
            broken = f" (could not be read: {self.credentials_error})" if self.credentials_error else ""
            return f"• Content Credentials: none{broken}."
        said = credentials.describe_actions(found.actions) or "no actions"
        if found.tampered:
            return (f"• Content Credentials: ⚠️ signed by {found.signer}, but the file was changed after signing "
                    f"(hash mismatch): the claim ({said}) no longer vouches for these pixels.")
        if found.state == "invalid":
            return f"• Content Credentials: ⚠️ present but invalid ({', '.join(found.failures)}); they said: {said}."
        if found.state == "signed-here":
            caveat = (" Signed with this installation's own certificate: other validators show it as untrusted."
                      if self.local_key else "")
            return f"• Content Credentials: signed by this studio ({found.signer}), intact: {said}.{caveat}"
        return f"• Content Credentials: intact, signed by {found.signer} (not a signer this studio knows): {said}."

    def _iptc_line(self) -> str:
        code = self.iptc_source_type
        return f"• IPTC label: {labels.describe(code)} ({labels.short_code(code)})." if code else "• IPTC label: none."

    def _watermark_line(self) -> str:
        mark = self.watermark
        if mark is None:
            return f"• Watermark: not checked ({self.watermark_error})." if self.watermark_error else \
                "• Watermark: not checked."
        if not mark.present:
            return "• Watermark: none found."
        if mark.prefix is None:
            return "• Watermark: present but too damaged to read."
        if self.match is not None:
            origin = ORIGIN_WORDS.get(AssetOrigin(self.match.origin), self.match.origin) \
                if self.match.origin in AssetOrigin._value2member_map_ else self.match.origin
            return (f"• Watermark: #{self.match.asset_id}, one of your {self.match.kind}s ({origin}, "
                    f"made {self.match.created}).")
        if not self.looked_up:
            return f"• Watermark: Persona Studio asset {mark.prefix}… (the database could not be asked about it)."
        if self.owner_checked:
            return f"• Watermark: Persona Studio asset {mark.prefix}…, not one of yours."
        return f"• Watermark: Persona Studio asset {mark.prefix}… (not found in this installation's database)."


def _image_pixels(path: Path, max_pixels: int) -> np.ndarray:
    with Image.open(path) as image:
        if image.width * image.height > max_pixels:
            raise ValueError(f"{image.width}x{image.height} is more pixels than this studio reads")
        image.draft("RGB", (4096, 4096))  # a huge JPEG is decoded at a reduced size, which the mark survives
        return np.asarray(image.convert("RGB"))


def _video_frames(path: Path) -> list[np.ndarray]:
    info = probe(path)
    width, height = info.display_size
    if min(width, height) <= 0:
        raise MediaError("no video stream")
    # Frames are decoded straight at the reader's doubled working grid: smaller, and all the reader uses.
    grid_w, grid_h = watermark.working_size(width, height)
    size = (min(width, 2 * grid_w) // 2 * 2, min(height, 2 * grid_h) // 2 * 2)
    span = max(info.duration_s, 0.0)
    if span <= SEEK_ABOVE_S:
        # One decoder run over a short clip costs less than a seek per frame.
        rate = VIDEO_FRAMES / span if span > 0.1 else None
        frames = list(read_frames(path, size=size, fps=rate, max_frames=VIDEO_FRAMES))
    else:
        frames = []
        for i in range(VIDEO_FRAMES):
            try:
                frames.append(np.asarray(Image.fromarray(still_frame(path, at_s=span * (i + 0.5) / VIDEO_FRAMES))
                                         .resize(size, Image.Resampling.BILINEAR)))
            except MediaError:
                continue  # a truncated clip: the frames before the cut still count
    if not frames:
        raise MediaError("no frame could be decoded")
    return frames


def _read_watermark(report: VerifyReport, path: Path, settings: Settings) -> None:
    try:
        if report.container in ("mp4", "mov"):
            report.watermark = watermark.detect_frames(_video_frames(path))
        else:
            report.watermark = watermark.detect(_image_pixels(path, settings.max_image_pixels))
    except Image.DecompressionBombError:
        report.watermark_error = "the picture claims more pixels than this studio reads"
    except ValueError as exc:
        report.watermark_error = str(exc)
    except (OSError, SyntaxError, MediaError):
        report.watermark_error = "the pixels could not be decoded (a damaged or truncated file)"


def _match(report: VerifyReport, db: Database | None, owner_id: int | None) -> None:
    mark = report.watermark
    if db is None or mark is None or mark.prefix is None:
        return
    report.owner_checked = owner_id is not None
    query = select(Asset).where(Asset.id.like(f"{mark.prefix}%"))
    if owner_id is not None:
        query = query.where(Asset.owner_id == owner_id)
    try:
        with db.session() as session:
            asset = session.scalars(query.order_by(Asset.created_at).limit(1)).first()
            if asset is not None:
                report.match = AssetMatch(asset_id=asset.id, kind=asset.kind, origin=asset.origin,
                                          created=asset.created_at.date().isoformat())
    except SQLAlchemyError as exc:  # an unmigrated or unreachable database: the file is still reported on
        log.warning("could not look the watermark up: %s", str(exc).splitlines()[0])
        report.owner_checked = False
        report.looked_up = False


def verify(path: Path, *, settings: Settings, db: Database | None = None, owner_id: int | None = None,
           keys: SigningKeys | None = None) -> VerifyReport:
    """What the file at ``path`` carries. With ``db`` the watermark is looked up among ``owner_id``'s assets
    (every owner's when None: the operator's command line). Never raises for a bad file."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        return VerifyReport(name=path.name, size_bytes=0, refused=f"{path.name} cannot be read ({exc.strerror}).")
    report = VerifyReport(name=path.name, size_bytes=size, container=credentials.sniff_file(path))
    if size > MAX_BYTES:
        report.refused = f"That file is {size / 2**30:.1f} GB, more than the {MAX_BYTES // 2**30} GB checked here."
        return report
    if report.container is None:
        return report
    anchors = b""
    try:
        keys = keys if keys is not None else load_keys(settings)
        anchors, report.local_key = keys.anchors_pem, keys.local
    except NotAvailable as exc:  # a broken key configuration still lets files be checked, trusting none
        log.warning("checking without this studio's certificates: %s", exc)
    try:
        report.credentials = credentials.read(path, anchors_pem=anchors, container=report.container)
    except CredentialError as exc:
        report.credentials_error = _short(str(exc))
    report.iptc_source_type = iptc.read_source_type(path, report.container)
    _read_watermark(report, path, settings)
    _match(report, db, owner_id)
    mark = report.watermark
    recorded = report.credentials.watermark if report.credentials else None
    if recorded and mark is not None and mark.prefix and mark.prefix != recorded:
        report.notes.append(f"⚠️ The watermark ({mark.prefix}) and the signed record ({recorded}) disagree.")
    return report


def _short(message: str, limit: int = 160) -> str:
    line = " ".join(message.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
