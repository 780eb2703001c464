"""What the photoshoot tests of every front end check the same way: a carousel export in the order of the picks."""

from __future__ import annotations

import io
import zipfile

from storage.blobs import BlobStore
from storage.db import Database
from storage.models import ExportPackage, Job


def carousel_in_pick_order(db: Database, blobs: BlobStore, shoot_id: str, picks: list[int]) -> list[str]:
    """Check that the shoot kept ``picks`` and that the one export package holds those shots in that order (its
    manifest and the numbered files of its zip); returns their asset ids in that order."""
    with db.session() as session:
        shoot = session.get(Job, shoot_id)
        assert shoot is not None and shoot.result["picks"] == picks
        shots = {s["number"]: s["asset_id"] for s in shoot.result["shots"]}
        order = [shots[number] for number in picks]
        package = session.query(ExportPackage).one()
        assert package.manifest["carousel"]["order"] == order
        blob = package.blob
    with zipfile.ZipFile(io.BytesIO(blobs.read_bytes(blob or ""))) as archive:
        images = [name for name in archive.namelist() if name.endswith(".jpg")]
    for place, asset_id in enumerate(order, start=1):
        numbered = [name for name in images if f"/{place:02d}-" in name]
        assert numbered and all(asset_id in name for name in numbered), images
    return order
