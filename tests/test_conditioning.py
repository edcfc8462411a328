"""Trajectory conditioning: rasterisation, anti-aliasing, rescale, off-frame clipping, dense encoding."""

from __future__ import annotations

import numpy as np
import pytest

from common.drawing import draw_segment
from common.trajectories import Trajectories, hide_outliers, rescale, select_frames
from posetraj.conditioning import (
    ConditioningConfig,
    encode_trajectories,
    gaussian_displacement_maps,
    rasterize_segments,
)


def _line(points: list[tuple[float, float]], size=(64, 48)) -> Trajectories:
    return Trajectories.from_array(np.array(points, dtype=float), size)


def test_segment_frames_follow_the_original_layout():
    traj = _line([(10, 10), (30, 10), (30, 30)])
    frames = rasterize_segments(traj)
    assert frames.shape == (3, 48, 64, 3)
    # frame 0: red segment (10,10)->(30,10), green head at (30,10)
    assert frames[0, 10, 20, 0] == pytest.approx(1.0) and frames[0, 10, 20, 1] == 0.0
    assert frames[0, 10, 30, 1] == pytest.approx(1.0) and frames[0, 10, 30, 0] == pytest.approx(0.0)
    # frame 1 is drawn on a fresh canvas: the first segment is gone, the second is vertical
    assert frames[1, 10, 20].max() == 0.0
    assert frames[1, 20, 30, 0] == pytest.approx(1.0)
    # the last frame is blank
    assert frames[2].max() == 0.0


def test_drawing_is_antialiased_at_subpixel_positions():
    def centroid_row(y: float) -> float:
        canvas = np.zeros((40, 40, 3))
        draw_segment(canvas, (5.0, y), (35.0, y), 3.0, (1.0, 1.0, 1.0))
        weights = canvas[..., 0].sum(axis=1)
        return float((weights * np.arange(40)).sum() / weights.sum())

    for shift in (0.0, 0.25, 0.5, 0.75):
        assert centroid_row(20.0 + shift) == pytest.approx(20.0 + shift, abs=0.02)
    canvas = np.zeros((40, 40, 3))
    draw_segment(canvas, (5.0, 20.3), (35.0, 20.3), 3.0, (1.0, 1.0, 1.0))
    values = np.unique(np.round(canvas[..., 0], 3))
    assert ((values > 0.0) & (values < 1.0)).any(), "edges must have partial coverage"
    # covered area ~ length x width + the round caps
    assert canvas[..., 0].sum() == pytest.approx(30 * 3 + np.pi * 1.5**2, rel=0.05)


def test_rescale_uses_pixel_centre_convention():
    traj = Trajectories.from_array(np.array([[[-0.5, -0.5], [99.5, 49.5], [0.0, 0.0]]]), (100, 50))
    out = rescale(traj, (200, 25))
    np.testing.assert_allclose(out.points[0, 0], [-0.5, -0.5])  # image corner stays the corner
    np.testing.assert_allclose(out.points[1, 0], [199.5, 24.5])
    np.testing.assert_allclose(out.points[2, 0], [0.5, -0.25])  # pixel centre 0 -> (0.5*2-0.5, 0.5*0.5-0.5)
    assert out.size == (200, 25)


def test_off_frame_outliers_are_dropped_explicitly():
    pts = np.array([[[10, 10], [-3, 5], [-1e5, 20], [np.nan, 1]]], dtype=float)
    traj = Trajectories.from_array(pts, (64, 48))
    assert traj.visible.T.tolist() == [[True, True, True, False]]  # NaN is invisible from the start
    kept, dropped = hide_outliers(traj, margin=0.1)
    assert dropped == 1
    assert kept.visible.T.tolist() == [[True, True, False, False]]


def test_segments_to_dropped_points_are_not_drawn_but_near_off_frame_ones_are_clipped():
    traj = _line([(10, 10), (-1e5, 10), (10, 10)])
    cond, dropped = encode_trajectories(traj, 3, 64, 48)
    assert dropped == 1
    assert cond[0].max() == -1.0  # nothing drawn towards the outlier
    assert cond[1, 0].max() == -1.0 and cond[1, 1].max() == pytest.approx(1.0)  # only the head of point 2
    near = _line([(10, 10), (-4, 10)])
    frames = rasterize_segments(near)
    assert frames[0, 10, 0, 0] == pytest.approx(1.0)  # the segment runs to the border
    assert frames[0, 10, :, 1].max() == 0.0  # the off-frame head dot is not on the canvas


def test_encode_rescales_selects_frames_and_maps_to_unit_range():
    traj = _line([(5, 5), (15, 5), (25, 5), (35, 5), (45, 5)], size=(64, 48))
    cond, _ = encode_trajectories(traj, 3, 128, 96)
    assert cond.shape == (3, 3, 96, 128) and cond.dtype == np.float32
    assert cond.min() == -1.0 and cond.max() == pytest.approx(1.0)
    # segment 0 -> 1 at double resolution: x from 10.5 to 30.5, row 10.5
    assert cond[0, 0, 10:12, 20].max() == pytest.approx(1.0)
    assert cond[2].max() == -1.0  # last selected frame is blank


def test_select_frames_pads_missing_frames_as_invisible():
    traj = _line([(1, 1), (2, 2)])
    out = select_frames(traj, 4)
    assert out.points.shape == (1, 4, 2)
    assert out.visible[0].tolist() == [True, True, False, False]


def test_visibility_controls_segments_and_heads():
    pts = np.array([[[10, 10]], [[20, 10]], [[30, 10]]], dtype=float)
    traj = Trajectories.from_array(pts, (64, 48), visible=np.array([[True], [False], [True]]))
    frames = rasterize_segments(traj)
    assert frames[0].max() == 0.0 and frames[1, ..., 0].max() == 0.0
    assert frames[1, 10, 30, 1] == pytest.approx(1.0)  # head of a reappearing point


def test_gaussian_encoding_carries_displacement():
    traj = _line([(20, 20), (28, 16), (28, 16)])
    config = ConditioningConfig(encoding="gaussian", gaussian_sigma=3.0, displacement_scale=16.0)
    maps = gaussian_displacement_maps(traj, config)
    assert maps.shape == (3, 48, 64, 3)
    np.testing.assert_allclose(maps[0, 20, 20], [0.5, -0.25, 1.0], atol=1e-6)
    assert maps[1, 16, 28, 2] == 0.0 or maps[1, 16, 28, :2].tolist() == [0.0, 0.0]
    assert maps[2].max() == 0.0
    assert maps[0, 0, 63, 2] < 1e-6  # far pixels get no weight
    cond, _ = encode_trajectories(traj, 3, 64, 48, config)
    np.testing.assert_allclose(cond[0, :, 20, 20], [0.5, -0.25, 1.0], atol=1e-6)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="shape"):
        Trajectories.from_array(np.zeros((4, 3)), (10, 10))
    with pytest.raises(ValueError, match="shape"):
        Trajectories(np.zeros((2, 4, 3)), np.ones((2, 4), bool), (10, 10))
    with pytest.raises(ValueError, match="encoding"):
        ConditioningConfig(encoding="heatmap")
