"""Personas, target media and measurements for the face-swap tests, made from the real photos in ``tests.faces_data``.

- ``persona_photos()``: one real person (the fourth face of insightface's ``t1.jpg``) in five different
  pictures (the photo and four augmentations), which persona analysis accepts.
- ``target_photo()``: another real person (the third face of ``t1.jpg``), the picture faces are swapped into.
- ``moving_face_clip()``: a short MP4 of a real face photo gliding across a plain background at constant
  speed, with a sine-tone audio track, for the video path.
- ``people()`` / ``persona_views()``: the eight real faces that ship in packages, and a persona's pictures of
  one of them, as the benchmark and the regression tests use them.
- ``skin_step()`` and ``seam()``: how visible a swap is at its edge (colour step between the face's skin and
  the skin around it; gradient of the change along its outline).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from redis import Redis

from core.jobs import JobService
from core.jobspecs import PersonaAnalyzeSpec
from core.settings import Settings
from inference.engines.faceswap import shape, skin
from inference.media import ffmpeg_exe, mux_audio, write_video
from storage.blobs import LocalBlobStore
from storage.db import Database
from storage.models import User
from storage.repositories import jobs as job_repo
from storage.repositories import personas as persona_repo
from tests import faces_data
from tests.workers import drain

PERSONA_FACE = 3  # index into faces_data.group_faces()
TARGET_FACE = 2
AUGMENTATIONS = ("flip", "crop", "brighter", "contrast")
# The eight real faces, in the benchmark's order, and their short names.
NAMES = ("astronaut", "tom", "t1-a", "t1-b", "t1-c", "t1-d", "t1-e", "t1-f")


def persona_photos() -> list[tuple[str, Image.Image]]:
    """Five pictures of one person, as a user would send them for a persona."""
    face = faces_data.group_faces()[PERSONA_FACE]
    return [("lisa.jpg", face)] + [(f"lisa-{kind}.jpg", faces_data.augment(face, kind)) for kind in AUGMENTATIONS]


def target_photo() -> Image.Image:
    """A photo of somebody else (one face)."""
    return faces_data.group_faces()[TARGET_FACE]


def one_sided_persona_photos() -> list[tuple[str, Image.Image]]:
    """Three pictures of the persona's person, all turned the same way (no mirror image among them)."""
    return [entry for entry in persona_photos() if not entry[0].endswith(("flip.jpg", "crop.jpg"))]


def hard_target() -> Image.Image:
    """A small photo (200 px) of a face in profile, turned the other way from ``one_sided_persona_photos``:
    no reference matches its pose, and a landmark swap cannot make it the persona's face."""
    profile = faces_data.augment(faces_data.group_faces()[4], "flip")
    return profile.resize((200, 200), Image.Resampling.LANCZOS)


def people() -> list[Image.Image]:
    """The eight real faces that ship in packages: the astronaut, Tom Hanks, the six of ``t1.jpg``."""
    return [faces_data.astronaut(), faces_data.tom(), *faces_data.group_faces()]


def persona_views(picture: Image.Image) -> list[tuple[str, Image.Image]]:
    """A persona's pictures of one person: the photo and the augmentations persona tests use."""
    return [("photo", picture)] + [(kind, faces_data.augment(picture, kind)) for kind in AUGMENTATIONS]


def analysed_persona(settings: Settings, db: Database, redis: Redis, user: User, *, name: str = "Lisa",
                     photos: list[tuple[str, Image.Image]] | None = None) -> int:
    """A ready persona made the way users make one: photos stored, then the real analysis job on a worker."""
    blobs = LocalBlobStore(settings.blobs_dir)
    with db.session() as session:
        persona = persona_repo.create(session, owner_id=user.id, name=name)
        for filename, image in photos or persona_photos():
            persona_repo.add_reference(session, persona=persona, blob=blobs.put_bytes(faces_data.jpeg_bytes(image)),
                                       filename=filename, width=image.width, height=image.height)
        persona.status = "analyzing"
        persona_id = persona.id
    job_id = JobService(db=db, redis=redis, settings=settings).submit(
        user=user, spec=PersonaAnalyzeSpec(persona_id=persona_id),
        chat={"platform": "console", "chat_id": "1"}).job_id
    drain(settings, db, redis, queues=("cpu",))
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None and job.status == "done", job.error if job else "no job"
        persona = persona_repo.get_owned(session, persona_id=persona_id, owner_id=user.id)
        assert persona is not None and persona.status == "ready"
    return persona_id


def moving_frames(face: Image.Image, *, frames: int, size: tuple[int, int] = (480, 320), face_px: int = 200,
                  travel: float = 120.0, noise: float = 0.0, seed: int = 0) -> list[np.ndarray]:
    """``frames`` RGB frames of ``face`` (scaled to ``face_px``) sliding right by ``travel`` pixels in all, at
    constant speed and sub-pixel positions, with optional Gaussian sensor noise."""
    width, height = size
    picture = np.asarray(face.convert("RGB").resize((face_px, face_px), Image.Resampling.LANCZOS), dtype=np.uint8)
    rng = np.random.default_rng(seed)
    background = np.full((height, width, 3), (96, 110, 124), dtype=np.uint8)
    out = []
    for index in range(frames):
        dx = (width - face_px - travel) / 2 + travel * index / max(frames - 1, 1)
        dy = (height - face_px) / 2
        matrix = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
        frame = cv2.warpAffine(picture, matrix, (width, height), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_TRANSPARENT, dst=background.copy())
        if noise:
            frame = np.clip(frame + rng.normal(0, noise, frame.shape), 0, 255).astype(np.uint8)
        out.append(frame)
    return out


def moving_face_clip(path: Path, face: Image.Image, *, seconds: float = 2.0, fps: int = 12,
                     size: tuple[int, int] = (480, 320), audio: bool = True, noise: float = 2.0) -> Path:
    """An MP4 at ``path`` of ``face`` moving across the frame, with a 440 Hz tone when ``audio``."""
    frames = moving_frames(face, frames=round(seconds * fps), size=size, noise=noise)
    if not audio:
        return write_video(frames, path, fps=fps)
    picture = write_video(frames, path.with_name(f"{path.stem}-picture.mp4"), fps=fps)
    tone = path.with_name(f"{path.stem}-tone.m4a")
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
                    "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac", str(tone)], check=True)
    mux_audio(picture, tone, path)
    picture.unlink()
    tone.unlink()
    return path


def two_faces_frames(frames: int) -> list[np.ndarray]:
    """Frames with two people: a bigger face drifting right on the left, a smaller one still on the right."""
    big = moving_frames(target_photo(), frames=frames, size=(420, 360), face_px=220, travel=40)
    small = moving_frames(faces_data.group_faces()[1], frames=frames, size=(300, 360), face_px=150, travel=0)
    return [np.hstack([left, right]) for left, right in zip(big, small, strict=True)]


# -- measurements ------------------------------------------------------------------------------------------

def _lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(cv2.GaussianBlur(image, (0, 0), 1.0), cv2.COLOR_RGB2LAB).astype(np.float32)


def _band(mask: np.ndarray, inner: float, outer: float) -> np.ndarray:
    """Pixels between ``inner`` and ``outer`` pixels from the edge of ``mask`` (negative: outside it)."""
    inside = cv2.distanceTransform(mask, cv2.DIST_L2, 5)
    outside = cv2.distanceTransform(255 - mask, cv2.DIST_L2, 5)
    signed = np.where(mask > 0, inside, -outside)
    return (signed >= min(inner, outer)) & (signed <= max(inner, outer))


def skin_step(image: np.ndarray, points: np.ndarray, surround: np.ndarray | None = None) -> float:
    """The colour step (CIE76 ΔE in OpenCV's 8-bit LAB) between the skin just inside a face's outline and
    the skin just outside it: the face's cheeks against the neck, temples and forehead around it.

    ``points``: the face's 68 landmarks in ``image``. Inside, pixels count when they look like the face's own
    cheeks; outside, when they look like ``surround``'s cheeks (the original photo before a swap, whose
    landmarks are ``points`` too), else like the face's own. A natural photo has a small step (shading);
    a pasted face with another skin tone a large one.
    """
    pts = np.asarray(points, dtype=np.float64)
    size = float(max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1])))
    mask = np.zeros(image.shape[:2], dtype=np.uint8)
    cv2.fillPoly(mask, [np.round(shape.outline(pts)).astype(np.int32)], 255)
    lab = _lab(image)
    sample = skin.sample_mask(pts, image.shape)
    own = skin.SkinModel.fit(lab, sample)
    around = skin.SkinModel.fit(_lab(surround), sample) if surround is not None else own
    assert own is not None and around is not None, "no skin to measure"
    inner = _band(mask, 0.04 * size, 0.12 * size) & (own.likeness(lab) > 0.5)
    outer = _band(mask, -0.02 * size, -0.10 * size) & (around.likeness(lab) > 0.5)
    assert inner.sum() > 20 and outer.sum() > 20, "too little skin around the face to measure"
    return float(np.linalg.norm(np.median(lab[inner], axis=0) - np.median(lab[outer], axis=0)))


def _gradient(image: np.ndarray) -> np.ndarray:
    grey = image.astype(np.float32) if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return np.asarray(np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)))


def seam(out: np.ndarray, original: np.ndarray) -> tuple[float, float]:
    """Along the outline of what changed (3 px either side): the mean gradient of the change itself, and the
    picture's gradient relative to the original's. A pasted face without blending shows a step there."""
    changed = np.any(out != original, axis=2).astype(np.uint8)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    ring = (cv2.dilate(changed, disc) - cv2.erode(changed, disc)) > 0
    difference = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).astype(np.float32) \
        - cv2.cvtColor(original, cv2.COLOR_RGB2GRAY).astype(np.float32)
    ratio = _gradient(out)[ring].mean() / _gradient(original)[ring].mean()
    return float(_gradient(difference)[ring].mean()), float(ratio)


def _skin_area(points: np.ndarray, shape_: tuple[int, ...]) -> np.ndarray:
    """The face's bare skin (bool): inside its outline, pulled in from it, without brows, eyes and mouth."""
    pts = np.asarray(points, dtype=np.float64)
    size = float(max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1])))
    area = np.zeros(shape_[:2], dtype=np.uint8)
    cv2.fillPoly(area, [np.round(shape.outline(pts)).astype(np.int32)], 255)
    grow = max(3, round(0.05 * size)) | 1
    area = cv2.erode(area, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow)))
    features = np.zeros_like(area)
    for group in (slice(17, 22), slice(22, 27), *(g for g, _, _ in shape.EYES), shape.OUTER_LIPS):
        cv2.fillConvexPoly(features, cv2.convexHull(np.round(pts[group]).astype(np.int32)), 255)
    features = cv2.dilate(features, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow)))
    return (area > 0) & (features == 0)


# A face pixel this much lighter (OpenCV 8-bit L, 255 = white) than the brightest 2 % of the original face's
# skin is a blotch: a highlight of the source photo that no light in the target photo explains.
BLOTCH_STEP = 15.0


def face_look(image: np.ndarray, points: np.ndarray, original: np.ndarray,
              original_points: np.ndarray) -> dict[str, float]:
    """How a swapped face's light and colour sit in the photo, against the face it replaced.

    ``points``: the swapped face's 68 landmarks in ``image``; ``original``/``original_points``: the photo
    before the swap and its face. Over the bare skin of each face (no brows, eyes or mouth):

    - ``blotch``: the share of the swapped face's skin lighter than the original's brightest 2 % by more than
      ``BLOTCH_STEP`` (blown-out highlights carried over from the source photo);
    - ``cast``: the distance between the two faces' median a*/b* (a colour cast, a pink or orange face);
    - ``grey``: the share of the swapped face's skin with less than half the original skin's median chroma
      (a grey face in a colour photo: near 1; the original photo itself: a few %). NaN when the original is
      grey.
    """
    lab, before = _lab(image), _lab(original)
    area, own = _skin_area(points, image.shape), _skin_area(original_points, original.shape)
    assert area.sum() > 50 and own.sum() > 50, "too little skin to measure"
    bright = float(np.percentile(before[own][:, 0], 98))
    blotch = float(np.mean(lab[area][:, 0] > bright + BLOTCH_STEP))
    face_ab = np.median(lab[area][:, 1:], axis=0)
    own_ab = np.median(before[own][:, 1:], axis=0)
    own_chroma = float(np.median(np.linalg.norm(before[own][:, 1:] - 128.0, axis=1)))
    chroma = np.linalg.norm(lab[area][:, 1:] - 128.0, axis=1)
    grey = float(np.mean(chroma < 0.5 * own_chroma)) if own_chroma > 3.0 else float("nan")
    return {"blotch": blotch, "cast": float(np.linalg.norm(face_ab - own_ab)), "grey": grey}
