"""Files for a preset: crop-or-pad geometry, faces kept in the frame on real photos, JPEG with the XMP label and
sRGB, and video transcoded by the real ffmpeg (size, frame rate, length cap, sound, label, no leftovers)."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np
import psutil
import pytest
from PIL import Image, ImageCms, ImageDraw

from core.platforms import AI_SOURCE_TYPE, PRESETS, ImageFormat, Platform, Preset, VideoFormat
from inference.engines.faces.dlib_backend import DlibFaceAnalyzer, load_dlib
from inference.export.fit import MIN_KEEP, Box, plan_fit
from inference.export.images import render_image
from inference.export.label import digital_source_type, jpeg_source_type, xmp_packet
from inference.export.videos import render_video
from inference.media import MediaError, ffmpeg_exe, probe, read_tags, transcode
from tests import faces_data

FEED, SQUARE, STORY = PRESETS["instagram"].presets
LANDSCAPE = PRESETS["x"].presets[0]
JPEG = ImageFormat()
AI = AI_SOURCE_TYPE


@pytest.fixture(scope="module")
def faces() -> DlibFaceAnalyzer:
    return load_dlib()


def boxes(analyzer: DlibFaceAnalyzer, image: Image.Image) -> list[Box]:
    return [d.box for d in analyzer.detect(np.ascontiguousarray(np.asarray(image.convert("RGB"))))]


def inside(box: Box, rect: tuple[int, int, int, int]) -> bool:
    x, y, w, h = rect
    return x <= box[0] and y <= box[1] and box[2] <= x + w and box[3] <= y + h


def busy_texture(size: tuple[int, int]) -> Image.Image:
    """Fine random detail: what a detail-placed crop goes for."""
    rng = np.random.default_rng(1)
    return Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


def face_on_the_right(face_side: int = 300) -> Image.Image:
    """An 800x600 picture: busy texture on the left, flat grey, Eileen Collins' face at the right edge."""
    canvas = Image.new("RGB", (800, 600), (128, 128, 128))
    canvas.paste(busy_texture((220, 600)), (0, 0))
    canvas.paste(faces_data.astronaut().resize((face_side, face_side)), (800 - face_side, 150))
    return canvas


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# ---- geometry -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", [(1024, 1024), (1920, 1080), (1080, 1920), (799, 601), (333, 1000), (4000, 3000)])
@pytest.mark.parametrize("preset", [FEED, SQUARE, STORY, LANDSCAPE])
@pytest.mark.parametrize("even", [False, True])
def test_every_plan_fills_the_exact_frame_without_distortion(source: tuple[int, int], preset: Preset,
                                                             even: bool) -> None:
    plan = plan_fit(source, (preset.width, preset.height), even=even)
    x, y, w, h = plan.region
    px, py, pw, ph = plan.placed
    assert x >= 0 and y >= 0 and x + w <= source[0] and y + h <= source[1]
    assert px >= 0 and py >= 0 and px + pw <= preset.width and py + ph <= preset.height
    # The picture is scaled by the same factor both ways (at most a pixel of rounding).
    assert abs(pw / w - ph / h) <= 2 / min(w, h)
    keep = w * h / (source[0] * source[1])
    if plan.mode == "crop":
        assert (px, py, pw, ph) == (0, 0, preset.width, preset.height) and keep >= MIN_KEEP - 0.01
    else:
        assert plan.region == (0, 0, *source) and (pw == preset.width or ph == preset.height)
        assert keep == 1.0 and abs(px - (preset.width - pw - px)) <= 2, "a padded picture sits in the middle"
    if even:
        cut = plan.region if plan.mode == "crop" else ()  # a padded picture is shown whole, whatever its size
        assert all(v % 2 == 0 for v in (*cut, *plan.placed)), "yuv420p needs even sizes and offsets"


def test_crop_or_pad_by_how_much_a_crop_keeps() -> None:
    assert plan_fit((1024, 1024), (1080, 1350)).mode == "crop"  # keeps 80 %
    assert plan_fit((1080, 1350), (1080, 1920)).mode == "crop"  # keeps 70 %
    assert plan_fit((1024, 1024), (1080, 1920)).mode == "pad"  # would keep 56 %: a square story is padded
    assert plan_fit((1080, 1920), (1600, 900)).mode == "pad"
    same = plan_fit((2048, 2560), (1080, 1350))
    assert same.mode == "crop" and same.anchor == "whole" and same.upscale is None
    assert plan_fit((540, 675), (1080, 1350)).upscale == 2.0


def test_faces_place_the_crop_with_headroom_and_are_never_cut() -> None:
    face = (400, 600, 600, 800)  # below the middle of a tall picture
    plan = plan_fit((1000, 1400), (1080, 1080), faces=[face])
    _, y, _, h = plan.region
    assert plan.anchor == "faces" and inside(face, plan.region)
    centre = (face[1] + face[3]) / 2
    assert (centre - y) / h == pytest.approx(0.4, abs=0.02), "the face sits a little above the middle"
    # A face too big for any crop window (with its margin) makes the picture padded, not cut.
    assert plan_fit((1000, 1250), (1080, 1920), faces=[(100, 100, 900, 1100)]).mode == "pad"
    # Several people of similar size are kept together when they fit; a small face far away does not count.
    group = [(100, 400, 250, 550), (700, 420, 840, 560), (1180, 50, 1200, 70)]
    plan = plan_fit((1300, 1000), (1080, 1080), faces=group)
    assert plan.mode == "crop" and inside(group[0], plan.region) and inside(group[1], plan.region)
    # People too far apart for one crop: padded rather than cutting one of them out.
    apart = [(20, 400, 170, 550), (1120, 420, 1260, 560)]
    assert plan_fit((1300, 1000), (1080, 1080), faces=apart).mode == "pad"


def test_without_faces_the_crop_goes_to_the_detail_or_the_centre() -> None:
    detail = np.zeros((100, 150))
    detail[:, 110:] = 1.0
    plan = plan_fit((1500, 1000), (1000, 1000), detail=detail)
    assert plan.anchor == "detail" and plan.region[0] == 500
    flat = plan_fit((1500, 1000), (1000, 1000), detail=np.zeros((100, 150)))
    assert flat.anchor == "center" and flat.region[0] == 250


# ---- images ---------------------------------------------------------------------------------------------------


def test_the_face_stays_in_a_crop_that_a_centre_or_detail_crop_would_cut(faces: DlibFaceAnalyzer) -> None:
    picture = face_on_the_right()
    (found,) = boxes(faces, picture)
    centre_crop = (100, 0, 600, 600)
    assert not inside(found, centre_crop), "the test picture must defeat a centre crop"

    blind = render_image(picture, SQUARE, JPEG, source_type=AI)  # no face information: placed by detail
    assert blind.plan.anchor == "detail" and not inside(found, blind.plan.region)

    rendered = render_image(picture, SQUARE, JPEG, source_type=AI, faces=[found])
    assert rendered.plan.mode == "crop" and rendered.plan.anchor == "faces"
    assert inside(found, rendered.plan.region)
    output = opened(rendered.data)
    assert output.size == (1080, 1080) and output.format == "JPEG"
    (again,) = boxes(faces, output)
    assert inside(again, (0, 0, 1080, 1080)), "the face is whole in the exported file"


def test_a_real_group_photo_keeps_its_people(faces: DlibFaceAnalyzer) -> None:
    group = faces_data.group()
    found = boxes(faces, group)
    assert len(found) == 6
    output = opened(render_image(group, LANDSCAPE, JPEG, source_type=AI, faces=found).data)
    assert output.size == (1600, 900)
    assert len(boxes(faces, output)) == 6, "a 16:9 crop of a 1280x886 group photo keeps all six faces"


def test_a_square_becomes_a_story_over_its_blurred_self() -> None:
    picture = faces_data.astronaut()
    rendered = render_image(picture, STORY, JPEG, source_type=AI)
    assert rendered.plan.mode == "pad" and rendered.plan.placed == (0, 420, 1080, 1080)
    frame = np.asarray(opened(rendered.data)).astype(float)
    top = frame[:400]
    assert top.std() > 3, "the band above is the picture blurred, not a flat colour"
    assert np.abs(np.diff(top, axis=1)).mean() < 2, "... and it is blurred"
    middle = np.asarray(picture.resize((1080, 1080), Image.Resampling.LANCZOS)).astype(float)
    assert np.abs(frame[420:1500] - middle).mean() < 6, "the picture itself is whole in the middle"


def test_jpeg_carries_the_ai_label_and_srgb_and_nothing_of_the_source() -> None:
    source = faces_data.astronaut()
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"  # Make
    buffer = io.BytesIO()
    source.save(buffer, "JPEG", exif=exif)
    rendered = render_image(Image.open(io.BytesIO(buffer.getvalue())), FEED, JPEG, source_type=AI)
    assert jpeg_source_type(rendered.data) == AI_SOURCE_TYPE
    output = opened(rendered.data)
    assert output.info.get("exif") is None and not output.getexif(), "camera and location data never leave"
    assert output.mode == "RGB" and rendered.quality == 90
    profile = ImageCms.ImageCmsProfile(io.BytesIO(output.info["icc_profile"]))
    assert "sRGB" in ImageCms.getProfileDescription(profile)
    packet = output.info["xmp"]
    assert b'<?xpacket begin="\xef\xbb\xbf"' in packet and b"Iptc4xmpExt:DigitalSourceType" in packet
    assert digital_source_type(xmp_packet(AI_SOURCE_TYPE)) == AI_SOURCE_TYPE
    assert digital_source_type(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'></x:xmpmeta>") is None
    # The attribute form some other tools write is read too.
    attribute = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-'
                 b'ns#"><rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
                 b'Iptc4xmpExt:DigitalSourceType="x:y"/></rdf:RDF></x:xmpmeta>')
    assert digital_source_type(attribute) == "x:y"


def test_a_profiled_source_is_converted_through_its_profile() -> None:
    tagged = Image.new("RGB", (216, 270), (200, 40, 30))
    buffer = io.BytesIO()
    tagged.save(buffer, "PNG", icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    source = Image.open(io.BytesIO(buffer.getvalue()))
    pixels = np.asarray(opened(render_image(source, FEED, JPEG, source_type=AI).data))
    assert np.abs(pixels[100, 100].astype(int) - (200, 40, 30)).max() <= 4
    broken = Image.new("RGB", (216, 270), (200, 40, 30))
    broken.info["icc_profile"] = b"not a profile"
    rendered = render_image(broken, FEED, JPEG, source_type=AI)
    assert rendered.width == 1080, "an unreadable profile is ignored, not an error"


def test_transparency_goes_on_white_and_small_sources_are_reported_enlarged() -> None:
    rgba = Image.new("RGBA", (216, 270), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).ellipse((50, 50, 150, 150), fill=(200, 0, 0, 255))
    rendered = render_image(rgba, FEED, JPEG, source_type=AI)
    pixels = np.asarray(opened(rendered.data))
    assert pixels[5, 5].min() > 245, "transparent parts are white, not black"
    assert rendered.plan.upscale == 5.0


def test_an_image_over_the_size_limit_is_saved_at_a_lower_quality() -> None:
    noisy = busy_texture((1080, 1350))
    tight = ImageFormat(quality=90, min_quality=70, max_bytes=900_000)
    rendered = render_image(noisy, FEED, tight, source_type=AI)
    assert 70 <= rendered.quality < 90
    assert len(rendered.data) <= tight.max_bytes or rendered.quality == tight.min_quality
    assert jpeg_source_type(rendered.data) == AI_SOURCE_TYPE


# ---- video ----------------------------------------------------------------------------------------------------


def clip(path: Path, *, seconds: float = 2.0, size: str = "320x240", audio: bool = True) -> Path:
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi",
               "-i", f"testsrc2=size={size}:rate=24:duration={seconds}"]
    if audio:
        command += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac"]
    command += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-metadata", "title=private source title", "-y", str(path)]
    subprocess.run(command, check=True, timeout=60)
    return path


SMALL = Platform(name="test", title="Test", image=ImageFormat(),
                 video=VideoFormat(fps=30, max_seconds=1.0, max_kbps=800),
                 presets=(Preset("tall", "9:16", 180, 320), Preset("square", "1:1", 240, 240)),
                 caption_limit=100, hashtag_limit=3)


def test_video_is_fitted_capped_and_labelled(tmp_path: Path) -> None:
    source = clip(tmp_path / "in.mp4")
    seen: list[float] = []
    tall = render_video(source, tmp_path / "tall.mp4", SMALL.presets[0], SMALL, source_type=AI,
                        progress=seen.append)
    info = probe(tall.path, count_frames=True)
    assert (info.width, info.height) == (180, 320) and info.codec == "h264"
    assert info.fps == 30 and info.frames == 30 and info.duration_s == pytest.approx(1.0, abs=0.05)
    assert info.has_audio and tall.has_audio and tall.trimmed_from_s == 2.0
    assert tall.plan.mode == "pad" and tall.width == 180 and tall.height == 320
    tags = read_tags(tall.path)
    assert tags["comment"] == AI_SOURCE_TYPE and "AI-generated" in tags["description"]
    assert "title" not in tags, "the source's own metadata is not carried over"
    assert seen and all(0.0 <= f <= 1.0 for f in seen)
    banner = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(tall.path)], capture_output=True).stderr
    assert b"yuv420p" in banner and b"High" in banner and b"48000 Hz, stereo" in banner

    square = render_video(source, tmp_path / "square.mp4", SMALL.presets[1], SMALL, source_type=AI)
    assert square.plan.mode == "crop" and (square.width, square.height) == (240, 240)


def test_moov_atom_comes_first(tmp_path: Path) -> None:
    made = render_video(clip(tmp_path / "in.mp4", seconds=0.5), tmp_path / "out.mp4", SMALL.presets[1], SMALL,
                        source_type=AI)
    head = made.path.read_bytes()[:4096]
    assert 0 <= head.find(b"moov") < head.find(b"mdat") or b"mdat" not in head, "+faststart: playable while loading"


def test_a_silent_clip_stays_silent(tmp_path: Path) -> None:
    made = render_video(clip(tmp_path / "in.mp4", seconds=0.5, audio=False), tmp_path / "out.mp4",
                        SMALL.presets[1], SMALL, source_type=AI)
    assert not made.has_audio and made.trimmed_from_s is None


def _ffmpeg_children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True)
            if "ffmpeg" in p.name() and p.status() != psutil.STATUS_ZOMBIE]


def test_failed_or_stopped_conversions_leave_nothing(tmp_path: Path) -> None:
    source = clip(tmp_path / "in.mp4", seconds=3.0, size="640x480")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(MediaError, match="could not convert"):
        transcode(source, out_dir / "bad.mp4", video_filter="nosuchfilter=1", fps=30)

    class Stop(Exception):
        pass

    def stop(fraction: float) -> None:
        raise Stop

    with pytest.raises(Stop):
        transcode(source, out_dir / "stopped.mp4", video_filter="scale=640:480", fps=30, progress=stop)
    assert list(out_dir.iterdir()) == [] and _ffmpeg_children() == []
