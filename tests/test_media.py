"""inference/media.py against the real ffmpeg binary: encode, probe, decode, mux, and cleanup on failure."""

from __future__ import annotations

import gc
import subprocess
import warnings
from pathlib import Path

import numpy as np
import psutil
import pytest

from inference.media import (
    MediaError,
    VideoWriter,
    even,
    ffmpeg_exe,
    mux_audio,
    probe,
    read_frames,
    read_tags,
    still_frame,
    write_video,
)


def _frames(count: int, size: tuple[int, int] = (96, 64)) -> list[np.ndarray]:
    """Frames whose grey level steps up by 8 each frame, over a fixed texture (so the encoder has work)."""
    width, height = size
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 24, size=(height, width, 3), dtype=np.uint8)
    return [np.clip(texture.astype(int) + 40 + 8 * i, 0, 255).astype(np.uint8) for i in range(count)]


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def _ffmpeg_children() -> list[psutil.Process]:
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "ffmpeg" in child.name() and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


@pytest.fixture
def tone(tmp_path: Path) -> Path:
    """A 5 s 440 Hz AAC tone made by ffmpeg's own signal generator."""
    path = tmp_path / "tone.m4a"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "lavfi",
                    "-i", "sine=frequency=440:duration=5", "-c:a", "aac", str(path)], check=True, timeout=60)
    return path


def test_encode_then_probe_round_trip(tmp_path: Path) -> None:
    path = write_video(_frames(30), tmp_path / "clip.mp4", fps=15)

    info = probe(path, count_frames=True)

    assert (info.width, info.height, info.fps, info.frames) == (96, 64, 15.0, 30)
    assert info.codec == "h264" and not info.has_audio and info.rotation == 0
    assert info.duration_s == pytest.approx(2.0, abs=0.05)
    assert _leftovers(tmp_path) == ["clip.mp4"]  # the partial file was renamed into place


def test_decoded_frames_match_what_was_written(tmp_path: Path) -> None:
    written = _frames(12)
    path = write_video(written, tmp_path / "clip.mp4", fps=12)

    decoded = list(read_frames(path))

    assert len(decoded) == 12
    assert all(frame.shape == (64, 96, 3) and frame.dtype == np.uint8 for frame in decoded)
    for original, frame in zip(written, decoded, strict=True):
        assert abs(float(frame.mean()) - float(original.mean())) < 3.0


def test_decoding_can_scale_resample_and_stop_early(tmp_path: Path) -> None:
    path = write_video(_frames(24), tmp_path / "clip.mp4", fps=24)

    scaled = list(read_frames(path, size=(48, 32), max_frames=5))
    halved = list(read_frames(path, fps=12))

    assert len(scaled) == 5 and scaled[0].shape == (32, 48, 3)
    assert len(halved) == 12


def test_writer_frame_count_and_size_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even"):
        VideoWriter(tmp_path / "odd.mp4", size=(95, 64), fps=24)
    with pytest.raises(ValueError, match="even"):
        write_video([np.zeros((63, 96, 3), np.uint8)], tmp_path / "odd.mp4", fps=24)
    with pytest.raises(ValueError, match="fps"):
        VideoWriter(tmp_path / "fast.mp4", size=(96, 64), fps=500)
    with pytest.raises(MediaError, match="no frames"):
        write_video([], tmp_path / "empty.mp4", fps=24)
    writer = VideoWriter(tmp_path / "none.mp4", size=(96, 64), fps=24)
    with pytest.raises(MediaError):
        writer.close()  # nothing was written
    assert _leftovers(tmp_path) == []
    assert even(95.9) == 94 and even(1) == 2


def test_error_inside_the_writer_leaves_no_file(tmp_path: Path) -> None:
    frames = _frames(5)
    with pytest.raises(RuntimeError, match="stopped"), VideoWriter(tmp_path / "a.mp4", size=(96, 64), fps=24) as w:
        for frame in frames:
            w.write(frame)
        raise RuntimeError("stopped by the caller")
    with pytest.raises(ValueError, match="frame must be"), VideoWriter(tmp_path / "b.mp4", size=(96, 64),
                                                                       fps=24) as w:
        w.write(frames[0])
        w.write(frames[0][:, :48])
    assert _leftovers(tmp_path) == []
    assert _ffmpeg_children() == []


def test_abort_removes_the_partial_file_and_stops_ffmpeg(tmp_path: Path) -> None:
    writer = VideoWriter(tmp_path / "clip.mp4", size=(96, 64), fps=24)
    for frame in _frames(10):
        writer.write(frame)
    assert _ffmpeg_children(), "the encoder runs while frames are written"

    writer.abort()

    assert _leftovers(tmp_path) == []
    assert _ffmpeg_children() == []


def test_encoder_failure_is_a_media_error_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "clip.mp4"  # ffmpeg cannot create its output here
    with pytest.raises(MediaError), VideoWriter(target, size=(96, 64), fps=24) as writer:
        for frame in _frames(10):
            writer.write(frame)
    assert _leftovers(tmp_path) == []
    assert _ffmpeg_children() == []


def test_mux_audio_adds_the_tone_cut_to_the_picture(tmp_path: Path, tone: Path) -> None:
    video = write_video(_frames(48), tmp_path / "picture.mp4", fps=24)

    out = mux_audio(video, tone, tmp_path / "with-sound.mp4")

    info = probe(out, count_frames=True)
    assert info.has_audio and info.frames == 48 and (info.width, info.height) == (96, 64)
    assert info.duration_s == pytest.approx(2.0, abs=0.15)  # the 5 s tone is cut to the 2 s picture
    assert not any(p.name.endswith(".partial.mp4") for p in tmp_path.iterdir())


def test_mux_audio_from_a_silent_source_copies_the_picture(tmp_path: Path) -> None:
    video = write_video(_frames(24), tmp_path / "picture.mp4", fps=24)
    silent = write_video(_frames(24), tmp_path / "silent.mp4", fps=24)

    out = mux_audio(video, silent, tmp_path / "out.mp4")

    info = probe(out, count_frames=True)
    assert not info.has_audio and info.frames == 24


def test_mux_audio_failure_leaves_no_partial_file(tmp_path: Path) -> None:
    video = write_video(_frames(24), tmp_path / "picture.mp4", fps=24)
    with pytest.raises(MediaError, match="audio"):
        mux_audio(video, tmp_path / "nowhere.m4a", tmp_path / "out.mp4")
    assert _leftovers(tmp_path) == ["picture.mp4"]


def test_stopping_a_decode_early_leaves_no_ffmpeg_running(tmp_path: Path) -> None:
    path = write_video(_frames(60), tmp_path / "clip.mp4", fps=24)
    frames = read_frames(path)
    first = next(frames)
    assert first.shape == (64, 96, 3)
    assert _ffmpeg_children(), "the decoder is running mid-iteration"

    frames.close()

    assert _ffmpeg_children() == []


def test_still_frame_reads_the_frame_at_a_time(tmp_path: Path) -> None:
    written = _frames(24)
    path = write_video(written, tmp_path / "clip.mp4", fps=12)

    first = still_frame(path)
    later = still_frame(path, at_s=1.0)  # frame 12

    assert first.shape == (64, 96, 3)
    assert abs(float(first.mean()) - float(written[0].mean())) < 3.0
    assert abs(float(later.mean()) - float(written[12].mean())) < 3.0


def test_a_file_that_is_not_video_is_a_media_error(tmp_path: Path, tone: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 50)
    with pytest.raises(MediaError):
        probe(text)
    with pytest.raises(MediaError):
        list(read_frames(text))
    with pytest.raises(MediaError):
        still_frame(text)
    with pytest.raises(MediaError, match="no video stream"):
        probe(tone)  # audio only
    with pytest.raises(MediaError):
        probe(tmp_path / "does-not-exist.mp4")


def test_pipes_are_closed_when_each_use_ends(tmp_path: Path) -> None:
    # A worker runs for days: descriptors must be released when a read or write ends, not whenever the
    # garbage collector gets to them (which CPython reports as a ResourceWarning).
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        path = write_video(_frames(30), tmp_path / "clip.mp4", fps=24)
        list(read_frames(path))
        early = read_frames(path)
        next(early)
        early.close()
        aborted = VideoWriter(tmp_path / "aborted.mp4", size=(96, 64), fps=24)
        aborted.write(_frames(1)[0])
        aborted.abort()
        del early, aborted
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args], check=True,
                   timeout=60)


def test_probe_reads_the_frame_count_and_exact_rate_from_the_container(tmp_path: Path) -> None:
    ntsc = write_video(_frames(30), tmp_path / "ntsc.mp4", fps=30000 / 1001)

    info = probe(ntsc)  # no decoding: the count is the container's

    assert info.frames == 30
    assert info.fps == pytest.approx(30000 / 1001, abs=1e-6)  # not the report's rounded "29.97"
    assert info.duration_s == pytest.approx(30 * 1001 / 30000, abs=0.01)


def test_a_rotated_phone_clip_is_probed_with_its_rotation_and_decoded_upright(tmp_path: Path) -> None:
    plain = write_video(_frames(6), tmp_path / "plain.mp4", fps=12)
    rotated = tmp_path / "rotated.mp4"
    _ffmpeg("-display_rotation:v:0", "90", "-i", str(plain), "-c", "copy", str(rotated))

    info = probe(rotated)

    assert (info.width, info.height, info.rotation) == (96, 64, 90)
    assert info.display_size == (64, 96)
    assert next(read_frames(rotated)).shape == (96, 64, 3)
    assert still_frame(rotated).shape == (96, 64, 3)


def test_a_truncated_upload_is_a_clear_media_error(tmp_path: Path) -> None:
    whole = write_video(_frames(48), tmp_path / "whole.mp4", fps=24)  # +faststart: the index comes first
    data = whole.read_bytes()
    head_first = tmp_path / "cut.mp4"
    head_first.write_bytes(data[: len(data) * 2 // 3])
    index_last = tmp_path / "index-last.mp4"
    _ffmpeg("-i", str(whole), "-c", "copy", str(index_last))  # no +faststart: the index is written at the end
    index_last.write_bytes(index_last.read_bytes()[: len(data) * 2 // 3])

    with pytest.raises(MediaError, match=r"cut\.mp4 is cut short: its last frame lies \d+ bytes past the end"):
        probe(head_first)
    with pytest.raises(MediaError, match=r"index-last\.mp4 is not a video ffmpeg can read: Invalid data"):
        probe(index_last)
    assert probe(whole).frames == 48


def test_empty_files_folders_and_still_images_are_refused_by_name(tmp_path: Path) -> None:
    from PIL import Image

    empty = tmp_path / "empty.mp4"
    empty.touch()
    photo = tmp_path / "photo.png"
    Image.new("RGB", (64, 48), "red").save(photo)
    folder = tmp_path / "clips.mp4"
    folder.mkdir()

    with pytest.raises(MediaError, match=r"empty\.mp4 is not a video ffmpeg can read"):
        probe(empty)
    with pytest.raises(MediaError, match=r"photo\.png is a still image"):
        probe(photo)
    with pytest.raises(MediaError, match=r"cannot open clips\.mp4: Is a directory"):
        probe(folder)
    with pytest.raises(MediaError, match=r"cannot open gone\.mp4: No such file"):
        probe(tmp_path / "gone.mp4")


def test_read_tags_returns_container_tags_whole(tmp_path: Path) -> None:
    clip = write_video(_frames(6), tmp_path / "clip.mp4", fps=12)
    tagged = tmp_path / "tagged.mp4"
    description = "Made with Persona Studio.\nSecond line: AI-generated."
    _ffmpeg("-i", str(clip), "-c", "copy", "-metadata", "comment=trainedAlgorithmicMedia",
            "-metadata", f"description={description}", str(tagged))

    tags = read_tags(tagged)

    assert tags["comment"] == "trainedAlgorithmicMedia"
    assert tags["description"] == description  # a report parser cut this at the line break
    with pytest.raises(MediaError, match="cannot read the tags"):
        read_tags(tmp_path / "missing.mp4")
