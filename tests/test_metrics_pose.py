"""Pose-alignment metrics on an exactly projected synthetic rigid object."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.metrics.pose import PoseGroundTruth, box_corners_object, geodesic_deg, heading_deg, pose_metrics


def rot_z(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1.0]])


def make_scene(T: int = 6, turn_deg: float = 90.0):
    """A box spinning about z by ``turn_deg`` in total, seen by a fixed OpenCV camera."""
    rng = np.random.default_rng(1)
    extents = np.array([1.0, 0.6, 0.4])
    pts = rng.uniform(-0.5, 0.5, (60, 3)) * extents
    K = np.array([[120.0, 0, 63.5], [0, 120.0, 47.5], [0, 0, 1]])
    # camera at (0, -4, 2) looking at the origin
    eye, target = np.array([0.0, -4.0, 2.0]), np.zeros(3)
    z = (target - eye) / np.linalg.norm(target - eye)
    x = np.cross(z, [0, 0, 1.0]); x /= np.linalg.norm(x)
    y = np.cross(z, x)
    w2c = np.eye(4); w2c[:3, :3] = np.stack([x, y, z]); w2c[:3, 3] = -w2c[:3, :3] @ eye
    cam = np.tile(w2c, (T, 1, 1))
    o2w = np.tile(np.eye(4), (T, 1, 1))
    for t in range(T):
        o2w[t, :3, :3] = rot_z(turn_deg * t / (T - 1))
        o2w[t, :3, 3] = [0.3 * t / (T - 1), 0, 0.2]

    def project(points_obj: np.ndarray) -> np.ndarray:
        out = []
        for t in range(T):
            c = (cam[t] @ o2w[t] @ np.c_[points_obj, np.ones(len(points_obj))].T)[:3].T
            p = (K @ c.T).T
            out.append(p[:, :2] / p[:, 2:])
        return np.stack(out)

    gt = PoseGroundTruth(K=K, cam_w2c=cam, obj_to_world=o2w, bbox_extents=extents,
                         bbox_corners_2d=project(box_corners_object(extents)), points_xyz=pts,
                         points_visible=np.ones((T, len(pts)), bool))
    return gt, project(pts)


def test_geodesic_and_heading_hand_cases():
    assert geodesic_deg(rot_z(30), np.eye(3)) == pytest.approx(30.0)
    assert geodesic_deg(rot_z(-170), rot_z(170)) == pytest.approx(20.0)
    assert heading_deg(rot_z(45)) == pytest.approx(45.0)


def test_box_corner_order_follows_conventions():
    c = box_corners_object(np.array([2.0, 4.0, 6.0]))
    assert c[0].tolist() == [-1, -2, -3] and c[7].tolist() == [1, 2, 3]
    assert c[4].tolist() == [1, -2, -3] and c[1].tolist() == [-1, -2, 3]


def test_exact_tracks_give_near_zero_pose_error():
    gt, tracks = make_scene()
    m = pose_metrics(tracks, np.ones(tracks.shape[:2], bool), gt, 128, 96)
    assert m["rotation_error_deg"] < 0.5
    assert m["heading_error_deg"] < 0.5
    assert m["box_corner_error"] < 0.2
    assert m["pose_fail_rate"] == 0.0
    assert m["rotation_angle_deg"] == pytest.approx(90.0)
    assert m["pose_frames"] == 5 and m["rotation_error_per_frame"][0] is None


def test_frozen_tracks_report_the_missed_rotation():
    gt, tracks = make_scene(T=5, turn_deg=80.0)
    frozen = np.repeat(tracks[:1], len(tracks), axis=0)
    m = pose_metrics(frozen, np.ones(tracks.shape[:2], bool), gt, 128, 96)
    # per-frame GT rotation 20, 40, 60, 80 deg; the frozen object keeps its frame-0 pose
    assert m["rotation_error_deg"] == pytest.approx(50.0, abs=1.0)
    assert m["heading_error_deg"] == pytest.approx(50.0, abs=1.0)


def test_untrackable_frames_count_as_failures():
    gt, tracks = make_scene(T=4)
    visible = np.ones(tracks.shape[:2], bool)
    visible[2:, 3:] = False  # only 3 points left: PnP impossible
    m = pose_metrics(tracks, visible, gt, 128, 96)
    assert m["pose_fail_rate"] == pytest.approx(2 / 3)
    assert m["rotation_error_deg"] == pytest.approx((0 + 180 + 180) / 3, abs=0.5)


def test_reference_relative_errors_and_absolute_diagnostics():
    from benchmark.metrics.pose import estimate_poses, pose_metrics_from_estimates

    gt, tracks = make_scene(T=5, turn_deg=80.0)
    visible = np.ones(tracks.shape[:2], bool)
    truth = estimate_poses(gt.points_xyz, tracks, visible, gt.K, 2.0)
    frozen = estimate_poses(gt.points_xyz, np.repeat(tracks[:1], 5, axis=0), visible, gt.K, 2.0)
    same = pose_metrics_from_estimates(*truth, gt, 128, 96, reference=truth)
    assert same["rotation_error_deg"] == pytest.approx(0.0, abs=1e-4)
    assert same["box_corner_error"] == pytest.approx(0.0, abs=1e-4)
    assert same["pose_reference"] == "tracked_ground_truth_video"
    assert same["rotation_error_abs_deg"] < 0.5
    off = pose_metrics_from_estimates(*frozen, gt, 128, 96, reference=truth)
    assert off["rotation_error_deg"] == pytest.approx(50.0, abs=1.0)
    assert off["rotation_error_abs_deg"] == pytest.approx(50.0, abs=1.0)
    failed_ref = (truth[0], truth[1], np.array([True, True, False, False, False]))
    partial = pose_metrics_from_estimates(*frozen, gt, 128, 96, reference=failed_ref)
    assert partial["pose_frames"] == 1  # frames whose reference pose failed are not judged
