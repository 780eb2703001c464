"""The model store: registry, tiny models in the real layout, checksums, activate/rollback, failing pulls."""

from __future__ import annotations

import hashlib
import shutil
import time
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.models import models as models_cli
from core.errors import NotAvailable
from core.settings import Settings
from inference.models import image_model
from inference.models.registry import (
    UnknownModel,
    get_spec,
    image_model_for_profile,
    load_registry,
    parse_registry,
)
from inference.models.store import MANIFEST, ModelStore, PullFailed
from tests import tiny_models

# Fixtures shared by the image and model tests (see tests/tiny_models.py).
tiny_models_dir = tiny_models.tiny_models_dir


def test_registry_lists_the_models_the_studio_needs() -> None:
    registry = load_registry()
    assert registry["sd3-medium"].repo == "stabilityai/stable-diffusion-3-medium-diffusers"
    roles = {spec.role for spec in registry.values()}
    assert {"text-to-image", "image-to-video", "face-analysis", "face-swap"} <= roles
    assert {"buffalo_l", "antelopev2", "inswapper-128", "ltx-video", "sd-turbo"} <= set(registry)
    for spec in registry.values():
        assert spec.revision and spec.licence and spec.role and spec.min_hardware, spec.name
        assert spec.size_gb > 0, spec.name
        if spec.source == "hf":
            assert spec.files, f"{spec.name} must list the files it needs"


def test_profiles_resolve_to_their_text_to_image_model() -> None:
    assert image_model_for_profile("full").name == "sd3-medium"
    assert image_model_for_profile("cpu").name == "sd-turbo"
    assert image_model_for_profile("tiny").name == "sd3-tiny"
    with pytest.raises(UnknownModel, match="known: "):
        get_spec("sd9-ultra")


def test_registry_refuses_misspelt_and_incomplete_entries() -> None:
    good = ('[models.x]\nsource = "hf"\nrepo = "a/b"\nrevision = "main"\nlicence = "mit"\n'
            'size_gb = 1.0\nrole = "text-to-image"\nmin_hardware = "cpu"\n')
    assert parse_registry(good)["x"].repo == "a/b"
    with pytest.raises(ValueError, match="unknown keys revison"):
        parse_registry(good + 'revison = "oops"\n')
    with pytest.raises(ValueError, match="lacks licence"):
        parse_registry(good.replace('licence = "mit"\n', ""))
    with pytest.raises(ValueError, match="needs a repo"):
        parse_registry(good.replace('repo = "a/b"\n', ""))


def test_make_tiny_writes_the_store_layout_and_loads_with_from_pretrained(tiny_models_dir: Path) -> None:
    from diffusers import StableDiffusion3Pipeline

    store = ModelStore(tiny_models_dir)
    resolved = store.resolve("sd3-tiny")
    assert resolved.path == tiny_models_dir / "sd3-tiny" / "tiny-v1"
    assert (tiny_models_dir / "sd3-tiny" / "active").read_text().strip() == "tiny-v1"
    assert (resolved.path / "model_index.json").is_file()
    assert (resolved.path / "tokenizer_3" / "tokenizer.json").is_file()
    assert store.verify("sd3-tiny").ok
    pipe = StableDiffusion3Pipeline.from_pretrained(resolved.path)
    assert pipe.tokenizer("a photo of a woman")["input_ids"] == [0, *pipe.tokenizer.convert_tokens_to_ids(
        ["a", "photo", "of", "a", "woman"]), 2]
    assert max(pipe.tokenizer_3.get_vocab().values()) < pipe.text_encoder_3.config.vocab_size


def test_verify_finds_changed_and_missing_files(tmp_path: Path, tiny_models_dir: Path) -> None:
    root = tmp_path / "models"
    shutil.copytree(tiny_models_dir, root)
    store = ModelStore(root)
    weights = root / "sd3-tiny" / "tiny-v1" / "transformer" / "diffusion_pytorch_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # one flipped byte, same size
    weights.write_bytes(bytes(data))
    (root / "sd3-tiny" / "tiny-v1" / "vae" / "config.json").unlink()

    report = store.verify("sd3-tiny")

    assert not report.ok
    assert report.mismatched == ("transformer/diffusion_pytorch_model.safetensors",)
    assert report.missing == ("vae/config.json",)
    result = CliRunner().invoke(models_cli, ["--models-dir", str(root), "verify", "sd3-tiny"])
    assert result.exit_code == 1 and "changed  transformer/" in result.output


def test_activate_and_rollback_between_revisions(tmp_path: Path, tiny_models_dir: Path) -> None:
    root = tmp_path / "models"
    shutil.copytree(tiny_models_dir, root)
    store = ModelStore(root)
    upgrade = root / "sd3-tiny" / ".incoming"
    shutil.copytree(root / "sd3-tiny" / "tiny-v1", upgrade)
    (upgrade / MANIFEST).unlink()

    store.install("sd3-tiny", "tiny-v2", upgrade)  # an upgrade becomes active, the old one stays

    assert store.revisions("sd3-tiny") == ["tiny-v1", "tiny-v2"]
    assert store.resolve("sd3-tiny").revision == "tiny-v2"
    assert store.rollback("sd3-tiny") == "tiny-v1"
    assert store.resolve("sd3-tiny").path == root / "sd3-tiny" / "tiny-v1"
    with pytest.raises(NotAvailable, match="no earlier revision"):
        store.rollback("sd3-tiny")
    with pytest.raises(NotAvailable, match="no complete revision 'tiny-v9'"):
        store.activate("sd3-tiny", "tiny-v9")
    result = CliRunner().invoke(models_cli, ["--models-dir", str(root), "activate", "sd3-tiny", "tiny-v2"])
    assert result.exit_code == 0, result.output
    assert store.active_revision("sd3-tiny") == "tiny-v2"


def test_pull_while_offline_fails_fast_saying_what_to_run(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    store = ModelStore(tmp_path / "models")
    started = time.monotonic()
    with pytest.raises(PullFailed) as caught:
        store.pull("sd3-medium")
    assert time.monotonic() - started < 15
    message = str(caught.value)
    assert "studio models pull sd3-medium" in message and "HF_HUB_OFFLINE" in message
    assert store.revisions("sd3-medium") == []
    result = CliRunner().invoke(models_cli, ["--models-dir", str(tmp_path / "models"), "pull", "sd3-medium"])
    assert result.exit_code == 1 and "studio models pull sd3-medium" in result.output


def _url_registry(url: str) -> str:
    return (f'[models.pack]\nsource = "url"\nurl = "{url}"\nrevision = "v1"\nfiles = ["det.onnx", "rec.onnx"]\n'
            'licence = "test"\nsize_gb = 0.001\nrole = "face-analysis"\nmin_hardware = "cpu"\n')


def test_url_pull_unpacks_an_archive_into_a_checksummed_revision(tmp_path: Path) -> None:
    archive = tmp_path / "pack.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("pack/det.onnx", b"detector")
        zf.writestr("pack/rec.onnx", b"recogniser")
    store = ModelStore(tmp_path / "models", registry=parse_registry(_url_registry(archive.as_uri())))

    resolved = store.pull("pack", progress=False)

    assert (resolved.path / "det.onnx").read_bytes() == b"detector"  # the top folder is flattened
    assert store.verify("pack").checked == 2


def test_url_pull_refuses_an_archive_whose_checksum_differs(tmp_path: Path) -> None:
    archive = tmp_path / "pack.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("det.onnx", b"detector")
        zf.writestr("rec.onnx", b"tampered")
    pinned = _url_registry(archive.as_uri()) + f'sha256 = "{"0" * 64}"\n'
    store = ModelStore(tmp_path / "models", registry=parse_registry(pinned))
    with pytest.raises(PullFailed, match="changed or was tampered with"):
        store.pull("pack", progress=False)
    assert store.revisions("pack") == []

    good = _url_registry(archive.as_uri()) + f'sha256 = "{hashlib.sha256(archive.read_bytes()).hexdigest()}"\n'
    assert ModelStore(tmp_path / "models", registry=parse_registry(good)).pull("pack", progress=False).revision == "v1"


def test_url_pull_from_an_unreachable_host_fails_with_a_message(tmp_path: Path) -> None:
    registry = parse_registry(_url_registry("http://127.0.0.1:9/pack.zip"))
    store = ModelStore(tmp_path / "models", registry=registry)
    with pytest.raises(PullFailed, match="studio models pull pack"):
        store.pull("pack", progress=False)


def test_tiny_profile_creates_its_model_on_first_use(settings: Settings, tmp_path: Path) -> None:
    local = settings.model_copy(update={"models_dir": tmp_path / "fresh-models"})
    resolved = image_model(local)
    assert resolved.key == "sd3-tiny@tiny-v1"
    assert (tmp_path / "fresh-models" / "sd3-tiny" / "tiny-v1" / MANIFEST).is_file()
    full = local.model_copy(update={"model_profile": "full"})
    with pytest.raises(NotAvailable, match="studio models pull sd3-medium"):
        image_model(full)


def test_cli_lists_registry_and_installed_revisions(tiny_models_dir: Path) -> None:
    result = CliRunner().invoke(models_cli, ["--models-dir", str(tiny_models_dir), "list"],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "sd3-medium" in result.output and "buffalo_l" in result.output
    assert "tiny-v1" in result.output
