"""The invisible watermark: an asset id prefix spread over the picture's brightness, read back after the edits
a post goes through (JPEG recompression, resizing, a crop, an H.264 re-encode).

How it works. The picture is seen on a *working grid* whose shorter side is ``SHORT_SIDE`` cells, so the same grid
is found again whatever size the picture is later scaled to. The grid is covered with tiles of ``TILE``×``TILE``
cells; each tile holds ``CHIPS``² chips of ``CHIP``×``CHIP`` cells, each chip +1 or -1. Half of the chips (a
checkerboard) are a fixed pilot pattern; the other half carry the 108 coded payload bits (``payload.py``), each
bit spread over several chips in every tile with its own pseudo-random signs. The chip pattern, scaled smoothly to
the picture's size (drawn with at least two pixels a chip: drawn coarser it aliases, and on small pictures some
payloads no longer read back), is added to the brightness: about ±``STRENGTH`` levels, more where the picture is
busy and less in flat areas (sky, skin), where a pattern would show.

Reading: the brightness is brought back to the working grid, its fine detail kept (the picture's own content is
mostly smooth at that scale) and normalised by the local contrast, and the tiles are folded onto one another,
which averages the payload up and the picture down. The pilot's circular correlation with the folded tile finds
where the tiles start (a crop moves them); a small search over scales finds the grid again after a crop changed
the shorter side (it is skipped when the grid at its own scale already gives a payload whose checksum holds: an
uncropped file, however recompressed or resized). The strength of that correlation peak against the rest of the
surface is the detection score: pictures without a watermark stay below ``DETECT_SCORE``. The payload chips then
give one soft value per coded bit for the Viterbi decoder.

Video: the same pattern, fixed for the clip's frame size, is added to every frame by ffmpeg's ``blend`` filter
(``grainmerge`` adds a signed pattern stored around 128), so watermarking costs almost nothing on top of the
encode; reading averages a few frames, where the moving picture averages out and the fixed pattern adds up.

The pattern is derived from SHAKE-256 of fixed labels, never from a random generator whose stream could
change between library versions: a file marked today must read the same in ten years.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from inference.provenance import payload

VERSION = "psw1"  # names the layout below; a new layout gets a new name and a reader for both
SHORT_SIDE = 256  # working-grid cells along the picture's shorter side
CHIP = 2  # cells per chip side
TILE = 64  # cells per tile side
CHIPS = TILE // CHIP
STRENGTH = 3.4  # brightness levels of the pattern at average picture activity
VIDEO_STRENGTH = 2.5  # a clip's pattern is the same in every frame and gets no per-frame masking
MASK_FLOOR, MASK_CEIL, MASK_ACTIVITY = 0.35, 1.6, 12.0  # strength factor: floor in flat areas, up with contrast
DETECT_SCORE = 6.5  # pilot correlation peak, in standard deviations of the surface, that counts as found
SCALE_STEP, SCALE_STEPS = 1.015, 10  # coarse scale search: 0.86 .. 1.16 (crops up to about 14 % a side)
FINE_STEP, FINE_STEPS = 1.004, 3
MIN_SIDE = 64  # pixels; smaller pictures carry no readable watermark
MASK_REDUCE = 4  # the strength mask is worked out at this fraction of the picture's size, then enlarged
# Pictures up to this size (pixels) are marked in buffers each thread keeps (8 bytes a pixel: 34 MB at most);
# larger ones, rare, get buffers of their own for the one call.
SCRATCH_PIXELS = 2048 * 2048
BAND_PIXELS = 64 * 1024  # pixels of the picture a band of the final addition covers


def _stream(label: str, count: int) -> np.ndarray:
    return np.frombuffer(hashlib.shake_256(f"{VERSION}:{label}".encode()).digest(count), dtype=np.uint8)


def _signs(label: str, count: int) -> np.ndarray:
    return np.where(_stream(label, count) & 1, 1.0, -1.0).astype(np.float32)


@dataclass(frozen=True)
class _Layout:
    pilot: np.ndarray  # (CHIPS, CHIPS) ±1 where the chip is a pilot chip, else 0
    is_pilot: np.ndarray  # (CHIPS, CHIPS) bool
    signs: np.ndarray  # (CHIPS, CHIPS) ±1 spreading signs of the payload chips
    bit_of: np.ndarray  # (CHIPS, CHIPS) coded bit index of each payload chip, -1 on pilot chips
    pilot_spectrum: np.ndarray  # conj FFT of the pilot at cell resolution, for the correlation


def _layout() -> _Layout:
    rows, cols = np.indices((CHIPS, CHIPS))
    is_pilot = (rows + cols) % 2 == 0
    pilot = np.where(is_pilot, _signs("pilot", CHIPS * CHIPS).reshape(CHIPS, CHIPS), 0.0).astype(np.float32)
    signs = _signs("spread", CHIPS * CHIPS).reshape(CHIPS, CHIPS)
    slots = np.flatnonzero(~is_pilot.reshape(-1))
    # A fixed shuffle of the payload chips, so one bit's chips are scattered over the tile (a damaged corner
    # costs every bit a little instead of some bits everything).
    order = np.argsort(np.frombuffer(hashlib.shake_256(f"{VERSION}:order".encode()).digest(4 * len(slots)),
                                     dtype=">u4"), kind="stable")
    bit_of = np.full(CHIPS * CHIPS, -1, dtype=np.int64)
    bit_of[slots[order]] = np.arange(len(slots)) % payload.CODED_BITS
    cells = np.kron(pilot, np.ones((CHIP, CHIP), dtype=np.float32))
    return _Layout(pilot=pilot, is_pilot=is_pilot, signs=signs, bit_of=bit_of.reshape(CHIPS, CHIPS),
                   pilot_spectrum=np.conj(np.fft.fft2(cells)))


LAYOUT = _layout()


def working_size(width: int, height: int) -> tuple[int, int]:
    """The working grid of a ``width``×``height`` picture: shorter side ``SHORT_SIDE`` cells."""
    factor = SHORT_SIDE / min(width, height)
    return max(1, round(width * factor)), max(1, round(height * factor))


def chip_pattern(asset_id: str) -> np.ndarray:
    """The (CHIPS, CHIPS) ±1 chips of one tile for ``asset_id``: pilot and payload interleaved."""
    coded = payload.encode(asset_id).astype(np.float32) * 2 - 1
    message = LAYOUT.signs * coded[np.maximum(LAYOUT.bit_of, 0)]
    return np.where(LAYOUT.is_pilot, LAYOUT.pilot, message)


def pattern(width: int, height: int, asset_id: str, *, size: tuple[int, int] | None = None) -> np.ndarray:
    """The ±1 pattern of ``asset_id`` for a ``width``×``height`` picture (float32, smooth between chips),
    drawn at ``size`` (width, height) when given: the same grid at another resolution."""
    grid_w, grid_h = working_size(width, height)
    tile = np.kron(chip_pattern(asset_id), np.ones((CHIP, CHIP), dtype=np.float32))
    cells = np.tile(tile, (-(-grid_h // TILE), -(-grid_w // TILE)))[:grid_h, :grid_w]
    return cv2.resize(cells, size or (width, height), interpolation=cv2.INTER_LINEAR)


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 brightness of an RGB ``uint8`` picture, as float32."""
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YCrCb)[..., 0].astype(np.float32)


def activity_mask(brightness: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """How strongly each pixel of a quarter-size brightness map may be marked, times ``strength``:
    ``MASK_FLOOR`` in flat areas, rising with local contrast (over about 12 pixels of the full-size picture)."""
    mean = cv2.blur(brightness, (3, 3))
    square = cv2.blur(cv2.multiply(brightness, brightness), (3, 3))
    spread = cv2.sqrt(np.maximum(cv2.subtract(square, cv2.multiply(mean, mean)), 0.0))
    return np.clip(spread * (strength / MASK_ACTIVITY) + strength * MASK_FLOOR, strength * MASK_FLOOR,
                   strength * MASK_CEIL)


def check_size(width: int, height: int) -> None:
    """``ValueError`` when a picture is too small to carry the watermark."""
    if min(width, height) < MIN_SIDE:
        raise ValueError(f"pictures need at least {MIN_SIDE} pixels a side for a watermark, got {width}x{height}")


def _reduced(width: int, height: int, most: int) -> tuple[int, int]:
    """``width``×``height`` divided by at most ``most``, so that a chip stays at least two pixels wide: a
    pattern drawn with fewer pixels than that per chip is aliased, and the chips the reader finds are no
    longer the ones embedded (on a 480x360 picture a chip is 2.8 pixels: a quarter-size pattern garbled it
    enough that about 3 % of asset ids did not read back even untouched)."""
    chip = CHIP * min(width, height) / SHORT_SIDE
    factor = max(1, min(most, int(chip // 2)))
    return max(1, width // factor), max(1, height // factor)


def _energy(drawn: np.ndarray, size: tuple[int, int]) -> float:
    """The root mean square of ``drawn`` once enlarged to ``size`` (width, height), as ``embed`` enlarges it."""
    enlarged = drawn if drawn.shape[::-1] == size else cv2.resize(drawn, size, interpolation=cv2.INTER_LINEAR)
    return float(np.sqrt(np.mean(np.square(enlarged, dtype=np.float64))))


def embed(rgb: np.ndarray, asset_id: str, *, strength: float = STRENGTH) -> np.ndarray:
    """``rgb`` (height, width, 3 ``uint8``) with ``asset_id``'s watermark added to its brightness.

    The strength is worked out at a quarter of the size (smooth at that scale) and the pattern at the
    smallest size that still draws every chip faithfully (a quarter on large pictures, more on small ones);
    only the enlargement of the steps and the final addition run at full size: embedding costs about as much
    as copying the picture a few times.
    """
    height, width = rgb.shape[:2]
    return _embed(rgb, asset_id, strength, np.empty((height, width, 3), dtype=np.uint8))


def embed_transient(rgb: np.ndarray, asset_id: str, *, strength: float = STRENGTH) -> np.ndarray:
    """The pixels ``embed`` returns, written into a buffer this thread keeps for the next picture: valid only
    until this thread's next call, for a caller that copies them at once (into a PIL image to encode)."""
    height, width = rgb.shape[:2]
    if width * height > SCRATCH_PIXELS:
        return embed(rgb, asset_id, strength=strength)
    return _embed(rgb, asset_id, strength, _SCRATCH.get("marked", (height, width, 3)))


def _embed(rgb: np.ndarray, asset_id: str, strength: float, out: np.ndarray) -> np.ndarray:
    height, width = rgb.shape[:2]
    check_size(width, height)
    rgb = np.ascontiguousarray(rgb)
    scratch = _SCRATCH if width * height <= SCRATCH_PIXELS else _Scratchpad()
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY, dst=scratch.get("offset", (height, width)))
    quarter = (max(1, width // MASK_REDUCE), max(1, height // MASK_REDUCE))
    brightness = cv2.resize(gray, quarter, interpolation=cv2.INTER_AREA).astype(np.float32)
    mask = activity_mask(brightness, strength)
    small = _reduced(width, height, MASK_REDUCE)
    drawn = pattern(width, height, asset_id, size=small)
    if small != quarter:
        # The strength (and the faintness the tests hold it to) was set on a quarter-size drawing, which the
        # enlargement smooths; a sharper drawing adds more energy at the same strength. Scaled to the energy
        # the quarter-size drawing has, the mark is as faint as it was, and now all of it can be read.
        smoothed = _energy(pattern(width, height, asset_id, size=quarter), (width, height))
        mask = cv2.resize(mask, small, interpolation=cv2.INTER_LINEAR) * (smoothed / _energy(drawn, (width, height)))
    steps = np.rint(cv2.multiply(drawn, mask)).astype(np.int16)
    # The whole steps enlarged on one channel (each channel of a three-channel enlargement is this one), split
    # into what to add and what to take away, and applied to the three channels by two saturating ``uint8``
    # operations: the same pixels as one saturating add of mixed types (``uint8`` + ``int16``), which costs
    # several times as much.
    delta = cv2.resize(steps, (width, height), dst=scratch.get("delta", (height, width), np.int16),
                       interpolation=cv2.INTER_LINEAR)
    offset = cv2.convertScaleAbs(delta, dst=gray, alpha=1.0, beta=128.0)  # round(delta) + 128, saturated
    # OpenCV takes a scalar as the second operand; its type stubs list arrays only.
    up = cv2.subtract(offset, 128, dst=scratch.get("up", (height, width)))  # type: ignore[call-overload]
    down = cv2.bitwise_not(offset, dst=scratch.get("down", (height, width)))  # 255 - offset
    cv2.subtract(down, 127, dst=down)  # type: ignore[call-overload]  # 128 - offset, saturated at 0
    # Band by band, so the three-channel copies of the steps stay small (and in the cache).
    band = max(1, BAND_PIXELS // width)
    up3 = scratch.get("up3", (band, width, 3))
    down3 = scratch.get("down3", (band, width, 3))
    for top in range(0, height, band):
        rows = slice(top, min(height, top + band))
        count = rows.stop - top
        cv2.add(rgb[rows], cv2.cvtColor(up[rows], cv2.COLOR_GRAY2RGB, dst=up3[:count]), dst=out[rows])
        cv2.subtract(out[rows], cv2.cvtColor(down[rows], cv2.COLOR_GRAY2RGB, dst=down3[:count]), dst=out[rows])
    return out


class _Scratchpad(threading.local):
    """Full-size working buffers kept from one picture to the next (one set a thread). A freshly allocated
    buffer of a few megabytes has every page mapped on first touch, which costs more CPU than the arithmetic
    done in it: an export marks picture after picture of the same few sizes."""

    def __init__(self) -> None:
        self.buffers: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: type = np.uint8) -> np.ndarray:
        """A ``shape`` view (contents undefined) of the buffer called ``name``, grown when too small."""
        size = int(np.prod(shape)) * np.dtype(dtype).itemsize
        buffer = self.buffers.get(name)
        if buffer is None or buffer.size < size:
            buffer = self.buffers[name] = np.empty(size, dtype=np.uint8)
        return buffer[:size].view(dtype).reshape(shape)


_SCRATCH = _Scratchpad()


def _signed_steps(delta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``delta`` rounded, as two ``uint8`` maps: the part to add and the part to subtract."""
    offset = cv2.convertScaleAbs(delta, alpha=1.0, beta=128.0)  # round(delta) + 128, saturated
    middle = np.full_like(offset, 128)
    return cv2.subtract(offset, middle), cv2.subtract(middle, offset)


class FrameMarker:
    """Marks many frames of one size with one asset's pattern, for code that produces frames itself (an
    animation, a face-swapped clip): the pattern is worked out once, each frame costs two saturating adds."""

    def __init__(self, width: int, height: int, asset_id: str, *, strength: float = VIDEO_STRENGTH) -> None:
        check_size(width, height)
        up, down = _signed_steps(strength * pattern(width, height, asset_id))
        self.size = (width, height)
        self._up, self._down = cv2.merge([up, up, up]), cv2.merge([down, down, down])

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """``frame`` (height, width, 3 ``uint8``) with the pattern added."""
        if (frame.shape[1], frame.shape[0]) != self.size:
            raise ValueError(f"frame is {frame.shape[1]}x{frame.shape[0]}, the marker {self.size[0]}x{self.size[1]}")
        return cv2.subtract(cv2.add(np.ascontiguousarray(frame), self._up), self._down)


def write_video_pattern(path: Path, width: int, height: int, asset_id: str, *,
                        strength: float = VIDEO_STRENGTH) -> Path:
    """A one-frame YUV4MPEG file: the pattern around 128 in Y, U and V at 128, for ``blend=grainmerge``.

    Y4M keeps the frame exactly as written (a PNG would be range-converted on its way into yuv420p).
    """
    if width % 2 or height % 2:
        raise ValueError(f"video frames have even sizes, got {width}x{height}")
    check_size(width, height)
    level = np.clip(np.rint(128 + strength * pattern(width, height, asset_id)), 0, 255).astype(np.uint8)
    chroma = np.full((height // 2) * (width // 2), 128, dtype=np.uint8).tobytes()
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\nFRAME\n".encode("ascii"))
        out.write(level.tobytes())
        out.write(chroma)
        out.write(chroma)
    return path


def _escape(path: Path) -> str:
    """``path`` as a filter option inside a filtergraph (both of ffmpeg's escaping levels)."""
    value = str(path).replace("\\", "\\\\").replace("'", "\\'").replace(":", "\\:")
    for char in "\\'[],;":
        value = value.replace(char, "\\" + char)
    return value


def video_filter(picture_filter: str, pattern_path: Path) -> str:
    """``picture_filter`` (a filtergraph ending in the output frame) followed by adding the pattern file."""
    return (f"{picture_filter},format=yuv420p[wm_picture];"
            f"movie={_escape(pattern_path)},format=yuv420p[wm_pattern];"
            "[wm_picture][wm_pattern]blend=all_mode=grainmerge:repeatlast=1")


@dataclass(frozen=True)
class Detection:
    """What reading a picture (or clip) found."""

    score: float  # pilot correlation peak in standard deviations; >= DETECT_SCORE means a watermark is there
    prefix: str | None  # the asset id prefix when the payload decoded and its checksum held
    corrected: int  # coded bits the decoder had to overrule
    scale: float  # working-grid scale at which it was found (1.0: not cropped)
    raw: str = ""  # what the payload decoded to before the checksum (diagnostics and benchmarks only)

    @property
    def present(self) -> bool:
        """Whether a watermark is there (readable or not)."""
        return self.score >= DETECT_SCORE or self.prefix is not None


def _residual(brightness: np.ndarray) -> np.ndarray:
    """The fine detail of a doubled-grid brightness map, normalised by local contrast and clipped: the
    picture's own content is mostly smooth at this scale, the chips are not."""
    detail = brightness - cv2.blur(brightness, (5, 5))
    # A running-sum box filter can dip a hair below zero on float input.
    contrast = np.sqrt(np.maximum(cv2.blur(detail * detail, (15, 15)), 0.0)) + 1.0
    return np.clip(detail / contrast, -2.5, 2.5)


def _fold(cells: np.ndarray) -> np.ndarray:
    """All tiles of ``cells`` summed onto one (partial tiles at the edges count for what they cover)."""
    height, width = cells.shape
    tall, wide = -(-height // TILE) * TILE, -(-width // TILE) * TILE
    padded = np.zeros((tall, wide), dtype=np.float32)
    padded[:height, :width] = cells
    return padded.reshape(tall // TILE, TILE, wide // TILE, TILE).sum(axis=(0, 2))


class _Reader:
    """The residual of one or more frames on the doubled working grid, searched over scales and offsets."""

    OFFSETS = ((0, 0), (1, 0), (0, 1), (1, 1))  # half-cell shifts (pixels of the doubled grid)

    def __init__(self) -> None:
        self.residual: np.ndarray | None = None
        self.grid = (0, 0)

    def add(self, brightness: np.ndarray) -> None:
        height, width = brightness.shape
        self.grid = working_size(width, height)
        fine = cv2.resize(brightness, (2 * self.grid[0], 2 * self.grid[1]), interpolation=cv2.INTER_AREA)
        residual = _residual(fine)
        # A clip's frames add up: the fixed pattern grows with each frame, the moving picture does not.
        self.residual = residual if self.residual is None else self.residual + residual

    def best(self, scales: np.ndarray) -> tuple[float, float, np.ndarray]:
        """The strongest pilot peak over ``scales``: its score, scale and the folded tile aligned to it."""
        assert self.residual is not None
        grid_w, grid_h = self.grid
        best: tuple[float, float, np.ndarray] | None = None
        for scale in scales:
            size = (max(8, round(grid_w * scale)), max(8, round(grid_h * scale)))
            for dx, dy in self.OFFSETS:
                tile = _fold(cv2.resize(self.residual[dy:, dx:], size, interpolation=cv2.INTER_AREA))
                surface = np.real(np.fft.ifft2(np.fft.fft2(tile) * LAYOUT.pilot_spectrum))
                score = float((surface.max() - surface.mean()) / (surface.std() + 1e-9))
                if best is None or score > best[0]:
                    row, col = np.unravel_index(int(np.argmax(surface)), surface.shape)
                    best = (score, float(scale), np.roll(tile, (-int(row), -int(col)), axis=(0, 1)))
        assert best is not None
        return best


def _soft_bits(tile: np.ndarray) -> np.ndarray:
    chips = tile.reshape(CHIPS, CHIP, CHIPS, CHIP).mean(axis=(1, 3)) * LAYOUT.signs
    soft = np.zeros(payload.CODED_BITS)
    carriers = ~LAYOUT.is_pilot
    np.add.at(soft, LAYOUT.bit_of[carriers], chips[carriers])
    return soft


def _read(frames: Iterable[np.ndarray]) -> Detection:
    reader = _Reader()
    for frame in frames:
        reader.add(frame)
    # Most files come back uncropped (as delivered, recompressed or resized: the grid follows the shorter side),
    # so the grid is at scale 1; when a clear peak there decodes and its checksum holds, the scale search, which
    # costs some thirty times as much, has nothing to add. An unmarked picture gets the whole search, as before.
    unscaled = reader.best(np.ones(1))
    if unscaled[0] >= DETECT_SCORE:
        decoded = payload.decode(_soft_bits(unscaled[2]))
        if decoded.prefix is not None:
            return _detection(unscaled[0], unscaled[1], decoded)
    coarse = reader.best(SCALE_STEP ** np.arange(-SCALE_STEPS, SCALE_STEPS + 1))
    fine = reader.best(coarse[1] * FINE_STEP ** np.arange(-FINE_STEPS, FINE_STEPS + 1))
    score, scale, tile = max(coarse, fine, key=lambda found: found[0])
    return _detection(score, scale, payload.decode(_soft_bits(tile)))


def _detection(score: float, scale: float, decoded: payload.Decoded) -> Detection:
    return Detection(score=round(score, 2), prefix=decoded.prefix, corrected=decoded.corrected,
                     scale=round(scale, 3), raw=decoded.raw)


def detect(rgb: np.ndarray) -> Detection:
    """Read the watermark of one RGB ``uint8`` picture."""
    height, width = rgb.shape[:2]
    check_size(width, height)
    return _read([luma(rgb)])


def detect_frames(frames: Iterable[np.ndarray]) -> Detection:
    """Read the watermark of a clip from some of its RGB frames (all of one size)."""
    brightness = [luma(frame) for frame in frames]
    if not brightness:
        raise ValueError("frames is empty: a clip needs at least one decoded frame")
    height, width = brightness[0].shape
    check_size(width, height)
    return _read(brightness)
