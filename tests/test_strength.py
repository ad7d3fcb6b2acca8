"""The network's share of a blind JPEG by its fineness and chroma sampling: the calibrated share, never more than
either measured step around it on its side of the floor; all of it from the floor on where none was measured."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.conditioning import Conditioning, JpegParams
from engine.strength import network_share, shares_of

HALVED = {"4:2:0": (True, True), "4:2:2": (True, False), "4:4:4": (False, False), "4:4:0": (False, True)}


def of_step(step: int, sampling: str = "4:2:0") -> Conditioning:
    table = (step,) * 64
    return Conditioning.of(JpegParams(table, table, *HALVED[sampling]), 64.0)


SHARES = [(8.0, "4:2:0", 0.5), (4.0, "4:2:0", 0.25), (2.0, "4:2:0", 0.5), (1.0, "4:2:0", 0.125)]


def test_the_conditioning_carries_the_chroma_sampling() -> None:
    assert [of_step(3, sampling).subsampling for sampling in HALVED] == list(HALVED)
    gray = Conditioning.of(JpegParams((3,) * 64, (3,) * 64, False, False, grayscale=True), 64.0)
    assert gray.subsampling == "gray"


COARSE = [(32.0, "4:4:4", 1.0), (16.0, "4:4:4", 0.875), (12.0, "4:4:4", 0.75)]


def test_from_the_floor_on_the_network_restores_alone_unless_measured_otherwise() -> None:
    assert network_share(of_step(10), 10.0, SHARES) == 1.0
    assert network_share(of_step(40), 10.0, []) == 1.0
    assert [network_share(of_step(s, "4:4:4"), 10.0, COARSE) for s in (64, 32, 20, 16, 14, 12, 10)] == [
        1.0, 1.0, 0.875, 0.875, 0.75, 0.75, 0.75,
    ], "coarser than all: 1; between: the lesser; between the floor and the finest: the finest's"


def test_the_floor_separates_the_shares_on_each_side() -> None:
    both = [*COARSE, (8.0, "4:4:4", 0.25)]
    assert network_share(of_step(9, "4:4:4"), 10.0, both) == 0.25, "finer than the floor: only finer shares"
    assert network_share(of_step(11, "4:4:4"), 10.0, both) == 0.75, "coarser: only the floor's side"
    assert network_share(of_step(4, "4:4:4"), 10.0, both) == 0.0


def test_a_jpeg_that_cannot_be_decoded_anew_gets_the_network_from_the_floor_on_and_none_finer() -> None:
    assert network_share(of_step(12, "4:4:4"), 10.0, COARSE, decodable=False) == 1.0
    assert network_share(of_step(8), 10.0, SHARES, decodable=False) == 0.0


def test_at_a_measured_step_its_share_applies() -> None:
    assert [network_share(of_step(s), 10.0, SHARES) for s in (8, 4, 2, 1)] == [0.5, 0.25, 0.5, 0.125]


def test_between_measured_steps_the_lesser_share_applies() -> None:
    assert network_share(of_step(9), 10.0, SHARES) == 0.5, "between 8 (0.5) and the floor (1)"
    assert network_share(of_step(6), 10.0, SHARES) == 0.25
    assert network_share(of_step(3), 10.0, SHARES) == 0.25


def test_finer_than_every_measured_step_or_uncalibrated_the_jpeg_is_decoded_anew() -> None:
    assert network_share(of_step(1), 10.0, SHARES[:3]) == 0.0
    assert network_share(of_step(5), 10.0, []) == 0.0


def test_each_sampling_has_its_own_shares_and_one_not_calibrated_the_least_of_any() -> None:
    shares = [(2.0, "4:2:0", 0.5), (2.0, "4:4:4", 0.25), (2.0, "4:2:2", 0.375)]
    assert [network_share(of_step(2, s), 10.0, shares) for s in ("4:2:0", "4:4:4", "4:2:2")] == [0.5, 0.25, 0.375]
    assert network_share(of_step(2, "4:4:0"), 10.0, shares) == 0.25


def test_a_models_info_carries_its_shares() -> None:
    assert shares_of({"blind_shares": [[2.5, "4:4:4", 0.5]]}) == [(2.5, "4:4:4", 0.5)]
    assert shares_of({}) == []


@given(
    st.integers(1, 255),
    st.floats(1.0, 255.0),
    st.lists(st.tuples(st.floats(1.0, 255.0), st.sampled_from([0.0, 0.125, 0.25, 0.5])), max_size=8),
)
def test_a_share_is_one_of_those_measured_around_the_step(step: int, floor: float, measured: list) -> None:
    conditioning = of_step(step)
    measured = [(at, share) for at, share in measured if at < floor]
    shares = [(at, "4:2:0", share) for at, share in measured]
    share = network_share(conditioning, floor, [*shares, (floor, "4:2:0", 0.75)])
    if not conditioning.luma_finer_than(floor):
        assert share == (0.75 if conditioning.luma_code_is(floor) else 1.0)
        return
    finer = [s for p, s in measured if not conditioning.luma_finer_than(p)]
    assert share == 0.0 if not finer else share in {s for _, s in measured}
    coarser = [(p, s) for p, s in measured if conditioning.luma_finer_than(p)]
    if coarser and not any(conditioning.luma_code_is(p) for p, _ in measured):
        assert share <= min(coarser)[1], "never more than the next coarser measured step allows"
    assert share <= max((s for _, s in measured), default=0.0)
