"""Face geometry without models: five-point alignment, rough head pose, sharpness, crops for the persona card."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

# The ArcFace 112x112 template (insightface ``arcface_dst``): eye centres, nose tip, mouth corners, in image
# order (the eye on the image's left first). Every recogniser trained on it expects faces warped onto it.
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)
ARCFACE_SIZE = 112
# Where the nose tip sits between the eye line and the mouth line on a frontal face (from the template).
_FRONTAL_NOSE_RATIO = (71.7366 - 51.6) / (92.285 - 51.6)
# How far the nose tip stands in front of the eye plane, in inter-eye distances (anthropometric average),
# and the eye-to-mouth height in the same unit (from the template): the head model yaw and pitch come from.
_NOSE_DEPTH = 0.6
_FACE_HEIGHT = 1.16


@dataclass(frozen=True)
class Pose:
    """Head rotation in degrees estimated from five landmarks: rough, meant for refusing extreme poses."""

    yaw: float
    pitch: float
    roll: float


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 matrix of the least-squares similarity (rotation, uniform scale, shift) taking ``src`` to ``dst``.

    Umeyama's method, as insightface's ``estimate_norm`` uses through scikit-image; written out here so the
    alignment does not depend on which of those libraries is installed.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    n = src.shape[0]
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / n
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(cov) < 0:
        d[-1] = -1.0  # a reflection would fit better; a face must never be mirrored by alignment
    rotation = u @ np.diag(d) @ vt
    var_src = (src_c**2).sum() / n
    scale = float((s * d).sum() / var_src) if var_src > 0 else 1.0
    shift = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, shift[:, None]])


def align_face(image: np.ndarray, five: np.ndarray, *, size: int = ARCFACE_SIZE, zoom: float = 1.0,
               fill: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """A ``size``-pixel square crop with the five landmarks on the ArcFace template.

    ``zoom`` < 1 shows more around the face (the persona card uses it); 1.0 is the recogniser's own input.
    Outside the photo is ``fill``: black, as insightface's ``norm_crop`` pads what ArcFace was trained on.
    """
    dst = (ARCFACE_TEMPLATE - ARCFACE_SIZE / 2) * zoom * (size / ARCFACE_SIZE) + size / 2
    matrix = similarity_transform(five, dst)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=fill)


def estimate_pose(five: np.ndarray) -> Pose:
    """Yaw, pitch and roll in degrees from eye centres, nose tip and mouth corners."""
    pts = np.asarray(five, dtype=np.float64)
    left_eye, right_eye = pts[0], pts[1]
    roll = math.degrees(math.atan2(right_eye[1] - left_eye[1], right_eye[0] - left_eye[0]))
    # Undo the roll so yaw and pitch are read along the face's own axes.
    eye_mid = (left_eye + right_eye) / 2
    angle = -math.radians(roll)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    upright = (pts - eye_mid) @ rot.T
    eye_dist = max(float(np.linalg.norm(right_eye - left_eye)), 1e-6)
    mouth_mid = (upright[3] + upright[4]) / 2
    nose_u = upright[2]
    midline_x = mouth_mid[0] / 2
    yaw = math.degrees(math.asin(float(np.clip((nose_u[0] - midline_x) / (_NOSE_DEPTH * eye_dist), -1, 1))))
    face_height = max(float(mouth_mid[1]), 1e-6)
    ratio = float(nose_u[1]) / face_height
    # Pitching by θ moves the projected nose tip by depth·tan θ relative to the eye-mouth height.
    pitch = math.degrees(math.atan((ratio - _FRONTAL_NOSE_RATIO) * _FACE_HEIGHT / _NOSE_DEPTH))
    return Pose(yaw=yaw, pitch=pitch, roll=roll)


def sharpness(aligned: np.ndarray) -> float:
    """Variance of the Laplacian of a grey aligned face crop: low means blurred.

    Measured on the aligned crop (a fixed size), so a large face in a big photo and a small one are comparable.
    """
    grey = cv2.cvtColor(aligned, cv2.COLOR_RGB2GRAY) if aligned.ndim == 3 else aligned
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def five_from_68(points: np.ndarray) -> np.ndarray:
    """The five ArcFace points (eye centres, nose tip, mouth corners) from the iBUG 68-point layout."""
    pts = np.asarray(points, dtype=np.float64)
    return np.stack([pts[36:42].mean(axis=0), pts[42:48].mean(axis=0), pts[30], pts[48], pts[54]])
