"""TAP-Vid metrics against cases computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmark.tapvid import average_metrics, first_visible_queries, rescale_points, tapvid_metrics


def test_position_thresholds_by_hand() -> None:
    # one track, query at frame 0; errors 0 (query frame, not evaluated), 1.5 px and 3 px
    gt = np.array([[[0, 0]], [[10, 0]], [[20, 0]]], float)
    pred = np.array([[[0, 0]], [[11.5, 0]], [[20, 3]]], float)
    visible = np.ones((3, 1), bool)
    m = tapvid_metrics(np.array([0]), gt, visible, pred, visible)
    # delta 1: none within; 2: frame 1; 4, 8, 16: both
    assert m.pts_within == pytest.approx((0.0, 0.5, 1.0, 1.0, 1.0))
    # jaccard: TP / (2 visible + FP) -> 0/4, 1/3, 2/2, 1, 1
    assert m.jaccard == pytest.approx((0.0, 1 / 3, 1.0, 1.0, 1.0))
    assert m.delta_avg == pytest.approx(0.7)
    assert m.aj == pytest.approx(2 / 3)
    assert m.oa == 1.0 and m.num_evaluated == 2


def _occlusion_case() -> tuple[np.ndarray, ...]:
    tracks = np.zeros((4, 2, 2))
    tracks[:, 0] = [[0, 0], [1, 1], [2, 2], [3, 3]]
    tracks[:, 1] = [[5, 5], [6, 6], [7, 7], [8, 8]]
    gt_visible = np.array([[1, 0], [1, 0], [1, 1], [0, 1]], bool)
    pred_visible = np.array([[1, 1], [1, 0], [1, 1], [1, 0]], bool)
    return np.array([0, 2]), tracks, gt_visible, tracks.copy(), pred_visible


def test_occlusion_first_mode_by_hand() -> None:
    # evaluated: track A frames 1-3, track B frame 3. A at 3: false positive; B at 3: missed.
    m = tapvid_metrics(*_occlusion_case(), mode="first")
    assert m.num_evaluated == 4
    assert m.oa == pytest.approx(0.5)
    assert m.delta_avg == pytest.approx(1.0)  # positions are exact; occlusion predictions are ignored
    assert m.aj == pytest.approx(2 / (3 + 1))


def test_occlusion_strided_mode_by_hand() -> None:
    # adds B frames 0 (predicted visible: false positive) and 1 (correctly occluded)
    m = tapvid_metrics(*_occlusion_case(), mode="strided")
    assert m.num_evaluated == 6
    assert m.oa == pytest.approx(3 / 6)
    assert m.aj == pytest.approx(2 / (3 + 2))


def test_average_over_videos_and_undefined_values() -> None:
    first = tapvid_metrics(*_occlusion_case())
    gt = np.array([[[0, 0]], [[10, 0]], [[20, 0]]], float)
    second = tapvid_metrics(np.array([0]), gt, np.ones((3, 1), bool), gt + [0, 1.5], np.ones((3, 1), bool))
    # never visible after the query: delta_avg undefined, left out of the mean
    empty = tapvid_metrics(np.array([0]), gt, np.array([[1], [0], [0]], bool), gt, np.zeros((3, 1), bool))
    assert math.isnan(empty.delta_avg) and empty.oa == 1.0
    avg = average_metrics([first, second, empty])
    assert avg["delta_avg"] == pytest.approx((1.0 + second.delta_avg) / 2)
    assert avg["oa"] == pytest.approx((0.5 + 1.0 + 1.0) / 3)
    assert avg["num_videos"] == 3


def test_rescale_and_first_queries() -> None:
    corners = rescale_points(np.array([[0, 0], [575, 319]]), size=(320, 576))
    np.testing.assert_allclose(corners, [[0, 0], [255, 255]])
    tracks = np.arange(3 * 3 * 2, dtype=np.float32).reshape(3, 3, 2)
    visible = np.array([[0, 1, 0], [1, 1, 0], [1, 0, 0]], bool)
    queries, used = first_visible_queries(tracks, visible)
    np.testing.assert_array_equal(used, [0, 1])
    np.testing.assert_allclose(queries, [[1, *tracks[1, 0]], [0, *tracks[0, 1]]])


def test_shape_errors() -> None:
    with pytest.raises(ValueError, match="pred_tracks has shape"):
        tapvid_metrics(np.array([0]), np.zeros((3, 1, 2)), np.ones((3, 1), bool), np.zeros((2, 1, 2)), np.ones((3, 1), bool))
    with pytest.raises(ValueError, match="mode must be"):
        tapvid_metrics(*_occlusion_case(), mode="all")
