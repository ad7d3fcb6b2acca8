"""``benchmarks.pass_through`` measures what the blind decoder shows for a fine JPEG, beside its parts."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.pass_through import changes_db
from engine import Codec, decode_jpeg, encode_jpeg, psnr
from tests.conftest import random_net


def test_the_benchmark_measures_the_decode_anew_alone_and_with_the_networks_share(sample_rgb: np.ndarray) -> None:
    codec = Codec(net=random_net(seed=4), device="cpu")
    codec.blind_min_step, codec.blind_shares = float("inf"), [(1.0, "4:4:4", 0.5)]
    jpeg = encode_jpeg(sample_rgb, 96, "4:4:4")
    (anew, shown, projected, share), sampling = changes_db(codec, sample_rgb, jpeg)
    before = psnr(decode_jpeg(jpeg), sample_rgb)
    assert sampling == "4:4:4" and share == 0.5
    assert shown == pytest.approx(psnr(codec.restore(jpeg).image, sample_rgb) - before)
    assert anew > projected > 0, "decoded anew, closer than its pixels moved into the constraint"
    codec.blind_shares = []
    (alone, shown_alone, _, share), _ = changes_db(codec, sample_rgb, jpeg)
    assert share == 0.0 and shown_alone == pytest.approx(alone) and alone == pytest.approx(anew)
