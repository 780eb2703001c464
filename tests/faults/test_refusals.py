"""Inputs the worker cannot use (issue case 8): a refused /swap upload leaves the gallery, and an export skips
and names an unreadable file instead of failing whole."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from PIL import Image
from redis import Redis

from core.jobs import JobService
from core.jobspecs import ExportSpec, FaceSwapSpec
from core.settings import Settings
from storage.blobs import BlobStore, LocalBlobStore
from storage.db import Database
from storage.models import Asset, ExportPackage, Job, User
from storage.repositories import assets as asset_repo
from storage.repositories import personas as persona_repo
from storage.states import AssetOrigin
from tests import faceswap_data
from tests.faults import jobs as fj
from tests.workers import drain


def _ready_persona(db: Database, blobs: BlobStore, owner: User) -> int:
    """A persona as face analysis leaves it: one reference photo with its face box, 68 landmarks and quality."""
    buffer = io.BytesIO()
    Image.new("RGB", (120, 120), (180, 150, 130)).save(buffer, format="JPEG")
    landmarks = [[30.0 + (i % 17) * 3.5, 40.0 + (i // 17) * 12.0] for i in range(68)]
    with db.session() as session:
        persona = persona_repo.create(session, owner_id=owner.id, name="Ava")
        ref = persona_repo.add_reference(session, persona=persona, blob=blobs.put_bytes(buffer.getvalue()),
                                         filename="ava.jpg", width=120, height=120)
        ref.face_box, ref.landmarks = [25, 30, 95, 100], landmarks
        ref.quality = {"yaw": 0.0, "blur": 200.0, "face_px": 70.0}
        persona.status = "ready"
        return persona.id


def _upload(db: Database, blobs: BlobStore, owner: User, data: bytes) -> str:
    """A video the user sent with /swap, stored as the assistant stores one: bytes and type only."""
    with db.session() as session:
        return asset_repo.create(session, owner_id=owner.id, kind="video", blob=blobs.put_bytes(data),
                                 mime="video/mp4", tags=["uploaded"], origin=AssetOrigin.UPLOADED).id


def test_refused_swap_uploads_leave_the_gallery_and_exports_skip_unreadable_files(
        settings: Settings, db: Database, redis: Redis, tmp_path: Path) -> None:
    settings.swap_max_seconds = 0.5
    settings.max_queued_jobs = 10
    jobs = JobService(db=db, redis=redis, settings=settings)
    blobs = LocalBlobStore(settings.blobs_dir)
    owner = fj.user(db)
    persona_id = _ready_persona(db, blobs, owner)
    damaged = _upload(db, blobs, owner, b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200)
    clip = faceswap_data.moving_face_clip(tmp_path / "long.mp4", faceswap_data.target_photo(), seconds=1, fps=6,
                                          audio=False)
    too_long = _upload(db, blobs, owner, clip.read_bytes())
    good = fj.picture(db, blobs, owner)
    broken_png = fj.picture(db, blobs, owner, shade=30)
    with db.session() as session:
        broken = session.get(Asset, broken_png)
        assert broken is not None
        broken.blob = blobs.put_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)  # the file was cut short

    swaps = {asset_id: fj.submit(jobs, owner, FaceSwapSpec(persona_id=persona_id, asset_id=asset_id))
             for asset_id in (damaged, too_long)}
    export = fj.submit(jobs, owner, ExportSpec(platform="instagram", asset_ids=(good, broken_png)))
    drain(settings, db, redis)

    with db.session() as session:
        for asset_id, job_id in swaps.items():
            job = session.get(Job, job_id)
            assert job is not None and job.status == "failed"
            assert f"I removed #{asset_id} from your gallery" in (job.error or ""), job.error
            assert session.get(Asset, asset_id) is None
        gallery = [asset.id for asset in asset_repo.recent(session, owner_id=owner.id, limit=20, origins=None)]
        assert damaged not in gallery and too_long not in gallery
        done = session.get(Job, export)
        assert done is not None and done.status == "done", done.error if done else None
        message, package_id = done.result["message"], done.result["package_id"]
    assert f"#{broken_png} could not be read" in message
    with db.session() as session:
        package = session.get(ExportPackage, package_id)
        assert package is not None and package.blob is not None
        names = zipfile.ZipFile(blobs.path(package.blob)).namelist()
    assert any(good in name for name in names) and not any(broken_png in name for name in names)
