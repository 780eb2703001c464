"""The persona card: a contact-sheet PNG of a persona's aligned face crops, each with its quality marks."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from inference.engines.faces.contract import FaceQuality

CELL = 192
CAPTION = 46
MARGIN = 12
HEADER = 40
COLUMNS = 5
GOOD = (46, 160, 67)
FAIR = (219, 150, 20)
BACKGROUND = (250, 250, 248)
INK = (30, 30, 30)
# Marks on the card: what a person checking their persona would want to know about each photo.
SHARP_GOOD = 80.0
FRONTAL_DEGREES = 20.0


@dataclass(frozen=True)
class CardEntry:
    """One accepted photo on the card: its aligned crop (RGB, any square size), label and quality."""

    crop: np.ndarray
    label: str
    quality: FaceQuality


def quality_marks(quality: FaceQuality) -> tuple[list[str], bool]:
    """Short words describing a face's quality, and whether all of them are good."""
    sharp = quality.blur >= SHARP_GOOD
    # Yaw only: the landmark pitch estimate reads frontal faces as tilted 15-30 degrees, so judging pitch here
    # would mark good photos as turned.
    frontal = abs(quality.pose.yaw) <= FRONTAL_DEGREES
    words = ["sharp" if sharp else "soft", "frontal" if frontal else "turned", f"{quality.face_px}px"]
    return words, sharp and frontal


def render_card(title: str, entries: list[CardEntry]) -> bytes:
    """PNG bytes of the contact sheet: a title line, then one cell per photo with a coloured quality dot."""
    columns = max(1, min(COLUMNS, len(entries)))
    rows = max(1, -(-len(entries) // columns))
    width = MARGIN + columns * (CELL + MARGIN)
    height = HEADER + rows * (CELL + CAPTION + MARGIN) + MARGIN
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    title_font = ImageFont.load_default(size=18)
    font = ImageFont.load_default(size=12)
    draw.text((MARGIN, 10), title, fill=INK, font=title_font)
    for index, entry in enumerate(entries):
        x = MARGIN + (index % columns) * (CELL + MARGIN)
        y = HEADER + (index // columns) * (CELL + CAPTION + MARGIN)
        crop = Image.fromarray(entry.crop).convert("RGB").resize((CELL, CELL), Image.Resampling.LANCZOS)
        sheet.paste(crop, (x, y))
        words, all_good = quality_marks(entry.quality)
        dot = (x + 2, y + CELL + 8, x + 12, y + CELL + 18)
        draw.ellipse(dot, fill=GOOD if all_good else FAIR)
        label = entry.label if len(entry.label) <= 26 else entry.label[:25] + "…"
        draw.text((x + 18, y + CELL + 5), label, fill=INK, font=font)
        draw.text((x + 18, y + CELL + 23), " · ".join(words), fill=(90, 90, 90), font=font)
    out = io.BytesIO()
    sheet.save(out, format="PNG", optimize=True)
    return out.getvalue()
