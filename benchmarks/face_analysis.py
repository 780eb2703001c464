"""Face analysis benchmark: seconds per photo at 1 MP and 12 MP, and same/different-person score spreads.

Run: ``.venv/bin/python benchmarks/face_analysis.py [--backend dlib|insightface] [--runs 5]``.
Uses only photos that ship in installed packages (see ``tests/faces_data.py``) and augmentations of them.
"""

from __future__ import annotations

import argparse
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
from inference.identity import build_identity
from tests.faces_data import AUGMENTATIONS, astronaut, augment, group_faces, rgb, tom


def _canvas(photo: Image.Image, width: int, height: int) -> np.ndarray:
    """``photo`` scaled to the canvas height and centred on a grey ``width`` x ``height`` frame."""
    side = height
    canvas = Image.new("RGB", (width, height), (120, 120, 125))
    canvas.paste(photo.resize((side, side), Image.Resampling.BICUBIC), ((width - side) // 2, 0))
    return rgb(canvas)


def time_per_photo(analyzer: FaceAnalyzer, image: np.ndarray, runs: int) -> tuple[float, int]:
    """Median seconds of ``analyze`` over ``runs`` runs (after one warm-up), and the faces found."""
    faces = len(analyzer.analyze(image))
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        analyzer.analyze(image)
        times.append(time.perf_counter() - started)
    return statistics.median(times), faces


def embeddings_by_person(analyzer: FaceAnalyzer) -> dict[str, list[np.ndarray]]:
    """Each shipped identity's embeddings: the photo itself and its augmentations (where a face is found)."""
    people = {"tom": tom(), "astronaut": astronaut()}
    people |= {f"group{i}": face for i, face in enumerate(group_faces())}
    found: dict[str, list[np.ndarray]] = {}
    for name, photo in people.items():
        vectors = []
        for variant in [photo] + [augment(photo, kind) for kind in AUGMENTATIONS]:
            faces = analyzer.analyze(variant)
            if faces:
                vectors.append(faces[0].embedding)
        found[name] = vectors
    return found


def _row(label: str, values: list[float]) -> str:
    if not values:
        return f"{label:<34} {'-':>6}"
    q = np.percentile(values, [0, 50, 100])
    return f"{label:<34} {len(values):>6} {q[0]:>8.3f} {q[1]:>8.3f} {q[2]:>8.3f}"


def main() -> None:
    """Print the timing table and the score distributions."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="dlib", choices=("dlib", "insightface"))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    started = time.perf_counter()
    analyzer = load_analyzer(Settings(), args.backend)
    print(f"engine {analyzer.name}: loaded in {time.perf_counter() - started:.2f} s")

    print(f"\n{'photo':<28} {'median s':>9} {'faces':>6}   (median of {args.runs} runs)")
    for label, (width, height) in (("1 MP (1155x866)", (1155, 866)), ("12 MP (4000x3000)", (4000, 3000))):
        seconds, faces = time_per_photo(analyzer, _canvas(astronaut(), width, height), args.runs)
        print(f"{label:<28} {seconds:>9.3f} {faces:>6}")

    people = embeddings_by_person(analyzer)
    same = [analyzer.distance(a, b) for vectors in people.values() for a, b in combinations(vectors, 2)]
    different = [analyzer.distance(a, b) for (_, va), (_, vb) in combinations(people.items(), 2)
                 for a in va for b in vb]
    threshold = analyzer.threshold
    print(f"\n{'distance (' + analyzer.metric + ')':<34} {'pairs':>6} {'min':>8} {'median':>8} {'max':>8}")
    print(_row("same person (photo + augmentations)", same))
    print(_row("different people", different))
    print(f"\n{'similarity = max(0, 1 - distance)':<34} {'pairs':>6} {'min':>8} {'median':>8} {'max':>8}")
    print(_row("same person", [analyzer.similarity(d) for d in same]))
    print(_row("different people", [analyzer.similarity(d) for d in different]))
    false_reject = sum(d > threshold for d in same) / max(1, len(same))
    false_accept = sum(d <= threshold for d in different) / max(1, len(different))
    print(f"\nengine threshold: distance {threshold} (similarity {analyzer.similarity(threshold):.2f}); "
          f"false rejects {false_reject:.1%}, false accepts {false_accept:.1%}")
    for name in ("tom", "astronaut"):
        identity = build_identity(analyzer, people[name][:5])
        print(f"persona {name!r} from 5 photos: tightened threshold {identity.threshold:.3f} "
              f"(similarity {analyzer.similarity(identity.threshold):.2f}), spread {identity.spread:.3f}")
    print(f"faces found per identity (of {1 + len(AUGMENTATIONS)}): "
          + ", ".join(f"{k} {len(v)}" for k, v in people.items()))


if __name__ == "__main__":
    main()
