"""The tiny SD3 and tiny LTX written once per test run, and helpers to point settings and engines at it."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings
from inference.device import plan_for
from inference.engines.image import ImageEngine
from inference.models.store import ModelStore
from inference.models.tiny import make_tiny
from inference.models.tiny_video import make_tiny_video


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model store holding the tiny SD3 (built once; tests copy it before changing anything in it)."""
    root = tmp_path_factory.mktemp("models")
    make_tiny(ModelStore(root))
    return root


@pytest.fixture(scope="session")
def tiny_video_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model store holding the tiny LTX image-to-video model (built once per run)."""
    root = tmp_path_factory.mktemp("video-models")
    make_tiny_video(ModelStore(root))
    return root


@pytest.fixture
def tiny_settings(settings: Settings, tiny_models_dir: Path) -> Settings:
    """The test settings (tiny profile) with the shared tiny model store."""
    return settings.model_copy(update={"models_dir": tiny_models_dir})


def load_tiny_engine(models_dir: Path) -> ImageEngine:
    """A fresh image engine on the tiny model, on the CPU."""
    model = ModelStore(models_dir).resolve("sd3-tiny")
    return ImageEngine.load(model, plan_for(full_gb=0, min_gb=0, prefer="cpu"))
