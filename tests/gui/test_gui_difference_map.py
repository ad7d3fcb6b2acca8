"""Difference maps: restored − original and JPEG − original, per pixel, signed, over each view."""

import numpy as np
import pytest
from gui_helpers import WAIT_MS, reopen_as_received, wait_idle

from gui.difference_map import DIFFERENCE_RANGE, difference_rgba, mean_absolute_difference, signed_difference
from gui.state import Role


def choose_difference(window) -> None:
    window.view_controls.map_mode.setCurrentText("difference")


def test_each_view_shows_its_own_image_minus_the_original(window, crop):
    choose_difference(window)
    doc = window.document
    for role, image in ((Role.JPEG, doc.jpeg.decoded), (Role.RESTORED, doc.restored.restored)):
        layer = window.panes[role].map_layer
        assert layer.isVisible() and layer.image.shape == (96, 128, 4)
        assert layer.mapRectToParent(layer.boundingRect()).size().toTuple() == (128, 96)  # one entry per pixel
        assert np.array_equal(layer.image, difference_rgba(image, crop))
    assert not np.array_equal(window.panes[Role.JPEG].map_layer.image, window.panes[Role.RESTORED].map_layer.image)
    text = window.legend.difference.text()
    assert f"JPEG − original: mean |Δ| {mean_absolute_difference(doc.jpeg.decoded, crop):.2f}" in text
    assert f"Restored − original: mean |Δ| {mean_absolute_difference(doc.restored.restored, crop):.2f}" in text
    assert window.legend.pages.currentWidget() is window.legend.difference_page


def test_the_colours_are_signed_and_amplified():
    original = np.full((1, 4, 3), 100, np.uint8)
    image = original.copy()
    image[0, 0] -= DIFFERENCE_RANGE  # darker: saturated blue
    image[0, 2] += DIFFERENCE_RANGE // 4  # a little brighter: dim orange
    image[0, 3] += 3 * DIFFERENCE_RANGE  # far brighter: saturated orange, no wrap-around
    rgba = difference_rgba(image, original)
    r = DIFFERENCE_RANGE
    assert signed_difference(image, original).tolist() == [[-r, 0, r // 4, 3 * r]]
    assert rgba[0, 1, :3].tolist() == [0, 0, 0]
    assert rgba[0, 0, 2] > 200 and rgba[0, 0, 0] < 100
    assert rgba[0, 3, 0] > 200 and rgba[0, 3, 2] < 100
    assert 40 < rgba[0, 2, 0] < rgba[0, 3, 0]


def test_the_map_follows_the_view_when_the_quality_changes_and_when_flipped(qtbot, window, crop):
    choose_difference(window)
    window.encode.quality.slider.setValue(60)
    qtbot.waitUntil(lambda: window.document.restored.quality == 60, timeout=WAIT_MS)
    wait_idle(qtbot, window)
    doc = window.document
    assert np.array_equal(window.panes[Role.JPEG].map_layer.image, difference_rgba(doc.jpeg.decoded, crop))
    assert np.array_equal(window.panes[Role.RESTORED].map_layer.image, difference_rgba(doc.restored.restored, crop))
    window.set_flipped(True)
    assert np.array_equal(window.panes[Role.RESTORED].map_layer.image, difference_rgba(doc.jpeg.decoded, crop))
    assert "JPEG (flipped) − original" in window.legend.difference.text()


def test_the_split_view_shows_each_sides_difference(window, crop):
    choose_difference(window)
    window.view_controls.layout_choice.group.button(1).click()
    doc = window.document
    assert window.view_controls.split_pair() == (Role.JPEG, Role.RESTORED)
    assert np.array_equal(window.split.before_map.image, difference_rgba(doc.jpeg.decoded, crop))
    assert np.array_equal(window.split.map_layer.image, difference_rgba(doc.restored.restored, crop))
    window.view_controls.before.setCurrentIndex(window.view_controls.before.findData(Role.ORIGINAL))
    assert not window.split.before_map.isVisible()  # the original minus itself is nothing
    window.view_controls.opacity.spin.setValue(90)
    assert window.split.before_map.opacity() == pytest.approx(0.9) == window.split.map_layer.opacity()


def test_a_received_jpeg_has_no_difference_map(qtbot, window, tmp_path):
    reopen_as_received(qtbot, window, tmp_path)
    choose_difference(window)
    assert not window.panes[Role.RESTORED].map_layer.isVisible()
    assert "no original" in window.legend.empty.text()
