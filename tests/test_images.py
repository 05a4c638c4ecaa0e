"""Every kind of bad or unusual image gives an upright RGB picture or a clear ImageError."""

import io

import pytest
from PIL import Image

from core.images import MAX_FILE_BYTES, ImageError, load_image


def encode(image: Image.Image, fmt: str = "JPEG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def test_plain_jpeg_is_rgb():
    image = load_image(encode(Image.new("RGB", (40, 30), "red")))
    assert image.mode == "RGB" and image.size == (40, 30)


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "empty"),
        (b"this is a text file, not a picture", "not an image"),
        (b"%PDF-1.4 fake pdf", "not an image"),
    ],
)
def test_non_images_are_refused(data, words):
    with pytest.raises(ImageError, match=words):
        load_image(data)


def test_truncated_jpeg_is_refused():
    data = encode(Image.effect_noise((400, 400), 60).convert("RGB"))
    with pytest.raises(ImageError, match="damaged or truncated"):
        load_image(data[: len(data) // 2])


def test_corrupt_bytes_after_header_are_refused():
    data = bytearray(encode(Image.new("RGB", (64, 64), "blue"), fmt="PNG"))
    data[40:] = b"\x00" * (len(data) - 40)
    with pytest.raises(ImageError):
        load_image(bytes(data))


def test_decompression_bomb_is_refused():
    # A tiny PNG that declares 20000 x 20000 pixels.
    data = encode(Image.new("1", (20000, 20000)), fmt="PNG")
    assert len(data) < 200_000
    with pytest.raises(ImageError, match="megapixels|too large"):
        load_image(data)


def test_oversized_file_is_refused_before_decoding():
    with pytest.raises(ImageError, match="limit"):
        load_image(b"\xff\xd8" + b"\x00" * (MAX_FILE_BYTES + 1))


def test_cmyk_becomes_rgb():
    image = load_image(encode(Image.new("CMYK", (20, 20), (0, 255, 255, 0))))
    assert image.mode == "RGB"
    r, g, b = image.getpixel((10, 10))
    assert r > 200 and g < 60 and b < 60  # CMYK (0, 255, 255, 0) is red


def test_alpha_is_composited_on_white():
    rgba = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (5, 5, 15, 15))
    image = load_image(encode(rgba, fmt="PNG"))
    assert image.mode == "RGB"
    assert image.getpixel((0, 0)) == (255, 255, 255)
    assert image.getpixel((10, 10)) == (0, 0, 255)


def test_exif_rotation_is_applied():
    wide = Image.new("RGB", (60, 20), "green")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    image = load_image(encode(wide, exif=exif.tobytes()))
    assert image.size == (20, 60)


def test_large_images_are_shrunk_and_remember_their_upright_size():
    from core.images import original_size

    image = load_image(encode(Image.new("RGB", (3000, 1500), "white")), max_side=512)
    assert max(image.size) == 512 and original_size(image) == (3000, 1500)
    exif = Image.Exif()
    exif[0x0112] = 6
    turned = load_image(encode(Image.new("RGB", (3000, 1500), "white"), exif=exif.tobytes()), max_side=512)
    assert turned.size == (256, 512) and original_size(turned) == (1500, 3000)


def test_missing_path_is_refused(tmp_path):
    with pytest.raises(ImageError, match="No image file"):
        load_image(tmp_path / "nope.jpg")
