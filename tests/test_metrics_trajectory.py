"""Trajectory metrics and the DragAnything JSON reader, checked against hand-computed cases and
against a re-implementation of the published ObjMC formula on the real VIPSeg tracks."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from benchmark.metrics.trajectory import objmc_pooled, trajectory_metrics
from common.trajectories import TrajectoryFormatError, parse_trajectory_json, read_trajectory_json


def test_hand_computed_trajectory_metrics():
    cond = np.array([[[0.0, 0.0], [10.0, 0.0], [20.0, 0.0]]])  # one point, 3 frames
    pred = np.array([[[0.0, 0.0], [13.0, 4.0], [20.0, 12.0]]])  # errors 0, 5, 12
    m = trajectory_metrics(cond, pred, width=30, height=40)  # diagonal 50
    assert m["objmc"] == pytest.approx((0 + 5 + 12) / 3)
    assert m["objmc_sum"] == pytest.approx(17.0) and m["objmc_count"] == 3
    assert m["ade"] == pytest.approx(8.5)  # frame 0 skipped
    assert m["fde"] == pytest.approx(12.0)
    assert m["ade_norm"] == pytest.approx(8.5 / 50)
    assert m["fde_norm"] == pytest.approx(12.0 / 50)
    assert m["within_5px"] == 0.0  # 5 is not < 5
    assert m["within_10px"] == 0.5
    assert m["within_20px"] == 1.0
    assert m["error_per_frame"] == pytest.approx([0.0, 5.0, 12.0])


def test_objmc_truncates_like_the_integer_json_tracks():
    cond = np.array([[[0.9, 0.0], [10.9, 0.0]]])
    pred = np.array([[[0.1, 0.0], [10.1, 0.0]]])
    m = trajectory_metrics(cond, pred, 100, 100)
    assert m["objmc"] == 0.0  # int() of both is equal
    assert m["fde"] == pytest.approx(0.8)


def test_trajectory_metrics_reject_nan_and_shape_mismatch():
    cond = np.zeros((2, 4, 2))
    with pytest.raises(ValueError, match="NaN"):
        trajectory_metrics(cond, np.full((2, 4, 2), np.nan), 10, 10)
    with pytest.raises(ValueError, match="equal shape"):
        trajectory_metrics(cond, np.zeros((2, 3, 2)), 10, 10)


def _published_objmc(gt_files: dict, pred_files: dict) -> float:
    """Straight transcription of the published protocol: one global list of distances."""
    distances = []
    for name, gt in gt_files.items():
        if name not in pred_files:
            continue
        pred = pred_files[name]
        for key in gt:
            if key not in pred:
                continue
            for (gx, gy), (px, py) in zip(gt[key], pred[key]):
                distances.append(math.sqrt((gx - px) ** 2 + (gy - py) ** 2))
    return sum(distances) / len(distances)


def test_objmc_matches_published_formula_on_real_vipseg_tracks(shared_data):
    files = sorted((shared_data / "vipseg_cotracker_tracks").glob("*.json"))[:60]
    assert len(files) == 60
    rng = np.random.default_rng(0)
    gt_files, pred_files = {}, {}
    for path in files:
        gt = json.loads(path.read_text())
        pred = {}
        for key, points in gt.items():
            if rng.random() < 0.1:
                continue  # an entity the prediction lacks
            arr = np.asarray(points[:14], dtype=np.float64)  # 14 generated frames, GT is longer
            arr = np.trunc(arr + rng.normal(0, 25, arr.shape)).astype(int)
            pred[key] = arr.tolist()
        gt_files[path.stem], pred_files[path.stem] = gt, pred
    total, count, missing = 0.0, 0, 0
    for name in gt_files:
        pooled = objmc_pooled(gt_files[name], pred_files[name])
        total, count = total + pooled.total, count + pooled.count
        # the entities the prediction lacks are reported as failures, not skipped silently
        assert set(pooled.missing) == set(gt_files[name]) - set(pred_files[name])
        assert pooled.complete == (not pooled.missing)
        missing += len(pooled.missing)
    assert missing > 0
    expected = _published_objmc(gt_files, pred_files)
    assert total / count == pytest.approx(expected, rel=1e-12)
    # the outliers of the released files are reproduced, not clipped: the pooled mean is dominated by them
    assert total / count > 30


def test_real_json_outlier_policies(shared_data):
    from common.trajectories import outlier_points

    path = None
    for candidate in sorted((shared_data / "vipseg_cotracker_tracks").glob("*.json")):
        points = parse_trajectory_json(json.loads(candidate.read_text()), "x", outliers="keep").points
        bad = outlier_points(points, (1920, 1080), 0.1).any(axis=1)
        if np.abs(points).max() > 20000 and not bad.all():
            path = candidate
            break
    assert path is not None, "the real files contain diverged tracks"
    kept = read_trajectory_json(path, outliers="keep")
    dropped = read_trajectory_json(path, (1920, 1080), outliers="drop")
    assert len(dropped.dropped) >= 1 and len(dropped.ids) + len(dropped.dropped) == len(kept.ids)
    assert np.abs(dropped.points).max() < 1920 * 1.2
    with pytest.raises(TrajectoryFormatError, match="leave the 1920x1080 frame"):
        read_trajectory_json(path, (1920, 1080), outliers="error")


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"0": [[1, 2], [NaN, 3]]}', "frame 1: non-finite"),
        ('{"0": [[1, 2], [1, 3]], "1": [[1, 2]]}', "has 1 frames"),
        ('{"0": [[1, 2], [1]]}', "expected \\[x, y\\]"),
        ('{"0": [[1, 2], ["a", 3]]}', "expected \\[x, y\\]"),
        ("[]", "non-empty JSON object"),
        ("{not json", "not valid JSON"),
    ],
)
def test_malformed_trajectory_json_gives_clear_error(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(TrajectoryFormatError, match=message) as info:
        read_trajectory_json(path, outliers="keep")
    assert str(path) in str(info.value)


def test_missing_trajectory_file(tmp_path):
    with pytest.raises(TrajectoryFormatError, match="not found"):
        read_trajectory_json(tmp_path / "absent.json")


def test_field_grid_matches_cotracker_layout():
    from benchmark.metrics.trajectory import field_grid, nearest_grid_tracks

    grid = field_grid(1024, 768, size=3)
    # working resolution 384x512, margin 8: x in {8, 256, 504}, y in {8, 192, 376}, scaled by (W-1)/511, (H-1)/383
    sx, sy = 1023 / 511, 767 / 383
    assert np.allclose(grid[0], [8 * sx, 8 * sy])
    assert np.allclose(grid[4], [256 * sx, 192 * sy])
    assert np.allclose(grid[8], [504 * sx, 376 * sy])
    assert np.allclose(grid[1], [256 * sx, 8 * sy])  # row-major: x varies fastest
    assert nearest_grid_tracks(grid, np.array([[500.0, 390.0], [1.0, 1.0]])).tolist() == [4, 0]
    assert field_grid(192, 128).shape == (10000, 2)


def test_objmc_pooled_reports_missing_and_empty_trajectories_as_failures():
    gt = {"1": [[0, 0], [3, 4]], "2": [[1, 1], [1, 1]], "3": [[5, 5]]}
    pred = {"1": [[0, 0], [0, 0]], "3": []}
    pooled = objmc_pooled(gt, pred)
    assert pooled.missing == ("2", "3") and not pooled.complete
    assert (pooled.total, pooled.count) == (5.0, 2)  # only trajectory 1 is measured: distances 0 and 5


def test_entity_centres_are_the_deepest_mask_points():
    from benchmark.metrics.trajectory import entity_centres

    mask = np.zeros((40, 60), np.uint16)
    mask[10:31, 20:41] = 1  # a 21 x 21 square: deepest point at its centre (30, 20)
    starts = np.array([[0.0, 0.0], [7.0, 8.0]])
    centres = entity_centres(mask, ["1", "9"], starts)
    assert centres[0].tolist() == [30.0, 20.0]
    assert centres[1].tolist() == [7.0, 8.0]  # no such instance in the mask: its own start point
    assert np.array_equal(entity_centres(None, ["1"], starts[:1]), starts[:1])
