"""The RD plot: the views' own point, curves told apart and labelled by quality, curves kept across lambda."""

import pytest
from gui_helpers import overlay, reopen_as_received, wait_idle

from engine import decode_jpeg, encode_jpeg, psnr
from gui.rd_plot import STYLES
from gui.rd_sweep import RD_QUALITIES, Curve, RdCurves, RdPoint, sweep_size
from gui.state import Role


def marker(window, curve: Curve) -> tuple[float, float] | None:
    spots = window.rd_plot.markers[curve].data
    return (spots[0]["x"], spots[0]["y"]) if len(spots) else None


def test_the_current_point_is_the_one_in_the_overlays(window):
    doc = window.document
    out, jpeg = doc.restored, doc.jpeg
    assert marker(window, Curve.SIDE) == (out.rates.total, out.psnr)
    assert marker(window, Curve.JPEG) == (jpeg.rates.jpeg, jpeg.psnr)
    assert marker(window, Curve.BLIND) is None
    assert f"= {out.rates.total:.3f}" in overlay(window, Role.RESTORED)
    assert window.rd_plot.current_label.textItem.toPlainText() == (
        f"q30 · {out.rates.total:.3f} bpp · {out.psnr:.2f} dB"
    )
    # a small image is swept whole: the curve passes through the views' point
    side = window.scheduler.rd_curves.points(Curve.SIDE)[30]
    assert (side.bpp, side.psnr) == pytest.approx((out.rates.total, out.psnr))
    assert "whole image" in window.rd_plot.plot.plotItem.titleLabel.text


def test_blind_the_ring_moves_to_the_blind_curve(qtbot, window):
    window.encode.side.group.button(1).click()
    qtbot.waitUntil(lambda: window.document.restored.blind, timeout=60_000)
    wait_idle(qtbot, window)
    out = window.document.restored
    assert marker(window, Curve.BLIND) == (out.rates.total, out.psnr) and marker(window, Curve.SIDE) is None
    blind = window.scheduler.rd_curves.points(Curve.BLIND)[30]
    assert (blind.bpp, blind.psnr) == pytest.approx((out.rates.total, out.psnr))


def test_points_carry_their_quality_and_the_curves_differ_without_colour(window, crop):
    labels = [label.textItem.toPlainText() for label in window.rd_plot.labels]
    assert labels == [f"q{q}" for q in RD_QUALITIES]
    jpeg = window.scheduler.rd_curves.points(Curve.JPEG)
    for label, quality in zip(window.rd_plot.labels, RD_QUALITIES, strict=True):
        assert (label.pos().x(), label.pos().y()) == pytest.approx((jpeg[quality].bpp, jpeg[quality].psnr))
    assert len({style.symbol for style in STYLES.values()}) == 3
    assert len({style.line for style in STYLES.values()}) == 3
    assert [item.opts["name"] for item in window.rd_plot.curves.values()] == [c.value for c in Curve]
    for curve, item in window.rd_plot.curves.items():
        assert item.opts["pen"].style() == STYLES[curve].line
        assert len(item.getData()[0]) == len(RD_QUALITIES)
    assert jpeg[50].psnr == pytest.approx(psnr(crop, decode_jpeg(encode_jpeg(crop, 50))))  # the whole image's


def test_a_lambda_change_keeps_the_jpeg_and_blind_curves_and_a_change_back_keeps_the_side_curve(qtbot, window):
    before = {curve: dict(window.scheduler.rd_curves.points(curve)) for curve in Curve}
    window.encode.lam.spin.setValue(1024.0)
    wait_idle(qtbot, window)
    for curve in (Curve.JPEG, Curve.BLIND):
        kept = window.scheduler.rd_curves.points(curve)
        assert all(kept[q] is before[curve][q] for q in RD_QUALITIES)
    side = window.scheduler.rd_curves.points(Curve.SIDE)
    assert set(side) == set(RD_QUALITIES) and all(side[q] is not before[Curve.SIDE][q] for q in RD_QUALITIES)
    assert window.scheduler.rd_curves.keys[Curve.SIDE][-1] == 1024.0
    sweeps = window.scheduler.rd_stage.started
    window.encode.lam.spin.setValue(64.0)
    wait_idle(qtbot, window)
    assert window.scheduler.rd_stage.started == sweeps
    assert all(window.scheduler.rd_curves.points(Curve.SIDE)[q] is before[Curve.SIDE][q] for q in RD_QUALITIES)


def test_a_quality_change_does_not_restart_the_sweep(qtbot, window):
    sweeps = window.scheduler.rd_stage.started
    window.encode.quality.slider.setValue(44)
    qtbot.waitUntil(lambda: window.document.restored.quality == 44, timeout=60_000)
    wait_idle(qtbot, window)
    assert window.scheduler.rd_stage.started == sweeps
    out = window.document.restored
    assert marker(window, Curve.SIDE) == (out.rates.total, out.psnr)


def test_curves_are_kept_per_key_and_large_images_are_swept_scaled():
    curves = RdCurves()
    a, b = {c: ("a", c) for c in Curve}, {c: ("b", c) for c in Curve}
    curves.select(a)
    assert curves.add(Curve.SIDE, a[Curve.SIDE], RdPoint(10, 1.0, 30.0))
    curves.select(b)
    assert not curves.add(Curve.SIDE, a[Curve.SIDE], RdPoint(20, 2.0, 33.0))  # a late point of the old key
    assert curves.points(Curve.SIDE) == {} and curves.missing([10]) == {c: [10] for c in Curve}
    curves.select(a)
    assert set(curves.points(Curve.SIDE)) == {10, 20}
    assert sweep_size(768, 512) == (768, 512)
    width, height = sweep_size(4000, 3000)
    assert width * height <= 768 * 512 * 1.01 and width / height == pytest.approx(4 / 3, rel=0.01)


def test_a_received_jpeg_has_no_curves(qtbot, window, tmp_path):
    reopen_as_received(qtbot, window, tmp_path)
    assert all(len(item.getData()[0] if item.getData()[0] is not None else []) == 0
               for item in window.rd_plot.curves.values())
    assert marker(window, Curve.SIDE) is None and window.rd_plot.labels == []
