"""The main colours of a photo in words ("deep red and black"): what an outfit photo without a description is
saved as. No model here can say what a garment is; colours are what can be read honestly from the pixels."""

from __future__ import annotations

import colorsys
import io
from collections import Counter

import numpy as np
from PIL import Image

# A colour counts when it covers at least this share of the middle of the photo.
MIN_SHARE = 0.12
MOST = 3


def colour_name(red: int, green: int, blue: int) -> str:
    """The everyday name of one RGB colour (black, navy, deep red, beige …)."""
    hue, saturation, value = colorsys.rgb_to_hsv(red / 255, green / 255, blue / 255)
    degrees = hue * 360
    if value < 0.18:
        return "black"
    if saturation < 0.15:
        return "white" if value > 0.85 else "light grey" if value > 0.6 else "grey" if value > 0.35 else "charcoal"
    if saturation < 0.4 and value > 0.7 and 20 <= degrees < 55:
        return "beige"
    if degrees < 15 or degrees >= 345:
        return "deep red" if value < 0.5 else "pink" if saturation < 0.45 else "red"
    if degrees < 40:
        return "brown" if value < 0.6 else "orange"
    if degrees < 65:
        return "olive" if value < 0.5 else "yellow"
    if degrees < 165:
        return "dark green" if value < 0.4 else "green"
    if degrees < 195:
        return "teal"
    if degrees < 255:
        return "navy" if value < 0.45 else "light blue" if saturation < 0.4 else "blue"
    if degrees < 290:
        return "purple"
    return "pink"


def dominant_colours(data: bytes) -> list[str]:
    """Up to three colour names covering most of the middle of the image, most common first."""
    with Image.open(io.BytesIO(data)) as image:
        small = image.convert("RGB")
    small.thumbnail((96, 96))
    width, height = small.size
    # The outfit fills the middle of an outfit photo; the edges are mostly background.
    middle = small.crop((int(width * 0.2), int(height * 0.1), max(int(width * 0.8), 1), max(int(height * 0.95), 1)))
    pixels = np.asarray(middle).reshape(-1, 3)
    # Quantised first: neighbouring shades share a name, and naming 32 levels per channel is cheap.
    levels, counts = np.unique(pixels // 8 * 8 + 4, axis=0, return_counts=True)
    shares: Counter[str] = Counter()
    for (red, green, blue), number in zip(levels.tolist(), counts.tolist(), strict=True):
        shares[colour_name(red, green, blue)] += number
    total = sum(shares.values()) or 1
    found = [name for name, number in shares.most_common(MOST) if number / total >= MIN_SHARE]
    return found or [shares.most_common(1)[0][0]]


def in_words(colours: list[str]) -> str:
    """"red", "red and black", "red, black and white"."""
    return colours[0] if len(colours) == 1 else ", ".join(colours[:-1]) + " and " + colours[-1]
