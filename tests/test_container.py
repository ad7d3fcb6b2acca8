"""Side information embedded in the JPEG as APP10 segments that other viewers ignore."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from engine.container import MAX_CHUNK, embed_sidecar, split_embedded
from engine.errors import SideJPEGError


def test_other_viewers_see_the_same_pixels(codec, sample_rgb: np.ndarray) -> None:
    made = codec.compress(sample_rgb, 25, 8.0)
    embedded = embed_sidecar(made.jpeg, made.sidecar)
    with Image.open(io.BytesIO(embedded)) as im:
        assert im.format == "JPEG"
        assert np.array_equal(np.asarray(im.convert("RGB")), made.jpeg_decoded)
    assert split_embedded(embedded) == (made.jpeg, made.sidecar)
    assert np.array_equal(codec.restore(embedded).image, codec.restore(made.jpeg, made.sidecar).image)


def test_large_side_information_spans_several_segments(codec, sample_rgb: np.ndarray) -> None:
    jpeg = codec.compress(sample_rgb, 25, 8.0).jpeg
    blob = bytes(np.random.default_rng(0).integers(0, 256, 2 * MAX_CHUNK + 17, dtype=np.uint8))
    embedded = embed_sidecar(jpeg, blob)
    assert embedded.count(b"SideJPEG\x00") == 3
    assert split_embedded(embedded) == (jpeg, blob)


def test_plain_jpeg_has_no_side_information(codec, sample_rgb: np.ndarray) -> None:
    jpeg = codec.compress(sample_rgb, 25, 8.0).jpeg
    assert split_embedded(jpeg) == (jpeg, None)


def test_embedding_twice_and_non_jpeg_are_refused(codec, sample_rgb: np.ndarray) -> None:
    made = codec.compress(sample_rgb, 25, 8.0)
    with pytest.raises(SideJPEGError, match="already"):
        embed_sidecar(embed_sidecar(made.jpeg, made.sidecar), made.sidecar)
    with pytest.raises(SideJPEGError, match="not a JPEG"):
        split_embedded(b"\x89PNG\r\n\x1a\n")
