from __future__ import annotations

import io
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image

from core.errors import InvalidUpload
from core.settings import Settings
from core.uploads import check_image, sniff_kind
from tests.faces_data import astronaut, jpeg_bytes, png_bytes


@pytest.fixture
def upload_settings(tmp_path) -> Settings:
    return Settings(environment="test", data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` RGB pixels but carries almost no data (a bomb's shape)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + \
        chunk(b"IEND", b"")


def test_good_jpeg_is_accepted_and_re_encoded(upload_settings: Settings) -> None:
    checked = check_image(jpeg_bytes(astronaut()), filename="ava.jpg", settings=upload_settings)
    assert (checked.width, checked.height, checked.mime) == (440, 440, "image/jpeg")
    assert checked.notes == []
    assert _decode(checked.data).mode == "RGB"


def test_text_file_named_jpg_is_refused_by_content(upload_settings: Settings) -> None:
    with pytest.raises(InvalidUpload, match=r"notes\.jpg is not an image.*JPEG, PNG or WebP"):
        check_image(b"hello, this is not a photo\n" * 10, filename="notes.jpg", settings=upload_settings)


def test_video_is_refused_as_a_photo(upload_settings: Settings) -> None:
    mp4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 64
    assert sniff_kind(mp4) == "video"
    with pytest.raises(InvalidUpload, match=r"clip\.jpg is a video"):
        check_image(mp4, filename="clip.jpg", settings=upload_settings)


def test_sniff_kind_by_magic_bytes() -> None:
    assert sniff_kind(jpeg_bytes(astronaut())) == "image"
    assert sniff_kind(png_bytes(astronaut())) == "image"
    assert sniff_kind(b"\x1a\x45\xdf\xa3" + b"\x00" * 40) == "video"
    assert sniff_kind(b"\x00\x00\x00\x1cftypheic" + b"\x00" * 40) == "image"
    assert sniff_kind(b"%PDF-1.7") is None


def test_truncated_jpeg_is_refused(upload_settings: Settings) -> None:
    data = jpeg_bytes(astronaut())
    with pytest.raises(InvalidUpload, match=r"cut\.jpg is damaged or incomplete"):
        check_image(data[: len(data) // 2], filename="cut.jpg", settings=upload_settings)


def test_one_pixel_image_is_refused(upload_settings: Settings) -> None:
    with pytest.raises(InvalidUpload, match=r"dot.png is only 1x1 pixels; send a photo at least 64"):
        check_image(png_bytes(Image.new("RGB", (1, 1))), filename="dot.png", settings=upload_settings)


def test_huge_canvas_is_refused_from_the_header_without_decoding(upload_settings: Settings) -> None:
    bomb = _png_header_only(20000, 20000)
    tracemalloc.start()
    try:
        expected = r"bomb\.png is too large \(400 megapixels\); the limit is 60 megapixels"
        with pytest.raises(InvalidUpload, match=expected):
            check_image(bomb, filename="bomb.png", settings=upload_settings)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, f"refusing the bomb allocated {peak / 2**20:.0f} MB"


def test_canvas_over_our_limit_but_under_pillows_is_refused_before_decoding(upload_settings: Settings) -> None:
    # 100 MP: above the 60 MP setting, below the ~179 MP where Pillow itself would refuse.
    canvas = _png_header_only(10000, 10000)
    tracemalloc.start()
    try:
        with pytest.raises(InvalidUpload, match=r"big\.png is too large \(10000x10000 = 100 megapixels\)"):
            check_image(canvas, filename="big.png", settings=upload_settings)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, f"refusing the canvas allocated {peak / 2**20:.0f} MB"


def test_pixel_limit_comes_from_settings(upload_settings: Settings) -> None:
    strict = upload_settings.model_copy(update={"max_image_pixels": 100_000})
    expected = r"a\.png is too large \(440x440 = 0\.2 megapixels\); the limit is 0\.1 megapixels"
    with pytest.raises(InvalidUpload, match=expected):
        check_image(png_bytes(astronaut()), filename="a.png", settings=strict)


def test_file_size_limit(upload_settings: Settings) -> None:
    tiny_limit = upload_settings.model_copy(update={"max_upload_mb": 0})
    with pytest.raises(InvalidUpload, match="over the 0 MB limit"):
        check_image(jpeg_bytes(astronaut()), filename="big.jpg", settings=tiny_limit)


def test_cmyk_jpeg_becomes_rgb(upload_settings: Settings) -> None:
    out = io.BytesIO()
    astronaut().convert("CMYK").save(out, format="JPEG", quality=95)
    checked = check_image(out.getvalue(), filename="print.jpg", settings=upload_settings)
    image = _decode(checked.data)
    assert image.mode == "RGB"
    assert any("CMYK" in note for note in checked.notes)
    # The colours survive the round trip (not inverted, as naive Adobe CMYK handling would leave them).
    original = np.asarray(astronaut(), dtype=np.float64)
    assert np.abs(np.asarray(image, dtype=np.float64) - original).mean() < 12


def test_animated_gif_keeps_first_frame_with_a_note(upload_settings: Settings) -> None:
    frames = [Image.new("RGB", (96, 96), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    checked = check_image(out.getvalue(), filename="wave.gif", settings=upload_settings)
    assert checked.mime == "image/png"
    assert any("animated (3 frames)" in note for note in checked.notes)
    red, green, blue = np.asarray(_decode(checked.data).convert("RGB"))[10, 10]
    assert red > 200 and green < 50 and blue < 50


def test_exif_rotation_is_applied(upload_settings: Settings) -> None:
    wide = Image.new("RGB", (200, 100), (255, 255, 255))
    wide.paste((0, 0, 0), (0, 0, 100, 100))  # black left half
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    out = io.BytesIO()
    wide.save(out, format="JPEG", exif=exif, quality=95)
    checked = check_image(out.getvalue(), filename="phone.jpg", settings=upload_settings)
    assert (checked.width, checked.height) == (100, 200)
    upright = _decode(checked.data)
    pixels = np.asarray(upright, dtype=np.int64)
    assert pixels[20, 50].sum() < 60, "the black half should now be on top"
    assert pixels[180, 50].sum() > 700
    assert any("upright" in note for note in checked.notes)
    assert upright.getexif().get(0x0112) in (None, 1)


def test_transparency_is_flattened_on_white(upload_settings: Settings) -> None:
    rgba = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    rgba.paste((200, 0, 0, 255), (0, 0, 50, 100))
    checked = check_image(png_bytes(rgba), filename="cutout.png", settings=upload_settings)
    image = _decode(checked.data)
    assert image.mode == "RGB"
    assert image.getpixel((75, 50)) == (255, 255, 255)
    assert image.getpixel((25, 50)) == (200, 0, 0)
    assert any("transparent" in note for note in checked.notes)


def test_palette_and_sixteen_bit_images_become_rgb(upload_settings: Settings) -> None:
    palette = astronaut().convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    assert _decode(check_image(png_bytes(palette), filename="p.png", settings=upload_settings).data).mode == "RGB"
    ramp = (np.linspace(0, 65535, 128 * 128).reshape(128, 128)).astype(np.uint16)
    deep = Image.fromarray(ramp)
    checked = check_image(png_bytes(deep), filename="deep.png", settings=upload_settings)
    values = np.asarray(_decode(checked.data))
    assert values.shape == (128, 128, 3)
    # Scaled, not clipped: the ramp still spans the full 8-bit range.
    assert values.min() < 5 and values.max() > 250 and 100 < values.mean() < 155


@pytest.mark.parametrize(("name", "data", "expected"), [
    ("a.heic", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 200,
     "a.heic could not be read as an image (damaged or unsupported); send a JPEG, PNG or WebP photo."),
    ("clip.mp4", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 300,
     "clip.mp4 is a video, not a photo; send a JPEG, PNG or WebP photo."),
])
def test_formats_we_cannot_use_as_photos_get_a_clear_answer(upload_settings: Settings, name: str, data: bytes,
                                                            expected: str) -> None:
    with pytest.raises(InvalidUpload) as caught:
        check_image(data, filename=name, settings=upload_settings)
    assert str(caught.value) == expected
