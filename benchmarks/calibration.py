"""Identity calibration figures: the same-person floor, the stranger anchor, and what the detectors cost.

Run: ``.venv/bin/python benchmarks/calibration.py [--backend dlib|insightface] [--draws 40]`` for the
calibration figures, ``... --detector [--runs 7]`` for the detector timings.

Uses the eight real faces that ship in installed packages (the six people of insightface's ``t1.jpg``, Tom
Hanks, scikit-image's astronaut) and ``tests.faces_data.CALIBRATION_AUGMENTATIONS`` of each. It prints:

- same person: distances between two renderings of one photo, and of each rendering to the persona built from
  the others (leave-one-out) and from random five-photo personas; the largest of these is what different
  photos of one person reach, so a persona's threshold must never be tighter (the engine's ``calibration_floor``);
- different people: distances of each face to the other people's personas; their median is where the
  likeness scale puts 0 % (the engine's ``stranger_distance``);
- what the calibrated thresholds of those personas come out as, and how many other-person faces they let in;
- with ``--detector`` instead, seconds per photo for the HOG detector alone, HOG with the CNN check of its
  uncertain finds (what ``detect`` does), and the MMOD CNN detector over the whole photo (medians of ``--runs``).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.settings import Settings
from inference.engines.faces import FaceAnalyzer, load_analyzer
from inference.identity import build_identity, leave_one_out, robust_center
from tests.faces_data import CALIBRATION_AUGMENTATIONS, astronaut, augment, group_faces, rgb, tom

PERSONA_SIZE = 5


def people() -> dict[str, Image.Image]:
    """The eight shipped faces by name."""
    found = {"tom": tom(), "astronaut": astronaut()}
    return found | {f"t1-{i}": face for i, face in enumerate(group_faces())}


def renderings(analyzer: FaceAnalyzer, photo: Image.Image) -> dict[str, np.ndarray]:
    """The embedding of ``photo`` and of each augmentation in which the engine finds the face."""
    found: dict[str, np.ndarray] = {}
    for kind in ("original", *CALIBRATION_AUGMENTATIONS):
        faces = analyzer.analyze(photo if kind == "original" else augment(photo, kind))
        if faces:
            found[kind] = faces[0].embedding
    return found


def _quantiles(values: list[float]) -> str:
    if not values:
        return "   -"
    q = np.percentile(values, [0, 50, 95, 100])
    return f"{len(values):>6} {q[0]:>7.3f} {q[1]:>7.3f} {q[2]:>7.3f} {q[3]:>7.3f}"


def _worst(label: str, rows: list[tuple[float, str]]) -> str:
    top = sorted(rows, reverse=True)[:3]
    return f"  largest {label}: " + ", ".join(f"{d:.3f} ({what})" for d, what in top)


def calibration(analyzer: FaceAnalyzer, draws: int) -> None:
    """Print the same-person and different-person distance figures and the calibrated thresholds."""
    started = time.perf_counter()
    by_person = {name: renderings(analyzer, photo) for name, photo in people().items()}
    print(f"embeddings of {sum(len(v) for v in by_person.values())} renderings in "
          f"{time.perf_counter() - started:.1f} s; faces found per person (of {1 + len(CALIBRATION_AUGMENTATIONS)}): "
          + ", ".join(f"{k} {len(v)}" for k, v in by_person.items()))

    pairwise: list[tuple[float, str]] = []
    held_out: list[tuple[float, str]] = []
    for name, found in by_person.items():
        kinds, vectors = list(found), list(found.values())
        pairwise += [(analyzer.distance(found[a], found[b]), f"{name} {a}/{b}") for a, b in combinations(kinds, 2)]
        held_out += [(d, f"{name} {k}") for k, d in zip(kinds, leave_one_out(analyzer, vectors), strict=True)]

    # Five-photo personas drawn from one person's renderings; every rendering left out is scored against it.
    rng = random.Random(7)
    against_persona: list[tuple[float, str]] = []
    unfloored: list[float] = []
    calibrated: list[tuple[str, float, np.ndarray]] = []
    for name, found in by_person.items():
        kinds = list(found)
        for _ in range(draws):
            chosen = rng.sample(kinds, min(PERSONA_SIZE, len(kinds) - 1))
            vectors = [found[k] for k in chosen]
            loo = leave_one_out(analyzer, vectors)
            unfloored.append(min(analyzer.threshold, 1.5 * max(loo)))
            identity = build_identity(analyzer, vectors)
            calibrated.append((name, identity.threshold, identity.vector))
            center = robust_center(analyzer, vectors)
            against_persona += [(analyzer.distance(found[k], center), f"{name} {k} vs {'+'.join(chosen)}")
                                for k in kinds if k not in chosen]

    strangers: list[float] = []
    for name, found in by_person.items():
        for other, other_found in by_person.items():
            if other != name:
                center = robust_center(analyzer, list(other_found.values()))
                strangers += [analyzer.distance(v, center) for v in found.values()]

    print(f"\n{'distance (' + analyzer.metric + ')':<44} {'count':>6} {'min':>7} {'median':>7} {'p95':>7} {'max':>7}")
    print(f"{'same person: two renderings':<44} {_quantiles([d for d, _ in pairwise])}")
    print(f"{'same person: rendering vs the others (LOO)':<44} {_quantiles([d for d, _ in held_out])}")
    print(f"{'same person: rendering vs a 5-photo persona':<44} {_quantiles([d for d, _ in against_persona])}")
    print(f"{'different people: face vs persona':<44} {_quantiles(strangers)}")
    print(_worst("same-person pairs", pairwise))
    print(_worst("renderings vs a persona", against_persona))

    reached = max(d for d, _ in pairwise + against_persona)
    proposal = math.ceil(reached * 20) / 20
    floor = getattr(analyzer, "calibration_floor", None)
    stranger = getattr(analyzer, "stranger_distance", None)
    print(f"\nsame-person distances reach {reached:.3f} → floor rounded up to the next 0.05: {proposal:.2f} "
          f"(engine's calibration_floor: {floor}; documented threshold {analyzer.threshold})")
    print(f"median stranger distance {statistics.median(strangers):.3f} (engine's stranger_distance: {stranger}); "
          f"nearest stranger {min(strangers):.3f}")
    print(f"thresholds of {len(unfloored)} five-photo personas without a floor: "
          f"median {statistics.median(unfloored):.3f}, min {min(unfloored):.3f}; "
          f"share under the largest same-person distance: "
          f"{sum(t < reached for t in unfloored) / len(unfloored):.0%}")
    thresholds = [t for _, t, _ in calibrated]
    print(f"the same personas calibrated: median {statistics.median(thresholds):.3f}, min {min(thresholds):.3f}, "
          f"max {max(thresholds):.3f}")
    rejected = sum(d > t for (name, t, center) in calibrated for k, v in by_person[name].items()
                   if (d := analyzer.distance(v, center)) >= 0)
    total = sum(len(by_person[name]) for name, _, _ in calibrated)
    admitted = sum(analyzer.distance(v, center) <= t for (name, t, center) in calibrated
                   for other, found in by_person.items() if other != name for v in found.values())
    others = sum(len(found) for (name, _, _) in calibrated for other, found in by_person.items() if other != name)
    print(f"with them: same-person renderings refused {rejected} of {total}; "
          f"other people's faces admitted {admitted} of {others}")


def _canvas(photo: Image.Image, width: int, height: int) -> np.ndarray:
    canvas = Image.new("RGB", (width, height), (120, 120, 125))
    side = min(width, height)
    canvas.paste(photo.resize((side, side), Image.Resampling.BICUBIC), ((width - side) // 2, (height - side) // 2))
    return rgb(canvas)


def _median_seconds(fn: object, runs: int) -> float:
    assert callable(fn)
    fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def detectors(analyzer: FaceAnalyzer, runs: int) -> None:
    """Seconds per photo: HOG boxes, HOG with candidate checks (``detect``), and the MMOD CNN detector."""
    from skimage import data

    from inference.engines.faces.dlib_backend import CONFIDENT_SCORE, DlibFaceAnalyzer, load_mmod

    if not isinstance(analyzer, DlibFaceAnalyzer):
        print("\ndetector timings are for the dlib backend")
        return
    mmod = load_mmod()
    photos = {"astronaut 512x512 turned 6°": rgb(Image.fromarray(data.astronaut()).rotate(
                  6, resample=Image.Resampling.BICUBIC, fillcolor=(128, 128, 128))),
              "portrait 448x448 (Tom Hanks)": rgb(tom()),
              "1 MP (1155x866)": _canvas(astronaut(), 1155, 866)}
    print(f"\n{'photo':<30} {'finds':>6} {'checked':>8} {'HOG boxes':>10} {'detect':>8} {'analyze':>8} "
          f"{'MMOD':>8}   seconds, median of {runs}")
    for label, image in photos.items():
        finds = analyzer.boxes(image)
        checked = sum(score < CONFIDENT_SCORE for _, score in finds)
        hog = _median_seconds(lambda image=image: analyzer.boxes(image), runs)
        detect = _median_seconds(lambda image=image: analyzer.detect(image), runs)
        analyze = _median_seconds(lambda image=image: analyzer.analyze(image), runs)
        cnn = _median_seconds(lambda image=image: mmod(image, 1 if max(image.shape[:2]) < 800 else 0), runs)
        print(f"{label:<30} {len(finds):>6} {checked:>8} {hog:>10.3f} {detect:>8.3f} {analyze:>8.3f} {cnn:>8.3f}")


def main() -> None:
    """Print the calibration figures (or the detector timings with ``--detector``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="dlib", choices=("dlib", "insightface"))
    parser.add_argument("--draws", type=int, default=40, help="random five-photo personas per person")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--detector", action="store_true", help="time the detectors instead")
    args = parser.parse_args()
    analyzer = load_analyzer(Settings(), args.backend)
    print(f"engine {analyzer.name}")
    if args.detector:
        detectors(analyzer, args.runs)
    else:
        calibration(analyzer, args.draws)


if __name__ == "__main__":
    main()
