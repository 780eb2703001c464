"""Personas and target media for the face-swap tests, made from the real photos in ``tests.faces_data``.

- ``persona_photos()``: one real person (the fourth face of insightface's ``t1.jpg``) in five different
  pictures (the photo and four augmentations), which persona analysis accepts.
- ``target_photo()``: another real person (the third face of ``t1.jpg``), the picture faces are swapped into.
- ``moving_face_clip()``: a short MP4 of a real face photo gliding across a plain background at constant
  speed, with a sine-tone audio track, for the video path.
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


def persona_photos() -> list[tuple[str, Image.Image]]:
    """Five pictures of one person, as a user would send them for a persona."""
    face = faces_data.group_faces()[PERSONA_FACE]
    return [("lisa.jpg", face)] + [(f"lisa-{kind}.jpg", faces_data.augment(face, kind)) for kind in AUGMENTATIONS]


def target_photo() -> Image.Image:
    """A photo of somebody else (one face)."""
    return faces_data.group_faces()[TARGET_FACE]


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
