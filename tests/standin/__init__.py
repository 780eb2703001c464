"""The stand-in text-to-image model, installed into a model store the way an operator adds a model of their own."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from inference.models.registry import LOCAL_REGISTRY
from inference.models.store import ModelStore
from tests import faces_data

NAME = "faces-standin"
REVISION = "photos-v1"
ENTRY = f"""[models.{NAME}]
title = "Photos of real people standing in for a text-to-image model (tests)"
source = "local"
revision = "{REVISION}"
licence = "test data from installed packages"
size_gb = 0.001
role = "text-to-image"
pipeline = "custom"
min_hardware = "any CPU"
default_steps = 4
max_steps = 50
default_guidance = 0.0
"""


def install(models_dir: Path, *, people: list[int] | None = None) -> str:
    """Install the stand-in into the store at ``models_dir``; returns its name (for ``STUDIO_IMAGE_MODEL``).

    ``people``: which of the six faces of ``faces_data.group_faces()`` it may show (default: all six).
    """
    models_dir.mkdir(parents=True, exist_ok=True)
    registry = models_dir / LOCAL_REGISTRY
    if NAME not in (registry.read_text() if registry.exists() else ""):
        with registry.open("a", encoding="utf-8") as handle:
            handle.write(ENTRY)
    store = ModelStore(models_dir)
    if store.active_revision(NAME) is not None:
        return NAME
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        shutil.copy(Path(__file__).with_name("pipeline.py"), folder / "pipeline.py")
        (folder / "model_index.json").write_text(json.dumps(
            {"_class_name": "FacePhotoPipeline", "_diffusers_version": "0.32.0"}))
        photos = folder / "photos"
        photos.mkdir()
        faces = faces_data.group_faces()
        for index in people if people is not None else range(len(faces)):
            faces[index].save(photos / f"person-{index}.png")
        faces_data.no_face().save(photos / "empty.png")
        store.install_copy(NAME, REVISION, folder)
    return NAME
