"""Images that decode to wrong pixels, hang or crash: each is converted correctly or reported as
a problem of that image, by name, never a traceback or a hang (issue 8)."""

from __future__ import annotations

import io
import os
import tarfile

import numpy as np
import pytest
from image_fixtures import add_tar_member, make_jpeg, make_val_folder
from imagenet_multilabel.dataset_script.classes import file_name_from_image_id
from imagenet_multilabel.dataset_script.images import choose
from imagenet_multilabel.dataset_script.images import source as image_source
from imagenet_multilabel.dataset_script.images.decode import (
    check_image_header,
    check_images,
    decode_image,
)
from imagenet_multilabel.dataset_script.images.errors import (
    CorruptImageError,
    DuplicateImagesError,
    MissingImagesError,
)
from PIL import Image

NAME = "ILSVRC2012_val_00000001.JPEG"  # every test image is "named .JPEG", whatever it holds


def _encoded(image: Image.Image, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return buffer.getvalue()


def _palette_with_transparency() -> Image.Image:
    """Index 0 (red) transparent on the left half, index 1 (green) opaque on the right."""
    image = Image.new("P", (4, 4), 0)
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    image.paste(1, (2, 0, 4, 4))
    image.info["transparency"] = 0
    return image


SIXTEEN_BIT = np.full((4, 4), 40_000, dtype=np.uint16)  # 40000 / 257 -> 156
# name -> (encoded image, expected RGB of pixel (0, 0), expected RGB of pixel (3, 3))
MODES = {
    "I;16 png": (_encoded(Image.fromarray(SIXTEEN_BIT)), (156,) * 3, (156,) * 3),
    "I;16B tiff": (
        _encoded(Image.frombytes("I;16B", (4, 4), SIXTEEN_BIT.astype(">u2").tobytes()), "TIFF"),
        (156,) * 3,
        (156,) * 3,
    ),
    "LA transparent": (_encoded(Image.new("LA", (4, 4), (100, 0))), (255,) * 3, (255,) * 3),
    "LA opaque": (_encoded(Image.new("LA", (4, 4), (100, 255))), (100,) * 3, (100,) * 3),
    "RGBA half": (_encoded(Image.new("RGBA", (4, 4), (0, 0, 200, 128))), (127, 127, 227), None),
    "P transparency": (_encoded(_palette_with_transparency()), (255,) * 3, (0, 255, 0)),
    "1": (_encoded(Image.new("1", (4, 4), 1)), (255,) * 3, (255,) * 3),
    "L": (_encoded(Image.new("L", (4, 4), 77)), (77,) * 3, (77,) * 3),
}


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_becomes_the_right_rgb(mode):
    data, first_pixel, last_pixel = MODES[mode]
    image = decode_image(data, NAME)
    pixels = np.asarray(image)
    assert image.mode == "RGB"
    assert np.abs(pixels[0, 0].astype(int) - first_pixel).max() <= 1, pixels[0, 0]
    if last_pixel is not None:
        assert tuple(pixels[3, 3]) == last_pixel
    check_image_header(data, NAME)


@pytest.mark.parametrize(
    ("pixels", "mode"),
    [(np.full((4, 4), 70_000, dtype=np.int32), "'I'"), (np.full((4, 4), 0.5, np.float32), "'F'")],
)
def test_pixels_without_a_defined_white_are_refused(pixels, mode):
    """32-bit integer or float pixels: a plain convert clips them; there is no right answer."""
    data = _encoded(Image.fromarray(pixels), "TIFF")
    for check in (decode_image, check_image_header):
        with pytest.raises(CorruptImageError, match=f"{NAME} .*pixel mode {mode}") as error:
            check(data, NAME)
        assert error.value.file_names == (NAME,)


def test_a_decompression_bomb_is_a_problem_of_that_image(tmp_path, monkeypatch):
    make_val_folder(tmp_path, [1, 2], class_subfolders=False, images={2: make_jpeg(2, size=64)})
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 64 x 64 > 2 x 1000: a bomb
    located = choose.open_image_source(str(tmp_path)).locate([NAME, file_name_from_image_id(2)])
    with pytest.raises(CorruptImageError, match="1 of 2 image does not decode") as error:
        check_images(located, num_workers=1)
    assert error.value.file_names == (file_name_from_image_id(2),)
    assert "DecompressionBombError" in str(error.value)


def test_a_fifo_or_broken_link_named_jpeg_is_reported_like_a_missing_image(tmp_path):
    """Reading a FIFO blocks forever: only regular files are images."""
    make_val_folder(tmp_path, [1], class_subfolders=True)
    fifo = tmp_path / file_name_from_image_id(2)
    os.mkfifo(fifo)
    (tmp_path / file_name_from_image_id(3)).symlink_to(tmp_path / "gone.JPEG")
    source = choose.open_image_source(str(tmp_path))
    wanted = [NAME, file_name_from_image_id(2), file_name_from_image_id(3)]
    with pytest.raises(MissingImagesError, match="2 of 3 wanted images are missing") as error:
        source.locate(wanted)
    message = str(error.value)
    assert f"{file_name_from_image_id(2)} ({file_name_from_image_id(2)} is a FIFO" in message
    assert f"({file_name_from_image_id(3)} is a broken symbolic link)" in message
    assert error.value.missing == tuple(wanted[1:])


def test_an_unreadable_image_is_a_problem_of_that_image(tmp_path, monkeypatch):
    """Tests run as root, where chmod 000 does not stop reads: the module's open is replaced by
    one refusing one file, as a file without read permission does."""
    make_val_folder(tmp_path, [1, 2, 3], class_subfolders=False)
    located = choose.open_image_source(str(tmp_path)).locate(
        [file_name_from_image_id(i) for i in (1, 2, 3)]
    )
    unreadable = str(tmp_path / file_name_from_image_id(2))

    def refusing_open(path, *args, **kwargs):
        if str(path) == unreadable:
            raise PermissionError(13, "Permission denied", unreadable)
        return open(path, *args, **kwargs)

    monkeypatch.setattr(image_source, "open", refusing_open, raising=False)
    with pytest.raises(CorruptImageError, match="1 of 3 image does not decode") as error:
        check_images(located, num_workers=1)
    assert error.value.file_names == (file_name_from_image_id(2),)
    assert "cannot be read: PermissionError" in str(error.value)


def test_an_image_removed_after_indexing_is_a_problem_of_that_image(tmp_path):
    make_val_folder(tmp_path, [1, 2], class_subfolders=False)
    located = choose.open_image_source(str(tmp_path)).locate([NAME, file_name_from_image_id(2)])
    (tmp_path / NAME).unlink()
    with pytest.raises(CorruptImageError, match=f"{NAME} .cannot be read: FileNotFound"):
        located[0]


def test_a_name_in_thousands_of_places_gives_a_short_message(tmp_path):
    tar_path = tmp_path / "val.tar"
    with tarfile.open(tar_path, "w") as tar:
        for copy in range(2000):
            add_tar_member(tar, f"copy_{copy:04d}/{NAME}", b"x")
    with pytest.raises(DuplicateImagesError) as error:
        choose.open_image_source(str(tar_path)).locate([NAME])
    message = str(error.value)
    assert f"{NAME}: copy_0000/{NAME}, " in message and ", ..." in message
    assert len(message) < 600, len(message)
