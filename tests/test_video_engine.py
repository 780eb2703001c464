"""The video engines on real pictures: motion presets measured on the encoded clips, and the tiny LTX model."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skimage.data
from click.testing import CliRunner
from PIL import Image, ImageDraw

from cli.models import models as models_cli
from core.errors import JobCancelled
from core.settings import Settings
from inference.device import plan_for
from inference.engines.video import (
    PRESETS,
    LtxVideoEngine,
    MotionEngine,
    VideoRequest,
    output_size,
    render_frames,
)
from inference.engines.video.motion import PAN_TRAVEL, Camera, _warp, camera_at
from inference.media import probe, read_frames
from inference.models.registry import video_model_for_profile
from inference.models.resolve import video_model
from inference.models.store import ModelStore

SIDE = 192  # longest side of the test clips: small enough to keep the suite fast, large enough to measure


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    """A textured 3:2 photo (cropped from scikit-image's astronaut) brightened so no pixel is near black."""
    pixels = skimage.data.astronaut()[64:448, :, :].astype(np.float32)  # 512x384
    return Image.fromarray((90 + pixels * (165 / 255)).astype(np.uint8))


@pytest.fixture(scope="module")
def disk() -> Image.Image:
    """A red disk of radius 60 at the centre of a 360x240 grey noise texture."""
    rng = np.random.default_rng(1)
    noise = rng.integers(100, 140, size=(240, 360), dtype=np.uint8)
    image = Image.fromarray(np.stack([noise] * 3, axis=-1))
    ImageDraw.Draw(image).ellipse((120, 60, 240, 180), fill=(230, 20, 20))
    return image


def _clip(image: Image.Image, motion: str, out: Path, *, seconds: float = 2.0, fps: int = 12) -> list[np.ndarray]:
    result = MotionEngine().run(VideoRequest(image=image, output=out, motion=motion, seconds=seconds, fps=fps,
                                             max_side=SIDE))
    assert result.path == out and out.is_file()
    return list(read_frames(out))


def _shift(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """How far the content of ``a`` moved to become ``b`` (dx, dy in pixels), by phase correlation."""
    grey_a, grey_b = a.astype(np.float64).mean(axis=2), b.astype(np.float64).mean(axis=2)
    window = np.outer(np.hanning(grey_a.shape[0]), np.hanning(grey_a.shape[1]))
    fa = np.fft.fft2((grey_a - grey_a.mean()) * window)
    fb = np.fft.fft2((grey_b - grey_b.mean()) * window)
    cross = fb * np.conj(fa)
    correlation = np.abs(np.fft.ifft2(cross / (np.abs(cross) + 1e-9)))
    dy, dx = np.unravel_index(int(np.argmax(correlation)), correlation.shape)
    height, width = correlation.shape
    return (int(dx) - width if dx > width // 2 else int(dx)), (int(dy) - height if dy > height // 2 else int(dy))


def _disk_radius(frame: np.ndarray) -> tuple[float, float, float]:
    """Radius (from the area) and centre of the red disk in ``frame``."""
    red = (frame[..., 0] > 180) & (frame[..., 1] < 90) & (frame[..., 2] < 90)
    ys, xs = np.nonzero(red)
    return float(np.sqrt(red.sum() / np.pi)), float(xs.mean()), float(ys.mean())


# ---- presets -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("motion", PRESETS)
def test_each_preset_has_the_right_frames_size_and_no_borders(motion: str, astronaut: Image.Image,
                                                             tmp_path: Path) -> None:
    frames = _clip(astronaut, motion, tmp_path / "clip.mp4", seconds=2.0, fps=12)

    info = probe(tmp_path / "clip.mp4", count_frames=True)
    assert (info.width, info.height, info.fps, info.frames) == (192, 144, 12.0, 24)  # 512x384 is 4:3
    assert info.duration_s == pytest.approx(2.0, abs=0.05)
    assert len(frames) == 24
    for index, frame in enumerate(frames):
        # The source is nowhere darker than 90: a strip of border would show up as near-black edge pixels.
        edges = np.concatenate([frame[:2].reshape(-1, 3), frame[-2:].reshape(-1, 3),
                                frame[:, :2].reshape(-1, 3), frame[:, -2:].reshape(-1, 3)])
        assert edges.min() > 50, f"{motion}: dark edge in frame {index}"


@pytest.mark.parametrize(("motion", "sign", "axis"), [
    ("pan-left", 1, "x"), ("pan-right", -1, "x"), ("tilt-up", 1, "y"), ("tilt-down", -1, "y"),
])
def test_pans_and_tilts_move_the_content_the_right_way_and_distance(motion: str, sign: int, axis: str,
                                                                    astronaut: Image.Image, tmp_path: Path) -> None:
    frames = _clip(astronaut, motion, tmp_path / "clip.mp4")

    dx, dy = _shift(frames[0], frames[-1])

    # The camera turns left (or looks up), so the picture slides right (or down) by about 12% of the frame.
    along, across, extent = (dx, dy, 192) if axis == "x" else (dy, dx, 144)
    assert sign * along > 0, (dx, dy)
    assert 0.10 * extent <= abs(along) <= 0.15 * extent, (dx, dy)
    assert abs(along) == pytest.approx(PAN_TRAVEL * extent, abs=2)
    assert abs(across) <= 1


def test_zoom_in_and_out_scale_the_centre_by_a_fifth(disk: Image.Image, tmp_path: Path) -> None:
    zoom_in = _clip(disk, "zoom-in", tmp_path / "in.mp4")
    zoom_out = _clip(disk, "zoom-out", tmp_path / "out.mp4")

    r_first, x_first, y_first = _disk_radius(zoom_in[0])
    r_last, x_last, y_last = _disk_radius(zoom_in[-1])
    assert r_first == pytest.approx(60 * 192 / 360, rel=0.03)  # the first frame shows the whole picture
    assert r_last / r_first == pytest.approx(1.2, abs=0.03)  # a fifth closer by the end
    assert (x_last, y_last) == pytest.approx((x_first, y_first), abs=1.0)  # zooms stay centred
    radii = [_disk_radius(frame)[0] for frame in zoom_in]
    assert all(b >= a - 0.3 for a, b in itertools.pairwise(radii)), "zoom-in never backs off"
    assert _disk_radius(zoom_out[-1])[0] / _disk_radius(zoom_out[0])[0] == pytest.approx(1 / 1.2, abs=0.03)


def test_orbit_drifts_and_comes_back_to_where_it_started(astronaut: Image.Image, tmp_path: Path) -> None:
    frames = _clip(astronaut, "orbit", tmp_path / "clip.mp4")

    def difference(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.abs(a.astype(int) - b.astype(int)).mean())

    assert difference(frames[0], frames[-1]) < 3.0  # a loop: the last frame is the first again
    assert difference(frames[0], frames[len(frames) // 2]) > 10.0
    assert max(abs(v) for v in _shift(frames[0], frames[len(frames) // 4])) >= 3


def test_motion_is_eased_and_free_of_jumps() -> None:
    for motion in ("pan-right", "zoom-in"):
        values = [camera_at(motion, i / 47) for i in range(48)]
        path = [c.x for c in values] if motion == "pan-right" else [np.log(c.zoom) for c in values]
        steps = np.diff(path)
        assert (steps > 0).all(), motion
        peak = int(np.argmax(steps))
        assert 20 <= peak <= 26, "fastest in the middle"
        assert steps[0] < 0.1 * steps.max() and steps[-1] < 0.1 * steps.max(), "starts and stops at rest"
        assert np.abs(np.diff(steps)).max() < 0.1 * steps.max(), "speed changes gradually"


def test_frames_are_sampled_at_sub_pixel_positions() -> None:
    # A horizontal ramp whose value is the column index: each output pixel's value is where it was sampled.
    ramp = np.tile(np.arange(400, dtype=np.float32), (300, 1))
    size = (200, 150)
    camera = Camera(zoom=1.25, x=0.5)
    frame = _warp(ramp, camera, size)
    nudged = _warp(ramp, Camera(zoom=1.25, x=0.5 + 0.1 / 400), size)  # a tenth of a source pixel

    view = 400 / 1.25
    left = 200 - view / 2
    expected = left + (np.arange(200) + 0.5) * (view / 200) - 0.5
    assert np.allclose(frame[:, 5:-5], expected[5:-5], atol=0.05)
    assert float((nudged - frame)[:, 5:-5].mean()) == pytest.approx(0.1, abs=0.03)


def test_output_keeps_the_aspect_ratio_with_even_sides() -> None:
    assert output_size(1536, 1024, 1024) == (1024, 682)
    assert output_size(301, 199, 192) == (192, 126)
    assert output_size(101, 67, 1024) == (100, 66)  # never enlarged
    assert output_size(1080, 1920, 1024) == (576, 1024)


def test_an_odd_sized_source_is_animated(astronaut: Image.Image, tmp_path: Path) -> None:
    odd = astronaut.resize((301, 199))
    result = MotionEngine().run(VideoRequest(image=odd, output=tmp_path / "odd.mp4", motion="pan-right",
                                             seconds=2, fps=12, max_side=SIDE))
    info = probe(result.path, count_frames=True)
    assert (result.width, result.height) == (info.width, info.height) == (192, 126)
    assert info.frames == 24
    assert abs(192 / 126 - 301 / 199) < 0.02


def test_bad_requests_are_refused_naming_the_argument(astronaut: Image.Image, tmp_path: Path) -> None:
    engine = MotionEngine()

    def request(**changes: object) -> VideoRequest:
        fields: dict = {"image": astronaut, "output": tmp_path / "x.mp4", "motion": "zoom-in", "seconds": 4.0}
        fields.update(changes)
        return VideoRequest(**fields)

    for seconds in (1.9, 10.5, float("nan"), "4", True):
        with pytest.raises(ValueError, match="--seconds"):
            engine.check_inputs(request(seconds=seconds))
    for motion in ("spin", "ai", "", None):
        with pytest.raises(ValueError, match="--motion"):
            engine.check_inputs(request(motion=motion))
    with pytest.raises(ValueError, match="fps"):
        engine.check_inputs(request(fps=0))
    with pytest.raises(ValueError, match="--motion"):
        render_frames(astronaut, "wobble", (64, 48), 10)
    assert not (tmp_path / "x.mp4").exists()


def test_progress_every_twentieth_and_cancel_leaves_no_file(astronaut: Image.Image, tmp_path: Path) -> None:
    reports: list[tuple[float, str]] = []
    MotionEngine().run(VideoRequest(image=astronaut, output=tmp_path / "ok.mp4", motion="zoom-in", seconds=4,
                                    fps=12, max_side=96), lambda f, s: reports.append((f, s)))
    fractions = [f for f, _ in reports]
    assert 18 <= len(reports) <= 26 and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert reports[-1][1] == "frame 48/48"

    def cancel_midway(fraction: float, stage: str) -> None:
        if fraction >= 0.3:
            raise JobCancelled("job")

    with pytest.raises(JobCancelled):
        MotionEngine().run(VideoRequest(image=astronaut, output=tmp_path / "cancelled.mp4", motion="orbit",
                                        seconds=4, fps=12, max_side=96), cancel_midway)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.mp4"]


# ---- AI motion (tiny LTX) ------------------------------------------------------------------------------------


def _ltx(models_dir: Path) -> LtxVideoEngine:
    model = ModelStore(models_dir).resolve("ltx-tiny")
    return LtxVideoEngine.load(model, plan_for(full_gb=0, min_gb=0, prefer="cpu"))


def test_tiny_ltx_loads_from_the_store_and_makes_a_clip(tiny_video_models_dir: Path, astronaut: Image.Image,
                                                        tmp_path: Path) -> None:
    engine = _ltx(tiny_video_models_dir)
    assert type(engine.pipeline).__name__ == "LTXImageToVideoPipeline"
    assert engine.pipeline.config._name_or_path == str(tiny_video_models_dir / "ltx-tiny" / "tiny-v1")
    reports: list[tuple[float, str]] = []

    result = engine.run(VideoRequest(image=astronaut, output=tmp_path / "ai.mp4", motion="ai", seconds=2, fps=8,
                                     max_side=1024, prompt="a woman smiling", seed=3),
                        lambda f, s: reports.append((f, s)))

    info = probe(result.path, count_frames=True)
    assert info.fps == 8.0
    assert (result.width, result.height) == (info.width, info.height) == (64, 64)
    assert result.frames == info.frames == 17  # 2 s at 8 fps = 16, rounded to 8k + 1
    assert result.last_frame.shape == (64, 64, 3) and result.last_frame.dtype == np.uint8
    assert (result.model, result.seed, result.steps) == ("ltx-tiny@tiny-v1", 3, 2)
    stages = [s for _, s in reports]
    assert "denoising 1/2" in stages and "denoising 2/2" in stages and stages[-1] == "encoding"
    fractions = [f for f, _ in reports]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)


def test_tiny_ltx_is_reproducible_from_its_seed(tiny_video_models_dir: Path, astronaut: Image.Image,
                                                tmp_path: Path) -> None:
    engine = _ltx(tiny_video_models_dir)

    def last(seed: int, name: str) -> np.ndarray:
        request = VideoRequest(image=astronaut, output=tmp_path / name, motion="ai", seconds=2, fps=4, seed=seed)
        return engine.run(request).last_frame

    assert np.array_equal(last(5, "a.mp4"), last(5, "b.mp4"))
    assert not np.array_equal(last(5, "c.mp4"), last(6, "d.mp4"))


def test_tiny_ltx_sizes_frames_and_refusals(tiny_video_models_dir: Path, astronaut: Image.Image,
                                            tmp_path: Path) -> None:
    engine = _ltx(tiny_video_models_dir)
    assert engine.size_for(512, 384, 1024) == (64, 64)  # 48 rounds to a multiple of 32
    assert engine.size_for(1080, 1920, 1024) == (32, 64)
    assert LtxVideoEngine.frames_for(4, 24) == 97
    assert LtxVideoEngine.frames_for(10, 24) == 241
    assert LtxVideoEngine.frames_for(10, 60) == 257
    assert LtxVideoEngine.frames_for(2, 4) == 9

    def request(**changes: object) -> VideoRequest:
        fields: dict = {"image": astronaut, "output": tmp_path / "x.mp4", "motion": "ai", "seconds": 2.0}
        fields.update(changes)
        return VideoRequest(**fields)

    refusals: list[tuple[dict[str, Any], str]] = [
        ({"motion": "zoom-in"}, "--motion"), ({"seconds": 12}, "--seconds"), ({"steps": 0}, "steps"),
        ({"steps": 21}, "steps"), ({"seed": -1}, "seed"), ({"guidance": 50.0}, "guidance"),
    ]
    for changes, name in refusals:
        with pytest.raises(ValueError, match=name):
            engine.check_inputs(request(**changes))

    def cancel_at_first_step(fraction: float, stage: str) -> None:
        if stage.startswith("denoising 1"):
            raise JobCancelled("job")

    with pytest.raises(JobCancelled):
        engine.run(request(), cancel_at_first_step)
    assert list(tmp_path.iterdir()) == []
    assert engine.memory_bytes() > 0
    engine.unload()
    assert engine.pipeline is None


# ---- which model a profile animates with ---------------------------------------------------------------------


def test_profiles_and_their_video_models(settings: Settings, tmp_path: Path) -> None:
    assert video_model_for_profile("full").name == "ltx-video"  # type: ignore[union-attr]
    assert video_model_for_profile("tiny").name == "ltx-tiny"  # type: ignore[union-attr]
    assert video_model_for_profile("cpu") is None

    local = settings.model_copy(update={"models_dir": tmp_path / "fresh"})
    resolved = video_model(local)  # the tiny one is written on first use
    assert resolved is not None and resolved.key == "ltx-tiny@tiny-v1"
    assert (tmp_path / "fresh" / "ltx-tiny" / "tiny-v1" / "model_index.json").is_file()
    assert video_model(local.model_copy(update={"model_profile": "full"})) is None  # not pulled
    assert video_model(local.model_copy(update={"model_profile": "cpu"})) is None


def test_make_tiny_writes_both_tiny_models(tmp_path: Path) -> None:
    result = CliRunner().invoke(models_cli, ["--models-dir", str(tmp_path), "make-tiny"])
    assert result.exit_code == 0, result.output
    assert "sd3-tiny@tiny-v1 active" in result.output and "ltx-tiny@tiny-v1 active" in result.output
    assert ModelStore(tmp_path).verify("ltx-tiny").ok
