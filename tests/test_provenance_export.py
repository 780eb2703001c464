"""The export pipeline itself carries both layers: every file of a real platform package (fitted, scaled to the
preset's exact size, JPEG-capped or H.264-encoded) reads back its asset from the watermark and its claim from
the signed manifest, and a file re-saved the way a platform does still names its asset."""

from __future__ import annotations

import io
import json
import subprocess
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image

from core.platforms import PRESETS
from core.settings import Settings
from inference.export.package import ExportSource, build_package
from inference.media import ffmpeg_exe
from inference.provenance import labels, verify, watermark
from inference.provenance.stamp import Stamper
from tests import faces_data

CREATED = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_every_exported_file_carries_its_watermark_and_signed_claim(settings: Settings, tmp_path: Path) -> None:
    still = tmp_path / "still.png"
    faces_data.astronaut().save(still)
    clip = tmp_path / "clip.mp4"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi",
                    "-i", "testsrc2=size=640x360:rate=30:duration=0.5", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    "-y", str(clip)], check=True, timeout=60)
    sources = [ExportSource("a0a0a0a0a0a0a0a0", "image", still, "generated", prompt="Ava in orbit"),
               ExportSource("b1b1b1b1b1b1b1b1", "video", clip, "edited")]
    stamper = Stamper.from_settings(settings)
    built = build_package(sources, PRESETS["instagram"], workdir=tmp_path / "work", package_id="p1",
                          created_at=CREATED, expires_at=CREATED + timedelta(hours=1), stamper=stamper)
    archive = zipfile.ZipFile(built.path)
    entries = json.loads(archive.read("manifest.json"))["files"]
    assert {(e["kind"], e["preset"]) for e in entries} >= {("image", "feed"), ("video", "story")}
    for entry in entries:
        path = tmp_path / entry["path"].replace("/", "-")
        path.write_bytes(archive.read(entry["path"]))
        report = verify(path, settings=settings)
        assert report.watermark is not None and report.watermark.prefix == entry["asset_id"][:8], entry["path"]
        found = report.credentials
        assert found is not None and found.state == "signed-here" and found.watermark == entry["asset_id"][:8]
        expected = labels.TRAINED if entry["origin"] == "generated" else labels.COMPOSITE
        assert found.source_type == expected == report.iptc_source_type == entry["ai_label"]
        assert found.actions[0][0] == "c2pa.opened" and found.ingredients == 1, "an edit of the asset's own file"
        if entry["kind"] == "image":
            # What a platform does to an upload: scaled to 720 px on the long side and recompressed.
            with Image.open(path) as image:
                small = image.convert("RGB").resize((576, 720) if image.height == 1350 else (720, 720)
                                                    if image.height == 1080 else (405, 720))
            buffer = io.BytesIO()
            small.save(buffer, "JPEG", quality=80)
            again = watermark.detect(np.asarray(Image.open(buffer).convert("RGB")))
            assert again.prefix == entry["asset_id"][:8], entry["path"]
