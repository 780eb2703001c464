"""Face swap benchmark: likeness over real faces, and the landmark engine's speed on photos and video.

Likeness (``--likeness``): eight real faces that ship in packages (scikit-image's astronaut, insightface's
Tom Hanks and the six people of its ``t1.jpg``). Each is a persona made of five pictures of it (the photo,
mirrored, cropped, brighter, more contrast), which give its identity (as persona analysis builds it: robust
centre, leave-one-out tightened threshold) and its reference photos. Every persona is swapped into every
other face: the 56 ordered pairs, and the same pairs with the target mirrored, rotated (6° and -8°) and
cropped. Each result is read back by dlib (detection included) and reported as:

- recognised: distance to the source persona under dlib's documented 0.6;
- within the persona's calibrated threshold (its own tightened limit);
- closer to the source than to the target's own identity (the person whose photo it was);
- median distance; the colour step between the face's skin and the skin around it (ΔE, CIELAB; median) in
  the photo before and after the swap;
- light and colour against the face it replaced (``faceswap_data.face_look``): blotches (the share of the
  face's skin far lighter than the original face's brightest, mean over the pairs, and the pairs with more
  than 1 %), colour cast (median a*/b* distance) and grey faces (the share of the face's skin with under
  half the original's chroma, median, and the pairs where it is over a third).

A contact sheet (``--sheet``, PNG) shows every base pair: sources down the left, targets across the top,
each result with its distance (green: within the persona's threshold, amber: recognised, red: not);
``--docs-sheet`` writes a small JPEG copy. ``--compare`` also runs the pairs with one candidate per face (no
identity-guided choice), to show what the choice adds.

Photo: a 1024x1024 (1 MP) photo with one face (the astronaut), swapped with a five-picture persona as the
swap job does it (reference by pose, candidates scored by identity within the default time budget); stages
detection, landmarks, choice (candidates made and scored), paste, encoding (PNG and JPEG q95).

Video: a 720p clip at 30 fps of a face (about 240 px across) gliding across the frame with sensor noise,
swapped end to end (decode, detect every 5th frame, follow and smooth in between, one choice per tracked
face, swap, H.264 encode). Figures are seconds of work per second of video, per stage, and frames of video
per second of work; the encoder runs in its own process, so where cores are free the total is less than the
sum.

    .venv/bin/python benchmarks/faceswap.py [--runs 5] [--seconds 4] [--likeness] [--compare]
        [--sheet faceswap-sheet.png] [--docs-sheet docs/faceswap-sheet.jpg]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from inference.engines.faces.dlib_backend import DlibFaceAnalyzer, load_dlib  # noqa: E402
from inference.engines.faceswap import LandmarkSwapEngine, SourceFace, SwapRequest, SwapResult  # noqa: E402
from inference.identity import PersonaIdentity, build_identity  # noqa: E402
from inference.media import write_video  # noqa: E402
from tests import faces_data, faceswap_data  # noqa: E402

STAGES = ("decode", "detect", "landmarks", "choose", "swap", "encode")  # the fields of StageTimes
VARIANTS = ("flip", "rotate_left", "rotate_right", "crop")


@dataclass
class Persona:
    """A benchmark persona: its identity and its reference photos."""

    name: str
    identity: PersonaIdentity
    sources: list[SourceFace]


def make_persona(faces: DlibFaceAnalyzer, name: str, picture: Image.Image) -> Persona:
    vectors, sources = [], []
    for label, view in faceswap_data.persona_views(picture):
        image = faces_data.rgb(view)
        found = faces.analyze(image)
        if found:
            vectors.append(found[0].embedding)
            sources.append(SourceFace(image=image, points=found[0].landmarks, label=label))
    return Persona(name=name, identity=build_identity(faces, vectors), sources=sources)


def swap_request(persona: Persona, target: np.ndarray | Path, **options: object) -> SwapRequest:
    return SwapRequest(source=persona.sources[0], alternatives=tuple(persona.sources[1:]), target=target,
                       identity=persona.identity.vector, **options)  # type: ignore[arg-type]


# -- likeness -----------------------------------------------------------------------------------------------

@dataclass
class Outcome:
    """One swapped pair as read back."""

    source: int
    target: int
    variant: str
    distance: float  # to the source persona (inf: no face found in the result)
    own: float  # to the target's own persona
    threshold: float  # the source persona's calibrated threshold
    step_before: float
    step_after: float
    tried: int
    look: dict[str, float]
    seconds: float
    image: np.ndarray | None = None


def run_pairs(faces: DlibFaceAnalyzer, engine: LandmarkSwapEngine, personas: list[Persona],
              variants: tuple[str, ...], *, candidates: int, keep_images: bool = False) -> list[Outcome]:
    people = faceswap_data.people()
    outcomes = []
    for t, picture in enumerate(people):
        for variant in ("", *variants):
            target = faces_data.rgb(faces_data.augment(picture, variant) if variant else picture)
            found = faces.analyze(target)
            if not found:
                print(f"  (no face in {personas[t].name} {variant}: skipped)")
                continue
            before = faceswap_data.skin_step(target, found[0].landmarks)
            for s, persona in enumerate(personas):
                if s == t:
                    continue
                # The time budget is lifted so that likeness does not depend on how busy the machine is: the
                # candidate count is the default's (the photo timing below shows the default budget holds).
                started = time.perf_counter()
                result = engine.run(swap_request(persona, target, candidates=candidates, choice_budget_s=60.0))
                seconds = time.perf_counter() - started
                outcomes.append(read_back(faces, result, target, found[0].landmarks, s, t, variant, personas,
                                          before, seconds, keep_images and not variant))
    return outcomes


def read_back(faces: DlibFaceAnalyzer, result: SwapResult, target: np.ndarray, target_points: np.ndarray,
              s: int, t: int, variant: str, personas: list[Persona], before: float, seconds: float,
              keep: bool) -> Outcome:
    assert result.image is not None
    found = faces.analyze(result.image)
    tried = result.choices[0].tried if result.choices else 0
    if not found:
        return Outcome(s, t, variant, float("inf"), float("inf"), personas[s].identity.threshold, before,
                       float("nan"), tried, {}, seconds, result.image if keep else None)
    face = min(found, key=lambda f: faces.distance(f.embedding, personas[s].identity.vector))
    try:
        after = faceswap_data.skin_step(result.image, face.landmarks, target)
    except AssertionError:
        after = float("nan")
    try:
        look = faceswap_data.face_look(result.image, face.landmarks, target, target_points)
    except AssertionError:
        look = {}
    return Outcome(s, t, variant, faces.distance(face.embedding, personas[s].identity.vector),
                   faces.distance(face.embedding, personas[t].identity.vector), personas[s].identity.threshold,
                   before, after, tried, look, seconds, result.image if keep else None)


def summary(label: str, outcomes: list[Outcome]) -> str:
    n = len(outcomes)
    recognised = sum(o.distance < 0.6 for o in outcomes)
    tight = sum(o.distance < o.threshold for o in outcomes)
    closer = sum(o.distance < o.own for o in outcomes)
    median = statistics.median(o.distance for o in outcomes)
    steps_before = [o.step_before for o in outcomes if np.isfinite(o.step_before)]
    steps_after = [o.step_after for o in outcomes if np.isfinite(o.step_after)]
    return (f"  {label:<22} {n:>4} pairs | recognised {recognised:>3} ({recognised / n:4.0%}) | within persona "
            f"threshold {tight:>3} ({tight / n:4.0%}) | closer to source {closer:>3} ({closer / n:4.0%}) | "
            f"median distance {median:.3f} | skin step ΔE {statistics.median(steps_before):.1f} → "
            f"{statistics.median(steps_after):.1f} | {looks(outcomes)} | candidates "
            f"{statistics.mean(o.tried for o in outcomes):.1f} | "
            f"{statistics.median(o.seconds for o in outcomes):.2f} s")


def looks(outcomes: list[Outcome]) -> str:
    """Blotches, colour cast and grey faces over the outcomes (see ``faceswap_data.face_look``)."""
    def values(name: str) -> list[float]:
        return [o.look[name] for o in outcomes if name in o.look and np.isfinite(o.look[name])]

    blotch, cast, grey = values("blotch"), values("cast"), values("grey")
    if not blotch:
        return "no look measured"
    return (f"blotches {statistics.mean(blotch):.1%} ({sum(b > 0.01 for b in blotch)} pairs > 1 %) | cast ΔE "
            f"{statistics.median(cast):.1f} | grey {statistics.median(grey):.0%} "
            f"({sum(g > 1 / 3 for g in grey)} pairs > 1/3)")


def bench_likeness(faces: DlibFaceAnalyzer, engine: LandmarkSwapEngine, variants: tuple[str, ...],
                   candidates: int, *, keep_images: bool) -> tuple[list[Persona], list[Outcome]]:
    personas = [make_persona(faces, name, picture)
                for name, picture in zip(faceswap_data.NAMES, faceswap_data.people(), strict=True)]
    for persona in personas:
        print(f"  persona {persona.name}: {len(persona.sources)} photos, calibrated threshold "
              f"{persona.identity.threshold:.3f}")
    outcomes = run_pairs(faces, engine, personas, variants, candidates=candidates, keep_images=keep_images)
    return personas, outcomes


def report(title: str, outcomes: list[Outcome]) -> None:
    print(title)
    print(summary("ordered pairs", [o for o in outcomes if not o.variant]))
    for variant in sorted({o.variant for o in outcomes if o.variant}):
        print(summary(f"target {variant}", [o for o in outcomes if o.variant == variant]))
    if any(o.variant for o in outcomes):
        print(summary("pose variants", [o for o in outcomes if o.variant]))
        print(summary("all", outcomes))


# -- contact sheet ------------------------------------------------------------------------------------------

CELL = 150
LABEL = 22


def _thumb(image: np.ndarray, box: tuple[int, int, int, int] | None = None) -> Image.Image:
    if box is not None:
        x0, y0, x1, y1 = box
        w, h = x1 - x0, y1 - y0
        side = int(max(w, h) * 1.6)
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2 - h // 12
        left, top = max(0, cx - side // 2), max(0, cy - side // 2)
        image = image[top:top + side, left:left + side]
    return Image.fromarray(image).resize((CELL, CELL), Image.Resampling.LANCZOS)


def contact_sheet(faces: DlibFaceAnalyzer, personas: list[Persona], outcomes: list[Outcome]) -> Image.Image:
    """Sources down the left, targets across the top, each result with its distance to the source."""
    people = [faces_data.rgb(p) for p in faceswap_data.people()]
    boxes = [faces.analyze(p)[0].box for p in people]
    count = len(people)
    sheet = Image.new("RGB", ((count + 1) * CELL, (count + 1) * (CELL + LABEL) + 30), (250, 250, 248))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=14)
    draw.text((8, 6), "rows: source persona, columns: target photo;  distance to the source persona (green: within "
              "its threshold, amber: < 0.6, red: not recognised)", fill=(30, 30, 30), font=font)
    top = 30
    for index in range(count):
        sheet.paste(_thumb(people[index], boxes[index]), ((index + 1) * CELL, top))
        draw.text(((index + 1) * CELL + 4, top + CELL + 3), f"target {personas[index].name}", fill=(30, 30, 30),
                  font=font)
        y = top + (index + 1) * (CELL + LABEL)
        sheet.paste(_thumb(people[index], boxes[index]), (0, y))
        draw.text((4, y + CELL + 3), f"source {personas[index].name}", fill=(30, 30, 30), font=font)
    for outcome in outcomes:
        if outcome.variant or outcome.image is None:
            continue
        x = (outcome.target + 1) * CELL
        y = top + (outcome.source + 1) * (CELL + LABEL)
        sheet.paste(_thumb(outcome.image, boxes[outcome.target]), (x, y))
        colour = (46, 160, 67) if outcome.distance < outcome.threshold else (219, 150, 20) \
            if outcome.distance < 0.6 else (200, 40, 40)
        text = "no face found" if not np.isfinite(outcome.distance) else f"{outcome.distance:.2f}"
        draw.text((x + 4, y + CELL + 3), text, fill=colour, font=font)
    return sheet


# -- speed --------------------------------------------------------------------------------------------------

def photo_1mp() -> np.ndarray:
    import skimage.data

    return np.asarray(Image.fromarray(skimage.data.astronaut()).resize((1024, 1024), Image.Resampling.LANCZOS))


def bench_photo(engine: LandmarkSwapEngine, persona: Persona, runs: int) -> dict[str, float]:
    target = photo_1mp()
    rows: dict[str, list[float]] = {name: [] for name in ("detect", "landmarks", "choose", "swap", "swap total",
                                                         "candidates", "encode png", "encode jpeg")}
    for _ in range(runs):
        started = time.perf_counter()
        result = engine.run(swap_request(persona, target))
        swapped = time.perf_counter()
        assert result.image is not None and result.faces_swapped == 1
        Image.fromarray(result.image).save(io.BytesIO(), format="PNG", compress_level=6)
        png_done = time.perf_counter()
        Image.fromarray(result.image).save(io.BytesIO(), format="JPEG", quality=95, subsampling=0)
        jpeg_done = time.perf_counter()
        for name in ("detect", "landmarks", "choose", "swap"):
            rows[name].append(getattr(result.times, name))
        rows["swap total"].append(swapped - started)
        rows["candidates"].append(result.choices[0].tried)
        rows["encode png"].append(png_done - swapped)
        rows["encode jpeg"].append(jpeg_done - png_done)
    return {name: statistics.median(values) for name, values in rows.items()}


def make_clip(path: Path, *, seconds: float, fps: int = 30, size: tuple[int, int] = (1280, 720)) -> Path:
    width, height = size
    # A head-and-shoulders framing, as in a talking-head clip: the face about 240 px across.
    face = cv2.resize(faces_data.rgb(faces_data.astronaut()), (560, 560), interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(0)
    frames = []
    total = round(seconds * fps)
    for index in range(total):
        dx = 150 + 400 * index / max(total - 1, 1)
        frame = np.full((height, width, 3), (96, 110, 124), dtype=np.uint8)
        cv2.warpAffine(face, np.array([[1.0, 0, dx], [0, 1.0, 80.0]]), (width, height), dst=frame,
                       flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT)
        frames.append(np.clip(frame + rng.normal(0, 2.0, frame.shape), 0, 255).astype(np.uint8))
    return write_video(frames, path, fps=fps)


def bench_video(engine: LandmarkSwapEngine, persona: Persona, runs: int, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "clip.mp4", seconds=seconds)
        totals: list[float] = []
        cpu: list[float] = []
        stages: dict[str, list[float]] = {name: [] for name in STAGES}
        for run in range(runs):
            started = time.perf_counter()
            cpu_started = _cpu_seconds()
            result = engine.run(swap_request(persona, clip, output=Path(tmp) / f"out{run}.mp4"))
            totals.append(time.perf_counter() - started)
            cpu.append(_cpu_seconds() - cpu_started)
            assert result.faces_swapped == 1, "the face must be found"
            for name in STAGES:
                stages[name].append(getattr(result.times, name) / result.duration_s)
        per_second = {name: statistics.median(values) for name, values in stages.items()}
        per_second["total"] = statistics.median(totals) / seconds
        per_second["frames per second of work"] = 30.0 / per_second["total"]
        # CPU time of this process and its ffmpeg children: what the work costs whatever else the machine
        # is doing (wall time on two idle cores is at least half of it).
        per_second["cpu seconds"] = statistics.median(cpu) / seconds
        return per_second


def _cpu_seconds() -> float:
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--likeness", action="store_true")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="target variants ('' for none)")
    parser.add_argument("--compare", action="store_true", help="also without identity-guided choice")
    parser.add_argument("--sheet", type=Path, help="write the contact sheet (PNG) here")
    parser.add_argument("--docs-sheet", type=Path, help="and a small JPEG copy here")
    parser.add_argument("--no-speed", action="store_true", help="skip the photo and video timings")
    parser.add_argument("--candidates", type=int, default=SwapRequest.candidates, help="per face, for likeness")
    args = parser.parse_args()

    started = time.perf_counter()
    faces = load_dlib()
    print(f"dlib models loaded in {time.perf_counter() - started:.2f} s")
    engine = LandmarkSwapEngine(faces)

    if not args.no_speed:
        persona = make_persona(faces, "t1-d", faces_data.group_faces()[3])
        photo = bench_photo(engine, persona, args.runs)
        print(f"\nphoto, 1024x1024 (1 MP), one face, five-photo persona, median of {args.runs} (s):")
        for name, value in photo.items():
            print(f"  {name:<12} {value:7.3f}")
        video = bench_video(engine, persona, max(1, args.runs // 2), args.seconds)
        print(f"\nvideo, 1280x720 30 fps, {args.seconds:g} s clip: seconds of work per second of video:")
        for name, value in video.items():
            print(f"  {name:<12} {value:7.3f}")

    if args.likeness:
        variants = tuple(v for v in args.variants.split(",") if v)
        print("\nlikeness:")
        personas, outcomes = bench_likeness(faces, engine, variants, args.candidates,
                                            keep_images=bool(args.sheet or args.docs_sheet))
        report(f"identity-guided choice ({args.candidates} candidates per face):", outcomes)
        if args.compare:
            single = run_pairs(faces, engine, personas, variants, candidates=1)
            report("one candidate per face (reference by pose, default settings):", single)
        if args.sheet or args.docs_sheet:
            sheet = contact_sheet(faces, personas, outcomes)
            if args.sheet:
                sheet.save(args.sheet, format="PNG", optimize=True)
                print(f"contact sheet: {args.sheet}")
            if args.docs_sheet:
                small = sheet.resize((sheet.width * 2 // 3, sheet.height * 2 // 3), Image.Resampling.LANCZOS)
                small.save(args.docs_sheet, format="JPEG", quality=80, optimize=True)
                print(f"small copy: {args.docs_sheet} ({args.docs_sheet.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
