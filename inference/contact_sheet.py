"""A photoshoot's contact sheet: one JPEG with every shot numbered, its likeness under it, weak shots framed
in red, so a creator picks favourites from one message instead of scrolling through N."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

TILE = 300  # px across one shot's thumbnail
GAP = 12
STRIP = 52  # px under each thumbnail for its label
BACKGROUND = (24, 24, 27)
TEXT = (235, 235, 235)
MUTED = (160, 160, 170)
WEAK = (220, 53, 69)
BADGE = (255, 255, 255)
QUALITY = 85


@dataclass(frozen=True)
class SheetTile:
    """One shot on the sheet: its number, picture, what it is ("profile") and its likeness line."""

    number: int
    image: Image.Image
    label: str
    likeness: str  # "" when not checked
    weak: bool = False


def columns(count: int) -> int:
    """Tiles a row: rows of 3 or 4 that leave the fewest gaps (6 → 3×2, 8 → 4×2, 12 → 4×3)."""
    return min((4, 3), key=lambda cols: (math.ceil(count / cols) * cols - count, -cols)) if count > 4 else count


def render_sheet(tiles: Sequence[SheetTile]) -> bytes:
    """The contact sheet as JPEG bytes."""
    if not tiles:
        raise ValueError("tiles is empty: a contact sheet needs at least one shot")
    first = tiles[0].image
    height = round(TILE * first.height / first.width)
    cols = columns(len(tiles))
    rows = math.ceil(len(tiles) / cols)
    sheet = Image.new("RGB", (GAP + cols * (TILE + GAP), GAP + rows * (height + STRIP + GAP)), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    big, small = ImageFont.load_default(size=26), ImageFont.load_default(size=17)
    for index, tile in enumerate(tiles):
        x = GAP + (index % cols) * (TILE + GAP)
        y = GAP + (index // cols) * (height + STRIP + GAP)
        thumb = tile.image.convert("RGB").resize((TILE, height), Image.Resampling.LANCZOS)
        sheet.paste(thumb, (x, y))
        if tile.weak:
            draw.rectangle((x - 1, y - 1, x + TILE, y + height), outline=WEAK, width=5)
        # The number sits on the picture, where the eye looks first; the same number is on the button.
        badge = (x + 8, y + 8, x + 50, y + 50)
        draw.ellipse(badge, fill=WEAK if tile.weak else BADGE)
        draw.text(((badge[0] + badge[2]) / 2, (badge[1] + badge[3]) / 2), str(tile.number), font=big,
                  fill=BADGE if tile.weak else BACKGROUND, anchor="mm")
        draw.text((x, y + height + 6), tile.label, font=small, fill=TEXT)
        line = tile.likeness + (" · weak" if tile.weak else "")
        draw.text((x, y + height + 28), line or "likeness not checked", font=small,
                  fill=WEAK if tile.weak else MUTED)
    buffer = io.BytesIO()
    sheet.save(buffer, format="JPEG", quality=QUALITY, optimize=True)
    return buffer.getvalue()
