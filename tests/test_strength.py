"""The network's share of a blind JPEG by its fineness: all of it from the floor on, the calibrated share
below, never more than either measured step around it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.conditioning import Conditioning, JpegParams
from engine.strength import network_share


def of_step(step: int) -> Conditioning:
    table = (step,) * 64
    return Conditioning.of(JpegParams(table, table, True, True), 64.0)


SHARES = [(8.0, 0.5), (4.0, 0.25), (2.0, 0.5), (1.0, 0.125)]


def test_from_the_floor_on_the_network_restores_alone() -> None:
    assert network_share(of_step(10), 10.0, SHARES) == 1.0
    assert network_share(of_step(40), 10.0, []) == 1.0


def test_at_a_measured_step_its_share_applies() -> None:
    assert [network_share(of_step(s), 10.0, SHARES) for s in (8, 4, 2, 1)] == [0.5, 0.25, 0.5, 0.125]


def test_between_measured_steps_the_lesser_share_applies() -> None:
    assert network_share(of_step(9), 10.0, SHARES) == 0.5, "between 8 (0.5) and the floor (1)"
    assert network_share(of_step(6), 10.0, SHARES) == 0.25
    assert network_share(of_step(3), 10.0, SHARES) == 0.25


def test_finer_than_every_measured_step_or_uncalibrated_the_jpeg_is_decoded_anew() -> None:
    assert network_share(of_step(1), 10.0, SHARES[:3]) == 0.0
    assert network_share(of_step(5), 10.0, []) == 0.0


@given(
    st.integers(1, 255),
    st.floats(1.0, 255.0),
    st.lists(st.tuples(st.floats(1.0, 255.0), st.sampled_from([0.0, 0.125, 0.25, 0.5])), max_size=8),
)
def test_a_share_is_one_of_those_measured_around_the_step(step: int, floor: float, shares: list) -> None:
    conditioning = of_step(step)
    share = network_share(conditioning, floor, shares)
    if not conditioning.luma_finer_than(floor):
        assert share == 1.0
        return
    finer = [s for p, s in shares if not conditioning.luma_finer_than(p)]
    assert share == 0.0 if not finer else share in {s for _, s in shares}
    coarser = [(p, s) for p, s in shares if conditioning.luma_finer_than(p)]
    if coarser and not any(conditioning.luma_code_is(p) for p, _ in shares):
        assert share <= min(coarser)[1], "never more than the next coarser measured step allows"
    assert share <= max((s for _, s in shares), default=0.0)
