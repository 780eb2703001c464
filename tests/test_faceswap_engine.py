"""The landmark face swap on real photos and real video: likeness, untouched surroundings, seams, policies,
tracking and smoothing, and what comes out of a swapped clip (frames, rate, length, audio)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from inference.engines.faces.dlib_backend import DlibFaceAnalyzer, load_dlib
from inference.engines.faceswap import LandmarkSwapEngine, SourceFace, SwapRequest, shape
from inference.engines.faceswap.tracking import FaceTracker, OneEuroFilter
from inference.engines.faceswap.warp import region_around, warp_mesh
from inference.identity import PersonaIdentity, build_identity
from inference.media import probe, read_frames
from tests import faces_data, faceswap_data


@pytest.fixture(scope="module")
def faces() -> DlibFaceAnalyzer:
    return load_dlib()


@pytest.fixture(scope="module")
def identity(faces: DlibFaceAnalyzer) -> PersonaIdentity:
    """The persona's identity as persona analysis builds it from its five photos."""
    vectors = [faces.analyze(faces_data.rgb(photo))[0].embedding for _, photo in faceswap_data.persona_photos()]
    return build_identity(faces, vectors)


@pytest.fixture(scope="module")
def source(faces: DlibFaceAnalyzer) -> SourceFace:
    image = faces_data.rgb(faceswap_data.persona_photos()[0][1])
    return SourceFace(image=image, points=faces.analyze(image)[0].landmarks, label="lisa.jpg")


def _distance(faces: DlibFaceAnalyzer, image: np.ndarray, identity: PersonaIdentity) -> float:
    found = faces.analyze(image)
    assert found, "no face in the picture"
    return min(faces.distance(face.embedding, identity.vector) for face in found)


def _gradient(image: np.ndarray) -> np.ndarray:
    grey = image.astype(np.float32) if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))


def _seam(out: np.ndarray, original: np.ndarray) -> tuple[float, float]:
    """Along the outline of what changed (3 px either side): the mean gradient of the change itself, and the
    picture's gradient relative to the original's. A pasted face without blending shows a step there."""
    changed = np.any(out != original, axis=2).astype(np.uint8)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    ring = (cv2.dilate(changed, disc) - cv2.erode(changed, disc)) > 0
    difference = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).astype(np.float32) \
        - cv2.cvtColor(original, cv2.COLOR_RGB2GRAY).astype(np.float32)
    ratio = _gradient(out)[ring].mean() / _gradient(original)[ring].mean()
    return float(_gradient(difference)[ring].mean()), float(ratio)


def _outside(box: tuple[int, int, int, int], shape_: tuple[int, ...], grow: float) -> np.ndarray:
    """A mask of the picture outside ``box`` grown by ``grow`` × its size on every side."""
    x0, y0, x1, y1 = box
    pad_x, pad_y = grow * (x1 - x0), grow * (y1 - y0)
    mask = np.ones(shape_[:2], dtype=bool)
    mask[max(0, int(y0 - pad_y)):int(y1 + pad_y) + 1, max(0, int(x0 - pad_x)):int(x1 + pad_x) + 1] = False
    return mask


def test_swapped_face_takes_the_persona_likeness(faces: DlibFaceAnalyzer, identity: PersonaIdentity,
                                                source: SourceFace) -> None:
    target = faces_data.rgb(faceswap_data.target_photo())
    before = _distance(faces, target, identity)

    result = LandmarkSwapEngine(faces).run(SwapRequest(source=source, target=target))

    assert result.kind == "image" and result.faces_swapped == 1 and result.engine == "landmark"
    assert result.image is not None and result.image.shape == target.shape
    after = _distance(faces, result.image, identity)
    # Someone else before, the persona after, by the persona's own same-person limit.
    assert before > identity.threshold > after, (before, identity.threshold, after)
    (face,) = faces.analyze(target)
    outside = _outside(face.box, target.shape, 0.25)
    assert outside.mean() > 0.2
    assert np.array_equal(result.image[outside], target[outside]), "pixels outside the face must not change"
    assert np.any(result.image != target, axis=2).mean() > 0.05


def test_the_blend_leaves_no_seam(faces: DlibFaceAnalyzer, source: SourceFace) -> None:
    target = faces_data.rgb(faceswap_data.target_photo())
    engine = LandmarkSwapEngine(faces)
    result = engine.run(SwapRequest(source=source, target=target))
    assert result.image is not None
    # The same warped face pasted without colour match or blending, for comparison.
    prepared = engine.prepare(source)
    mesh = shape.with_forehead(faces.analyze(target)[0].landmarks)
    region = region_around(mesh, target.shape, margin=0.06)
    warped, covered = warp_mesh(prepared.image, prepared.mesh, mesh, prepared.triangles, region)
    pasted = target.copy()
    pasted[region.slices][covered > 0] = warped[covered > 0]

    blended_step, blended_ratio = _seam(result.image, target)
    pasted_step, pasted_ratio = _seam(pasted, target)

    assert blended_step < 15 and blended_ratio < 1.25, (blended_step, blended_ratio)
    assert pasted_step > 2 * blended_step and pasted_ratio > 1.4, (pasted_step, pasted_ratio)


def test_a_picture_without_a_face_is_left_alone(faces: DlibFaceAnalyzer, source: SourceFace) -> None:
    coffee = faces_data.rgb(faces_data.no_face())
    result = LandmarkSwapEngine(faces).run(SwapRequest(source=source, target=coffee))
    assert result.faces_swapped == 0 and result.samples == []
    assert result.image is not None and np.array_equal(result.image, coffee)


def test_several_faces_follow_the_policy(faces: DlibFaceAnalyzer, source: SourceFace) -> None:
    group = faces_data.rgb(faces_data.group())
    boxes = sorted((face.box for face in faces.analyze(group)),
                   key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)
    engine = LandmarkSwapEngine(faces)

    largest = engine.run(SwapRequest(source=source, target=group, faces="largest"))
    every = engine.run(SwapRequest(source=source, target=group, faces="all"))

    def changed_in(image: np.ndarray, box: tuple[int, int, int, int]) -> float:
        x0, y0, x1, y1 = box
        return float(np.any(image[y0:y1, x0:x1] != group[y0:y1, x0:x1], axis=2).mean())

    assert largest.image is not None and every.image is not None
    assert largest.faces_swapped == 1 and every.faces_swapped == len(boxes) == 6
    # The default swaps the main subject only; bystanders keep their faces.
    assert changed_in(largest.image, boxes[0]) > 0.3
    assert all(changed_in(largest.image, box) == 0 for box in boxes[1:])
    assert all(changed_in(every.image, box) > 0.3 for box in boxes)


def test_bad_requests_name_the_argument(faces: DlibFaceAnalyzer, source: SourceFace, tmp_path: Path) -> None:
    engine = LandmarkSwapEngine(faces)
    target = faces_data.rgb(faceswap_data.target_photo())
    five = SourceFace(image=source.image, points=source.points[:5])
    clip = faceswap_data.moving_face_clip(tmp_path / "clip.mp4", faceswap_data.target_photo(), seconds=1,
                                          audio=False)
    cases = [
        (SwapRequest(source=source, target=target, faces="everyone"), "faces must be one of largest, all"),
        (SwapRequest(source=five, target=target), "source.points must be the 68-point landmark layout"),
        (SwapRequest(source=source, target=target[:8, :8]), "target is too small"),
        (SwapRequest(source=source, target=tmp_path / "missing.mp4", output=tmp_path / "o.mp4"),
         "target must be an RGB array or an existing video file"),
        (SwapRequest(source=source, target=clip), "output is missing"),
        (SwapRequest(source=source, target=clip, output=tmp_path / "o.mp4", detect_every=0), "detect_every must"),
    ]
    for request, expected in cases:
        with pytest.raises(ValueError, match=expected):
            engine.check_inputs(request)
    with pytest.raises(ValueError, match=r"the limit is 0\.5 s"):
        engine.run(SwapRequest(source=source, target=clip, output=tmp_path / "o.mp4", max_seconds=0.5))
    assert not (tmp_path / "o.mp4").exists()


def test_video_swap_keeps_frames_rate_length_and_audio(faces: DlibFaceAnalyzer, identity: PersonaIdentity,
                                                      source: SourceFace, tmp_path: Path) -> None:
    clip = faceswap_data.moving_face_clip(tmp_path / "clip.mp4", faceswap_data.target_photo(), seconds=2, fps=12)
    before = probe(clip, count_frames=True)
    stages: list[str] = []

    result = LandmarkSwapEngine(faces).run(
        SwapRequest(source=source, target=clip, output=tmp_path / "out.mp4", detect_every=4),
        lambda fraction, stage: stages.append(stage))

    assert result.path == tmp_path / "out.mp4" and result.kind == "video"
    after = probe(result.path, count_frames=True)
    assert (after.frames, after.fps, after.width, after.height) == (before.frames, 12.0, 480, 320) == \
        (24, 12.0, 480, 320)
    assert after.has_audio and result.has_audio
    assert after.duration_s == pytest.approx(before.duration_s, abs=0.1)
    assert (result.frames, result.faces_swapped, result.frames_with_faces) == (24, 1, 24)
    assert sum(stage.startswith("frame ") for stage in stages) >= 10  # about every 5 % of the frames
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "out.mp4"]  # no intermediate files
    # Likeness as encoded: frames a quarter, half and three quarters in, decoded from the output file.
    decoded = list(read_frames(result.path))
    original = list(read_frames(clip))
    for index in (6, 12, 18):
        assert _distance(faces, decoded[index], identity) < identity.threshold
        assert _distance(faces, original[index], identity) > identity.threshold
    assert len(result.samples) == 3
    assert all(_distance(faces, sample, identity) < identity.threshold for sample in result.samples)


def _jitter(track: list[np.ndarray]) -> float:
    """Mean size of the landmarks' second differences: zero for a face moving at constant speed."""
    points = np.stack(track)
    return float(np.linalg.norm(points[2:] - 2 * points[1:-1] + points[:-2], axis=-1).mean())


def test_landmark_smoothing_reduces_jitter(faces: DlibFaceAnalyzer) -> None:
    # A face moving at constant speed through a noisy sensor: any second difference is fitting noise.
    frames = faceswap_data.moving_frames(faceswap_data.target_photo(), frames=36, travel=90, noise=6.0)
    engine = LandmarkSwapEngine(faces)
    tracks: dict[bool, list[np.ndarray]] = {}
    for smoothing in (False, True):
        tracker = FaceTracker(engine, fps=24.0, detect_every=6, smoothing=smoothing)
        tracks[smoothing] = [tracker.step(frame, index)[0] for index, frame in enumerate(frames)]
        assert tracker.track_count == 1  # one face followed throughout, never lost and found again

    raw, smooth = _jitter(tracks[False]), _jitter(tracks[True])
    assert smooth < 0.6 * raw, (raw, smooth)
    # Steady, not late: the smoothed face stays within a few pixels of where the fitter puts it.
    lag = np.linalg.norm(np.stack(tracks[True]).mean(axis=1) - np.stack(tracks[False]).mean(axis=1), axis=-1)
    assert float(lag[5:].mean()) < 3.0, lag


def test_one_euro_filter_follows_fast_moves_and_holds_still_ones() -> None:
    still = np.array([[100.0, 100.0]])
    rng = np.random.default_rng(1)
    steady = OneEuroFilter()
    held = [steady(still + rng.normal(0, 1.0, still.shape), index / 30, 100.0) for index in range(60)]
    assert float(np.std(np.concatenate(held[10:])[:, 0])) < 0.5  # the raw input's spread is 1.0

    moving = OneEuroFilter()
    followed = [moving(still + np.array([[20.0 * index, 0.0]]), index / 30, 100.0) for index in range(30)]
    # 600 px/s, six face sizes a second: the cutoff opens up and the filter keeps within a few frames' travel.
    assert float(20.0 * 29 + 100.0 - followed[-1][0, 0]) < 60.0


def test_largest_policy_follows_one_face_in_a_video(faces: DlibFaceAnalyzer) -> None:
    frames = faceswap_data.two_faces_frames(6)
    engine = LandmarkSwapEngine(faces)
    counts = {}
    for policy in ("largest", "all"):
        tracker = FaceTracker(engine, fps=12.0, detect_every=3, policy=policy)
        counts[policy] = [len(tracker.step(frame, index)) for index, frame in enumerate(frames)]
        assert tracker.track_count == 2
        assert len(tracker.swapped) == (1 if policy == "largest" else 2)
    assert counts == {"largest": [1] * 6, "all": [2] * 6}
