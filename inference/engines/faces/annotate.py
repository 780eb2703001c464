"""A photo with its faces boxed and numbered: what a user is shown when a photo is refused for its faces."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# Chat apps show photos at a few hundred pixels: a larger copy only costs upload time.
MAX_SIDE = 1280
BOX = (255, 59, 48)
SUBJECT = (52, 199, 89)
LABEL_INK = (255, 255, 255)
JPEG_QUALITY = 88


def render_faces(image: np.ndarray | Image.Image, boxes: Sequence[tuple[int, int, int, int]], *,
                 subject: int | None = 0, max_side: int = MAX_SIDE) -> bytes:
    """JPEG bytes of ``image`` (at most ``max_side`` on its longer side) with every box drawn and numbered.

    ``boxes`` are (x0, y0, x1, y1) in ``image``'s pixels, numbered 1, 2, ... in the given order; the box at
    index ``subject`` (the face taken as the persona's) is drawn in green, the others in red, so the user sees
    at a glance which faces are in the way. Lines and labels scale with the picture, so they stay readable on a
    phone whatever the photo's size.
    """
    picture = (Image.fromarray(image) if isinstance(image, np.ndarray) else image).convert("RGB")
    scale = min(1.0, max_side / max(picture.size))
    if scale < 1.0:
        picture = picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))),
                                 Image.Resampling.LANCZOS)
    draw = ImageDraw.Draw(picture)
    long_side = max(picture.size)
    width = max(2, round(long_side / 250))
    font = ImageFont.load_default(size=max(14, round(long_side / 28)))
    for number, box in enumerate(boxes, start=1):
        x0, y0, x1, y1 = (round(v * scale) for v in box)
        colour = SUBJECT if subject is not None and number - 1 == subject else BOX
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=width)
        text = str(number)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        pad = max(2, width)
        tag_w, tag_h = right - left + 2 * pad, bottom - top + 2 * pad
        # The number sits on the box's top edge, inside the picture even for a face at the very top.
        tag_x = min(max(0, x0), picture.width - tag_w)
        tag_y = y0 - tag_h if y0 - tag_h >= 0 else min(y0, picture.height - tag_h)
        draw.rectangle((tag_x, tag_y, tag_x + tag_w, tag_y + tag_h), fill=colour)
        draw.text((tag_x + pad - left, tag_y + pad - top), text, fill=LABEL_INK, font=font)
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()
