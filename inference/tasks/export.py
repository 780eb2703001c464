"""The /export job: the user's chosen assets made in each of a platform's presets, zipped with a manifest,
stored as an ``ExportPackage`` and handed back as an expiring, revocable download link.

Spec: ``core.jobspecs.ExportSpec`` as the assistant resolved it. The worker checks ownership again: an asset
deleted (or never the user's) since the command is skipped with a note, and so is one whose file cannot be
read (damaged, cut short); a package with nothing left fails with a message.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image
from sqlalchemy.orm import Session

from core import links, platforms
from core.errors import NotAvailable, NotFound
from core.jobresults import ExportResult
from core.jobspecs import ExportSpec
from core.platforms import IMAGE, VIDEO
from inference.engines.faces import FaceAnalyzer, choose_backend, engine_key, load_analyzer
from inference.export.fit import Box
from inference.export.manifest import label_summary
from inference.export.package import BuiltPackage, ExportSource, FaceFinder, build_package
from inference.media import MediaError, probe
from inference.provenance.stamp import Stamper
from inference.runtime import task
from inference.task_context import TaskContext
from storage.housekeeping import prune_expired_exports
from storage.models import Asset, new_id, utcnow
from storage.repositories import assets as asset_repo
from storage.repositories import exports as export_repo
from storage.repositories import personas as persona_repo

log = logging.getLogger(__name__)

FILES_SHARE = (0.02, 0.92)  # of the progress bar: before it reading the assets, after it zipping and storing


def _prompt(session: Session, asset: Asset, owner_id: int) -> str:
    """What the asset shows, in the user's words: the prompt they asked for (a clip: its still's)."""
    meta = asset.meta or {}
    shoot = meta.get("shoot")
    if isinstance(shoot, dict) and isinstance(shoot.get("scene"), str):
        return str(shoot["scene"])  # a shot of a photoshoot: the scene the user described, not its pose words
    if asset.kind == VIDEO and isinstance(meta.get("source_asset"), str):
        still = asset_repo.get_owned(session, asset_id=meta["source_asset"], owner_id=owner_id)
        if still is not None and still.kind == IMAGE:
            return _prompt(session, still, owner_id)
    request = meta.get("request")
    asked = request.get("prompt") if isinstance(request, dict) else None
    prompt = asked or meta.get("prompt")
    return prompt if isinstance(prompt, str) else ""


def _read_sources(ctx: TaskContext, spec: ExportSpec, notes: list[str], workdir: Path) -> list[ExportSource]:
    sources = []
    with ctx.db.session() as session:
        for asset_id in spec.asset_ids:
            asset = asset_repo.get_owned(session, asset_id=asset_id, owner_id=ctx.content_owner_id)
            if asset is None or asset.kind not in (IMAGE, VIDEO) or not ctx.blobs.exists(asset.blob):
                notes.append(f"#{asset_id} is gone (deleted, or not among yours), so it was left out.")
                continue
            persona = None
            if asset.persona_id is not None:
                persona = persona_repo.get_owned(session, persona_id=asset.persona_id, owner_id=ctx.content_owner_id)
            sources.append(ExportSource(
                asset_id=asset.id, kind=asset.kind, path=ctx.blobs.fetch(asset.blob, into=workdir),
                origin=asset.origin,
                prompt=_prompt(session, asset, ctx.content_owner_id),
                persona=persona.name if persona is not None else None,
            ))
    readable = []
    for source in sources:
        if _readable(source):
            readable.append(source)
        else:
            notes.append(f"#{source.asset_id} could not be read (its file is damaged), so it was left out.")
    if not sources:
        raise NotFound("None of those results exist among yours any more; /gallery shows what you can export.")
    if not readable:
        raise NotFound(" ".join(["Nothing could be exported:", *notes]))
    return readable


def _readable(source: ExportSource) -> bool:
    """Whether the file decodes: one damaged asset is left out with a note rather than failing the package."""
    try:
        if source.kind == VIDEO:
            probe(source.path)  # decodes the first frame and checks the container's index against the file
        else:
            with Image.open(source.path) as image:
                image.load()
    except (MediaError, OSError, ValueError, Image.DecompressionBombError) as exc:
        log.warning("export: #%s cannot be read: %s", source.asset_id, exc)
        return False
    return True


def _face_finder(ctx: TaskContext) -> FaceFinder:
    """Face boxes from the worker's face engine, loaded on first use; none where the engine is unavailable."""
    analyzer: list[FaceAnalyzer | None] = []

    def find(pixels: np.ndarray) -> list[Box]:
        if not analyzer:
            backend = choose_backend(ctx.settings)
            try:
                analyzer.append(ctx.engine(engine_key(backend), lambda: load_analyzer(ctx.settings, backend)))
            except NotAvailable as exc:
                log.info("exports are cropped without face detection: %s", exc)
                analyzer.append(None)
        engine = analyzer[0]
        if engine is None:
            return []
        boxes: list[Box] = []
        for detection in engine.detect(np.ascontiguousarray(pixels)):
            x0, y0, x1, y1 = detection.box
            boxes.append((int(x0), int(y0), int(x1), int(y1)))
        return boxes

    return find


def _prune_expired(ctx: TaskContext) -> None:
    """Delete the zips of packages whose links have expired (housekeeping does it too, on a timer)."""
    prune_expired_exports(ctx.db, ctx.blobs)


def _export(ctx: TaskContext) -> ExportResult:
    settings = ctx.settings
    spec = ctx.spec_as(ExportSpec)
    if len(spec.asset_ids) > settings.export_max_assets:
        raise ValueError(f"asset_ids: at most {settings.export_max_assets} results per export, "
                         f"got {len(spec.asset_ids)}")
    ctx.progress(0.01, "reading your files")
    _prune_expired(ctx)
    notes: list[str] = []
    created = utcnow().replace(microsecond=0)
    expires = created + timedelta(hours=settings.export_ttl_hours)
    package_id = new_id()
    start, end = FILES_SHARE
    with ctx.workdir() as workdir:
        sources = _read_sources(ctx, spec, notes, workdir)
        built = build_package(sources, platforms.get(spec.platform), workdir=workdir, package_id=package_id,
                              created_at=created, expires_at=expires, stamper=Stamper.from_settings(settings),
                              find_faces=_face_finder(ctx), carousel=spec.carousel,
                              progress=lambda fraction, stage: ctx.progress(start + fraction * (end - start), stage))
        ctx.progress(0.95, "storing the package")
        return _store(ctx, spec, built, package_id, expires, notes)


def _store(ctx: TaskContext, spec: ExportSpec, built: BuiltPackage, package_id: str, expires: datetime,
           notes: list[str]) -> ExportResult:
    size = built.size_bytes
    exported = list(dict.fromkeys(entry.asset_id for entry in built.files))

    def write(session: Session, digests: list[str]) -> str:
        package = export_repo.create(session, package_id=package_id, owner_id=ctx.content_owner_id,
                                     platform=spec.platform, asset_ids=exported, job_id=ctx.job_id,
                                     blob=digests[0], manifest=built.manifest, expires_at=expires)
        return links.export_url(ctx.settings, session, package=package)

    url = ctx.store([built.path], write)
    platform = platforms.get(spec.platform)
    kinds = {entry.kind for entry in built.files}
    presets = ", ".join(f"{p.name} {p.width}×{p.height}" for p in platform.presets if p.kinds & kinds)
    what = "carousel" if spec.carousel else "package"
    lines = [
        f"📦 {platform.title} {what}: {len(built.files)} file(s) from {len(exported)} result(s), "
        f"{_megabytes(size)} ({presets}).",
        label_summary(built.files),
        "Every file carries Content Credentials and an invisible watermark (check one with /verify); captions "
        "and hashtags are in captions.txt, details in manifest.json.",
        *([f"One post: the files are numbered in your order ({' '.join('#' + a for a in exported)}), with one "
           "post text for the set in captions.txt."] if spec.carousel else []),
        *built.notes,
        *notes,
        f"Download link (works until {expires:%Y-%m-%d %H:%M} UTC; /web revoke cancels it):",
    ]
    return ExportResult(message="\n".join(lines), link=url, package_id=package_id, platform=platform.name,
                        files=len(built.files), size_bytes=size, expires_at=built.manifest["expires_at"])


def _megabytes(size: int) -> str:
    return f"{size / 2**20:.1f} MB" if size >= 2**20 / 10 else f"{max(1, round(size / 1024))} KB"


build_export = task(_export)
