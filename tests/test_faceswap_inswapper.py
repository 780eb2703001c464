"""The inswapper ONNX path on stand-in models: loading, the latent, inference, paste-back, engine choice, and
a job through the real queue with it.

Real inswapper and buffalo_l weights cannot be had here, so random-weight models with the same input and
output names and shapes stand in (``tests.faceswap_models`` and the SCRFD/ArcFace stand-ins of
``tests.test_faces_insightface``, whose detector fires on white 32 px cells).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from redis import Redis

from core.errors import NotAvailable
from core.jobs import JobService
from core.settings import Settings
from inference.engines.faces.insightface_backend import InsightFaceAnalyzer, load_insightface
from inference.engines.faceswap import INSWAPPER_MODEL, SourceFace, SwapRequest, choose_engine
from inference.engines.faceswap.inswapper import InswapperEngine, InswapperModel, load_inswapper
from inference.identity import build_identity
from inference.models.store import ModelStore
from storage.blobs import LocalBlobStore
from storage.db import Database
from storage.repositories import assets as asset_repo
from storage.repositories import jobs as job_repo
from storage.repositories import personas as persona_repo
from storage.repositories import users as user_repo
from tests.faceswap_models import build_inswapper
from tests.insightface_models import build_detector, build_recognizer
from tests.workers import drain


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model store with the stand-in inswapper installed and a stand-in buffalo_l pack beside it."""
    root = tmp_path_factory.mktemp("models")
    pack = root / "buffalo_l"
    pack.mkdir()
    build_detector(pack / "det_10g.onnx")
    build_recognizer(pack / "w600k_r50.onnx")
    download = tmp_path_factory.mktemp("download")
    build_inswapper(download / "inswapper_128.onnx")
    ModelStore(root).install(INSWAPPER_MODEL, "standin", download)
    return root


@pytest.fixture(scope="module")
def analyzer(models_dir: Path) -> InsightFaceAnalyzer:
    return load_insightface(models_dir / "buffalo_l", providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def model(models_dir: Path) -> InswapperModel:
    return load_inswapper(ModelStore(models_dir).resolve(INSWAPPER_MODEL).path, providers=["CPUExecutionProvider"])


def _face_picture(x: int, y: int, size: tuple[int, int] = (640, 480), seed: int = 0) -> np.ndarray:
    """A textured picture with one white 32 px cell at (x, y): a face to the stand-in detector."""
    rng = np.random.default_rng(seed)
    image = rng.integers(40, 120, (size[1], size[0], 3), dtype=np.uint8)
    image[y:y + 32, x:x + 32] = 255
    return image


def test_the_model_loads_with_the_inswapper_interface(model: InswapperModel) -> None:
    assert (model.target_input, model.source_input, model.output, model.size) == ("target", "source", "output", 128)
    assert model.emap.shape == (512, 512)
    embedding = np.random.default_rng(5).normal(size=512)
    latent = model.latent(embedding)
    assert latent.shape == (512,) and latent.dtype == np.float32
    assert float(np.linalg.norm(latent)) == pytest.approx(1.0, abs=1e-5)
    # The latent is the normalised embedding through emap: scaling the embedding changes nothing.
    assert np.allclose(model.latent(3 * embedding), latent, atol=1e-6)
    with pytest.raises(ValueError, match="must have 512 values"):
        model.latent(np.ones(128))
    assert model.memory_bytes() > 0


def test_a_file_that_is_not_an_inswapper_is_refused(models_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(NotAvailable, match="not an inswapper model"):
        load_inswapper(models_dir / "buffalo_l" / "w600k_r50.onnx")
    with pytest.raises(NotAvailable, match=r"No inswapper model \(.onnx\)"):
        load_inswapper(tmp_path)


def test_swap_runs_and_pastes_back_around_the_face_only(model: InswapperModel,
                                                        analyzer: InsightFaceAnalyzer) -> None:
    engine = InswapperEngine(model, analyzer)
    source = SourceFace(image=_face_picture(96, 96, seed=1), points=np.zeros((5, 2)))
    target = _face_picture(320, 224, seed=2)
    (found,) = analyzer.detect(target)

    result = engine.run(SwapRequest(source=source, target=target))

    assert result.engine == "inswapper" and result.faces_swapped == 1 and result.image is not None
    changed = np.any(result.image != target, axis=2)
    assert changed.sum() > 500, "the model's crop was pasted back"
    x0, y0, x1, y1 = found.box
    ys, xs = np.nonzero(changed)
    # Everything that changed lies within the aligned crop around the face (about twice the face's box).
    width, height = x1 - x0, y1 - y0
    assert xs.min() >= x0 - width and xs.max() <= x1 + width
    assert ys.min() >= y0 - height and ys.max() <= y1 + height
    assert np.array_equal(result.image[:, : x0 - width], target[:, : x0 - width])


def test_the_source_identity_comes_from_the_embedding_or_the_photo(model: InswapperModel,
                                                                   analyzer: InsightFaceAnalyzer) -> None:
    engine = InswapperEngine(model, analyzer)
    photo = _face_picture(96, 96, seed=1)
    embedding = analyzer.analyze(photo)[0].embedding
    from_photo = engine.prepare(SourceFace(image=photo, points=np.zeros((5, 2))))
    given = engine.prepare(SourceFace(image=photo, points=np.zeros((5, 2)), embedding=embedding))
    assert np.allclose(from_photo, given, atol=1e-6)
    with pytest.raises(ValueError, match="shows no face"):
        engine.prepare(SourceFace(image=np.zeros((64, 64, 3), dtype=np.uint8), points=np.zeros((5, 2))))


def test_auto_takes_inswapper_only_where_it_and_a_pack_are_installed(settings: Settings, models_dir: Path,
                                                                     tmp_path: Path) -> None:
    cpu = settings.model_copy(update={"models_dir": models_dir, "model_profile": "cpu"})
    assert choose_engine(cpu) == "inswapper"
    assert choose_engine(cpu.model_copy(update={"swap_engine": "landmark"})) == "landmark"
    # Tiny packs are random weights: the landmark swap is the better default there.
    assert choose_engine(cpu.model_copy(update={"model_profile": "tiny"})) == "landmark"
    bare = cpu.model_copy(update={"models_dir": tmp_path / "empty"})
    assert choose_engine(bare) == "landmark"
    with pytest.raises(NotAvailable, match="inswapper-128 model, which its worker does not have"):
        choose_engine(bare.model_copy(update={"swap_engine": "inswapper"}))


def test_a_job_swaps_with_inswapper_through_the_queue(settings: Settings, db: Database, redis: Redis,
                                                      models_dir: Path, analyzer: InsightFaceAnalyzer) -> None:
    cfg = settings.model_copy(update={"models_dir": models_dir, "model_profile": "cpu", "swap_engine": "inswapper"})
    blobs = LocalBlobStore(cfg.blobs_dir)
    photo = _face_picture(96, 96, seed=1)
    face = analyzer.analyze(photo)[0]
    target = Image.fromarray(_face_picture(320, 224, seed=2))
    buffer = io.BytesIO()
    target.save(buffer, format="PNG")
    with db.session() as session:
        user = user_repo.get_or_create(session, platform="console", platform_user_id="alice")
        persona = persona_repo.create(session, owner_id=user.id, name="Ava")
        ref = persona_repo.add_reference(session, persona=persona, blob=blobs.put_bytes(_png(photo)),
                                         filename="ava.png", width=640, height=480)
        # What persona analysis stores with the insightface engine.
        ref.face_box, ref.landmarks = list(face.box), face.landmarks.tolist()
        ref.quality = face.quality.as_dict()
        ref.embeddings = {analyzer.name: face.embedding.tolist()}
        persona.identity = {analyzer.name: build_identity(analyzer, [face.embedding]).to_json(analyzer)}
        persona.status = "ready"
        asset = asset_repo.create(session, owner_id=user.id, kind="image", blob=blobs.put_bytes(buffer.getvalue()),
                                  mime="image/png", width=640, height=480, origin="generated")
        spec = {"persona_id": persona.id, "asset_id": asset.id}
    job_id = JobService(db=db, redis=redis, settings=cfg).submit(
        user=user, spec=JobService.validate("faceswap", spec), chat={"platform": "console", "chat_id": "1"}).job_id

    drain(cfg, db, redis, queues=("gpu",))

    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None and job.status == "done", job.error if job else None
        (made,) = asset_repo.for_job(session, job_id=job_id)
        assert made.meta["engine"] == "inswapper" and made.meta["faces_swapped"] == 1
        assert (made.kind, made.mime, made.width, made.height) == ("image", "image/png", 640, 480)
    swapped = np.asarray(Image.open(io.BytesIO(blobs.read_bytes(made.blob))).convert("RGB"))
    assert np.any(swapped != np.asarray(target), axis=2).sum() > 500


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()
