"""Trajectory file readers: clip format, traj.npy, DragAnything JSON (incl. real VIPSeg CoTracker tracks)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from common.trajectories import hide_outliers, load_trajectories
from posetraj.conditioning import encode_trajectories


def _write_clip(root, with_meta=True):
    root.mkdir()
    T, N = 5, 3
    center = np.stack([np.linspace(10, 50, T), np.full(T, 20.0)], axis=1)
    tracks = np.random.default_rng(0).uniform(0, 60, (T, N, 2)).astype(np.float32)
    visible = np.ones((T, N), bool)
    visible[2, 1] = False
    np.savez(root / "annotations.npz", schema_version=np.int64(1), center_2d=center, ground_2d=center + 5,
             center_visible=np.zeros(T, bool), tracks_2d=tracks, tracks_visible=visible,
             depth=np.zeros((T, 48, 64), np.float32))
    if with_meta:
        (root / "meta.json").write_text(json.dumps({"schema_version": 1, "width": 64, "height": 48}))
    return center, tracks, visible


def test_clip_directory_and_npz(tmp_path):
    center, tracks, visible = _write_clip(tmp_path / "clip")
    traj = load_trajectories(tmp_path / "clip")
    assert traj.size == (64, 48) and traj.points.shape == (1, 5, 2)
    np.testing.assert_array_equal(traj.points[0], center)
    assert traj.visible.all()  # center_visible is not used for conditioning
    traj = load_trajectories(tmp_path / "clip" / "annotations.npz", clip_key="tracks_2d")
    np.testing.assert_allclose(traj.frame_major(), tracks)
    np.testing.assert_array_equal(traj.visible.T, visible)
    ground = load_trajectories(tmp_path / "clip", clip_key="ground_2d")
    np.testing.assert_array_equal(ground.points[0], center + 5)


def test_npz_without_meta_uses_the_depth_size(tmp_path):
    _write_clip(tmp_path / "clip", with_meta=False)
    assert load_trajectories(tmp_path / "clip" / "annotations.npz").size == (64, 48)


def test_npy_layouts(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((7, 2)))
    np.save(tmp_path / "b.npy", np.zeros((7, 4, 2)))
    assert load_trajectories(tmp_path / "a.npy", native_size=(720, 480)).points.shape == (1, 7, 2)
    b = load_trajectories(tmp_path / "b.npy", native_size=(720, 480))
    assert b.points.shape == (4, 7, 2) and b.size == (720, 480)
    with pytest.raises(ValueError, match="native_size"):
        load_trajectories(tmp_path / "a.npy")
    np.save(tmp_path / "c.npy", np.zeros((7, 3)))
    with pytest.raises(ValueError, match=r"\(T, 2\)"):
        load_trajectories(tmp_path / "c.npy", native_size=(10, 10))


def test_drag_json(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"10": [[1, 2], [3, 4]], "2": [[5, 6], [7, 8]]}))
    traj = load_trajectories(path, native_size=(100, 50))
    np.testing.assert_array_equal(traj.points[0], [[5, 6], [7, 8]])  # ids in numeric order
    path.write_text(json.dumps({"1": [[1, 2]], "2": [[5, 6], [7, 8]]}))
    with pytest.raises(ValueError, match="different lengths"):
        load_trajectories(path, native_size=(100, 50))
    path.write_text("[1, 2")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_trajectories(path, native_size=(100, 50))


def test_unknown_inputs(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_trajectories(tmp_path / "missing.json", native_size=(1, 1))
    (tmp_path / "x.txt").write_text("1")
    with pytest.raises(ValueError, match="unknown trajectory format"):
        load_trajectories(tmp_path / "x.txt", native_size=(1, 1))


def test_real_vipseg_cotracker_tracks_with_outliers(shared_data):
    """691_Licrf2MwB-k: 46 frames, 9 CoTracker tracks; 25 points lie more than 1000 px outside the 720p frame."""
    path = shared_data / "vipseg_cotracker_tracks" / "691_Licrf2MwB-k.json"
    traj = load_trajectories(path, native_size=(1280, 720), outliers="keep")
    assert traj.num_points >= 2 and traj.num_frames >= 14
    far = (np.abs(traj.points[..., 0] - 640) > 1000) | (np.abs(traj.points[..., 1] - 360) > 1000)
    assert far.any(), "this file is chosen for its tracker outliers"
    cleaned, dropped = hide_outliers(traj, margin=0.1)
    assert dropped == int(far.sum()) + int((~far & ~cleaned.visible).sum())
    assert not cleaned.visible[far].any()
    cond, dropped_scaled = encode_trajectories(traj, 14, 128, 72)
    assert cond.shape == (14, 3, 72, 128) and np.isfinite(cond).all()
    assert cond[:13].max() > 0.0 and cond[13].max() == -1.0
