"""Blind calibration: the threshold below which the network alone was measured to harm, and the share of it each
step and chroma sampling gets."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from engine.conditioning import COND_BITS, Conditioning, JpegParams
from engine.strength import MAX_SHARE
from engine.training import calibrate
from engine.training.calibrate import TOLERANCE_DB, Point, blind_min_step


def point(step: float, change: float, subsampling: str = "4:4:4") -> Point:
    return Point("img", "pillow", subsampling, 90, step, change, shared_db=(change,) * len(calibrate.SHARES))


def test_the_threshold_is_the_finest_step_from_which_on_nothing_harms() -> None:
    points = [point(1.0, -0.5), point(2.0, 0.01), point(2.0, -0.2), point(4.0, 0.1), point(8.0, 0.4), point(16.0, 1.0)]
    assert blind_min_step(points) == 4.0


def test_a_harmful_coarse_point_disables_blind_restoration_below_it() -> None:
    points = [point(1.0, 0.2), point(4.0, 0.3), point(8.0, -0.2), point(16.0, 1.0)]
    assert blind_min_step(points) == 16.0


def test_a_floor_keeps_the_threshold_coarser_than_the_calibration_allows(monkeypatch) -> None:
    points = [point(2.0, 0.2), point(4.0, 0.3), point(8.0, 0.4), point(16.0, 1.0)]
    monkeypatch.setattr(calibrate, "measure", lambda *args: points)
    floored = calibrate.calibration(None, [], None, floor=6.0)
    assert floored["blind_min_step"] == 6.0 and floored["blind_calibration"]["calibrated_min_step"] == 2.0
    assert floored["blind_calibration"]["worst_applied_db"] == 0.4, "only the points the threshold applies to"
    assert calibrate.calibration(None, [], None, floor=1.0)["blind_min_step"] == 2.0


def test_nothing_safe_means_never_restoring_blindly() -> None:
    assert math.isinf(blind_min_step([point(16.0, -1.0), point(4.0, 0.5)]))


@given(st.lists(st.tuples(st.floats(1, 100), st.floats(-2, 2)), min_size=1, max_size=40))
def test_every_point_at_or_above_the_threshold_is_within_tolerance(raw: list[tuple[float, float]]) -> None:
    points = [point(s, c) for s, c in raw]
    threshold = blind_min_step(points)
    assert all(p.change_db >= TOLERANCE_DB for p in points if p.luma_step >= threshold)
    finer = [p for p in points if p.luma_step < threshold]
    if finer and not math.isinf(threshold):
        coarsest_finer = max(p.luma_step for p in finer)
        assert min(p.change_db for p in finer if p.luma_step == coarsest_finer) < TOLERANCE_DB



TABLES = st.lists(st.integers(1, 255), min_size=64, max_size=64).map(tuple)
CODE_RESOLUTION = 2.0 ** (2 * 8 / (1 << COND_BITS))
"""Two steps further apart than this ratio always get different codes (one code is a ratio of 2^(8/4096))."""


@given(TABLES, TABLES, st.floats(2.0, 2048.0))
def test_the_threshold_is_compared_as_the_codes_carry_the_step(jpeg: tuple, calibrated: tuple, lam: float) -> None:
    """A JPEG at or above the calibrated step is restored, whatever the rounding of its code; one clearly
    below it passes through."""
    conditioning = Conditioning.of(JpegParams(jpeg, jpeg, True, True), lam)
    step, threshold = float(np.mean(jpeg)), float(np.mean(calibrated))
    if step >= threshold:
        assert not conditioning.luma_finer_than(threshold)
    if step * CODE_RESOLUTION < threshold:
        assert conditioning.luma_finer_than(threshold)
    assert conditioning.luma_finer_than(math.inf) and not conditioning.luma_finer_than(0.0)


def shared(step: float, *changes: float, subsampling: str = "4:4:4") -> Point:
    """A point with these changes at each of ``SHARES`` (0, 1/8, ..., 1)."""
    assert len(changes) == len(calibrate.SHARES)
    return Point("img", "pillow", subsampling, 95, step, changes[-1], shared_db=changes)


def test_the_shares_measured_run_in_eighths_from_the_decode_anew_to_the_network_alone() -> None:
    assert tuple(k / 8 for k in range(9)) == calibrate.SHARES and MAX_SHARE in calibrate.SHARES


def test_below_the_threshold_each_step_gets_the_share_up_to_the_cap_that_serves_its_worst_point_best() -> None:
    points = [
        shared(4.0, 0.1, 0.2, 0.3, 0.2, 0.1, 0.9, 0.9, 0.9, 0.9),
        shared(4.0, 0.1, 0.3, 0.25, 0.1, -0.2, 0.9, 0.9, 0.9, 0.9),
        shared(2.0, 0.2, 0.1, 0.0, -0.1, -0.4, -0.5, -0.6, -0.7, -0.8),
        shared(1.0, 0.01, 0.02, 0.04, 0.03, 0.0, 0.0, 0.0, 0.0, 0.0),
    ]
    assert calibrate.blind_shares(points, 8.0) == [[4.0, "4:4:4", 0.25], [2.0, "4:4:4", 0.0], [1.0, "4:4:4", 0.0]]


def test_below_the_threshold_a_tie_takes_the_lesser_share() -> None:
    tie = shared(4.0, 0.2, 0.3, 0.3, 0.3, 0.1, 0.0, 0.0, 0.0, 0.0)
    assert calibrate.blind_shares([tie], 8.0) == [[4.0, "4:4:4", 0.125]]


def test_each_chroma_sampling_gets_its_own_share() -> None:
    points = [
        shared(2.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, subsampling="4:2:0"),
        shared(2.0, 0.1, 0.3, 0.2, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0),
    ]
    assert calibrate.blind_shares(points, 8.0) == [[2.0, "4:2:0", MAX_SHARE], [2.0, "4:4:4", 0.125]]


def test_from_the_threshold_on_the_best_mean_that_keeps_the_worst_point_where_the_network_alone_leaves_it() -> None:
    rising = [shared(16.0, *(0.1 * k for k in range(9))), shared(16.0, *(0.05 * k for k in range(9)))]
    assert calibrate.blind_shares(rising, 8.0) == [[16.0, "4:4:4", 1.0]]
    peaked = [
        shared(12.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.7, 0.9, 0.8, 0.6),
        shared(12.0, 0.0, 0.0, 0.0, 0.0, 0.2, 0.25, 0.3, 0.3, 0.3),
    ]
    assert calibrate.blind_shares(peaked, 8.0) == [[12.0, "4:4:4", 0.75]], "both points gain"
    costly = [
        shared(10.0, 0.9, 0.9, 0.9, 0.9, 1.0, 1.2, 1.4, 1.3, 1.2),
        shared(10.0, 0.9, 0.9, 0.9, 0.9, 0.2, 0.2, 0.2, 0.3, 0.3),
    ]
    assert calibrate.blind_shares(costly, 8.0) == [[10.0, "4:4:4", 0.875]], "3/4 has the best mean but a lower worst"
    flat = [shared(9.0, *(0.2,) * 9)]
    assert calibrate.blind_shares(flat, 8.0) == [[9.0, "4:4:4", 1.0]], "on a tie, the greatest share"


@given(st.lists(st.lists(st.floats(-1, 2), min_size=9, max_size=9), min_size=1, max_size=6), st.booleans())
def test_a_share_never_serves_the_worst_point_less_than_its_side_of_the_threshold_allows(
    raw: list[list[float]], fine: bool
) -> None:
    points = [shared(4.0, *changes) for changes in raw]
    [[_, _, share]] = calibrate.blind_shares(points, 8.0 if fine else 2.0)
    worst = np.min(raw, axis=0)
    index = calibrate.SHARES.index(share)
    if fine:
        assert share <= MAX_SHARE
        assert share == 0.0 or worst[index] == max(worst[:5]) >= TOLERANCE_DB
    else:
        assert share >= MAX_SHARE and worst[index] >= worst[-1]


def test_the_calibration_images_are_the_held_out_ones_and_every_seventh_training_image(tmp_path) -> None:
    names = [f"img{i:02d}" for i in range(16)] + ["mate_Storm", "wiki_037"]
    for name in names:
        (tmp_path / f"{name}.png").write_bytes(b"")
    stems = [path.stem for path in calibrate.calibration_images(tmp_path)]
    assert stems[:2] == ["mate_Storm", "wiki_037"] and stems[2:] == ["img00", "img07", "img14"]
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "a.png").write_bytes(b"")
    assert [path.stem for path in calibrate.calibration_images(lone)] == ["a"], "no image twice"
