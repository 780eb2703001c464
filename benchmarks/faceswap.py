"""Face swap benchmark: the landmark engine on the CPU, per photo and per second of video, split by stage.

Photo: a 1 MP photo with one face (scikit-image's astronaut, 1024x1024), swapped with a persona face from
insightface's t1.jpg; stages are detection (HOG), landmarks (68 points), the swap itself (warp, colour match,
blend) and encoding the result (PNG and JPEG q95).

Video: a 720p clip at 30 fps of a face (about 240 px across) gliding across the frame with sensor noise, swapped
end to end (decode, detect every 5th frame, follow and smooth in between, swap, H.264 encode). Figures are
seconds of work per second of video, per stage; the encoder runs in its own process, so where cores are free
the total is less than the sum.

Likeness (``--likeness``): every ordered pair of eight real faces (t1.jpg's six, the astronaut, Tom Hanks),
each source's identity built from five pictures of it as persona analysis does; reports how many swapped faces
dlib recognises as the source (under its documented 0.6 and under the persona's tightened limit).

    .venv/bin/python benchmarks/faceswap.py [--runs 5] [--seconds 4] [--likeness]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from inference.engines.faces.dlib_backend import DlibFaceAnalyzer, load_dlib  # noqa: E402
from inference.engines.faceswap import LandmarkSwapEngine, SourceFace, SwapRequest  # noqa: E402
from inference.identity import build_identity  # noqa: E402
from inference.media import write_video  # noqa: E402
from tests import faces_data  # noqa: E402

STAGES = ("decode", "detect", "landmarks", "swap", "encode")  # the fields of StageTimes


def persona_source(faces: DlibFaceAnalyzer) -> SourceFace:
    image = faces_data.rgb(faces_data.group_faces()[3])
    return SourceFace(image=image, points=faces.analyze(image)[0].landmarks)


def photo_1mp() -> np.ndarray:
    import skimage.data

    return np.asarray(Image.fromarray(skimage.data.astronaut()).resize((1024, 1024), Image.Resampling.LANCZOS))


def bench_photo(engine: LandmarkSwapEngine, source: SourceFace, runs: int) -> dict[str, float]:
    target = photo_1mp()
    rows: dict[str, list[float]] = {name: [] for name in ("detect", "landmarks", "swap", "encode png",
                                                         "encode jpeg", "total")}
    for _ in range(runs):
        started = time.perf_counter()
        result = engine.run(SwapRequest(source=source, target=target))
        assert result.image is not None and result.faces_swapped == 1
        middle = time.perf_counter()
        Image.fromarray(result.image).save(io.BytesIO(), format="PNG", compress_level=6)
        png_done = time.perf_counter()
        Image.fromarray(result.image).save(io.BytesIO(), format="JPEG", quality=95, subsampling=0)
        jpeg_done = time.perf_counter()
        rows["detect"].append(result.times.detect)
        rows["landmarks"].append(result.times.landmarks)
        rows["swap"].append(result.times.swap)
        rows["encode png"].append(png_done - middle)
        rows["encode jpeg"].append(jpeg_done - png_done)
        rows["total"].append(middle - started + png_done - middle)
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


def bench_video(engine: LandmarkSwapEngine, source: SourceFace, runs: int, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "clip.mp4", seconds=seconds)
        totals: list[float] = []
        stages: dict[str, list[float]] = {name: [] for name in STAGES}
        for run in range(runs):
            started = time.perf_counter()
            result = engine.run(SwapRequest(source=source, target=clip, output=Path(tmp) / f"out{run}.mp4"))
            totals.append(time.perf_counter() - started)
            assert result.faces_swapped == 1, "the face must be found"
            for name in STAGES:
                stages[name].append(getattr(result.times, name) / result.duration_s)
        per_second = {name: statistics.median(values) for name, values in stages.items()}
        per_second["total"] = statistics.median(totals) / seconds
        return per_second


def bench_likeness(faces: DlibFaceAnalyzer, engine: LandmarkSwapEngine) -> tuple[int, int, int, float]:
    people = [faces_data.astronaut(), faces_data.tom(), *faces_data.group_faces()]
    identities = []
    for picture in people:
        views = [picture, *(faces_data.augment(picture, kind) for kind in ("flip", "crop", "brighter", "contrast"))]
        vectors = [found[0].embedding for view in views if (found := faces.analyze(faces_data.rgb(view)))]
        identities.append(build_identity(faces, vectors))
    pairs = documented = tightened = 0
    distances = []
    for s, source_picture in enumerate(people):
        image = faces_data.rgb(source_picture)
        source = SourceFace(image=image, points=faces.analyze(image)[0].landmarks)
        for t, target_picture in enumerate(people):
            if s == t:
                continue
            pairs += 1
            result = engine.run(SwapRequest(source=source, target=faces_data.rgb(target_picture)))
            assert result.image is not None
            found = faces.analyze(result.image)
            if not found:
                continue
            distance = min(faces.distance(face.embedding, identities[s].vector) for face in found)
            distances.append(distance)
            documented += distance < faces.threshold
            tightened += distance < identities[s].threshold
    return pairs, documented, tightened, statistics.median(distances)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--likeness", action="store_true")
    args = parser.parse_args()

    started = time.perf_counter()
    faces = load_dlib()
    print(f"dlib models loaded in {time.perf_counter() - started:.2f} s")
    engine = LandmarkSwapEngine(faces)
    source = persona_source(faces)

    photo = bench_photo(engine, source, args.runs)
    print(f"\nphoto, 1024x1024 (1 MP), one face, median of {args.runs} (s):")
    for name, value in photo.items():
        print(f"  {name:<12} {value:7.3f}")

    video = bench_video(engine, source, max(1, args.runs // 2), args.seconds)
    print(f"\nvideo, 1280x720 30 fps, {args.seconds:g} s clip: seconds of work per second of video:")
    for name, value in video.items():
        print(f"  {name:<12} {value:7.3f}")

    if args.likeness:
        pairs, documented, tightened, median = bench_likeness(faces, engine)
        print(f"\nlikeness over {pairs} source → target pairs: recognised as the source by dlib in {documented} "
              f"(distance < 0.6), within the persona's tightened limit in {tightened}; median distance "
              f"{median:.3f}")


if __name__ == "__main__":
    main()
