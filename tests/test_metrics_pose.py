"""Pose-alignment metrics against the 3D ground truth on an exactly projected synthetic rigid object: hand
cases, failure accounting (180° per failed frame, everywhere) and the non-saturating rotation measure."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.metrics.pose import (FAILED_POSE_ERROR_DEG, PoseGroundTruth, box_corners_object, failed_pose_metrics,
                                    geodesic_deg, heading_deg, pose_metrics_from_estimates)


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
                         bbox_corners_2d=project(box_corners_object(extents)),
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


def _truth(gt: PoseGroundTruth) -> tuple[np.ndarray, np.ndarray]:
    o2c = gt.object_to_camera()
    return o2c[:, :3, :3].copy(), o2c[:, :3, 3].copy()


def test_true_poses_score_zero():
    gt, _ = make_scene()
    rot, trans = _truth(gt)
    m = pose_metrics_from_estimates(rot, trans, np.ones(len(rot), bool), gt, 128, 96)
    assert m["rotation_error_deg"] < 1e-5 and m["heading_error_deg"] < 1e-5 and m["box_corner_error"] < 1e-6
    assert m["pose_fail_rate"] == 0.0 and m["pose_frames"] == 5
    assert m["rotation_error_per_frame"][0] is None  # frame 0 is the given image: not judged


def test_a_frozen_pose_scores_the_rotation_it_missed():
    gt, _ = make_scene(T=6, turn_deg=90.0)
    rot, trans = _truth(gt)
    frozen = np.repeat(rot[:1], len(rot), axis=0)
    m = pose_metrics_from_estimates(frozen, trans, np.ones(len(rot), bool), gt, 128, 96)
    # the object turns 18 degrees per frame: errors 18, 36, ..., 90 over frames 1..5
    assert m["rotation_error_deg"] == pytest.approx(54.0, abs=1e-6)
    assert m["heading_error_deg"] == pytest.approx(54.0, abs=1e-6)


def test_failed_frames_count_as_180_degrees_and_in_the_fail_rate():
    gt, _ = make_scene(T=6)
    rot, trans = _truth(gt)
    ok = np.ones(len(rot), bool)
    ok[[2, 4]] = False
    m = pose_metrics_from_estimates(rot, trans, ok, gt, 128, 96)
    assert m["rotation_error_deg"] == pytest.approx(2 * FAILED_POSE_ERROR_DEG / 5)
    assert m["heading_error_deg"] == pytest.approx(2 * FAILED_POSE_ERROR_DEG / 5)
    assert m["pose_fail_rate"] == pytest.approx(0.4)
    assert m["box_corner_error"] == pytest.approx(2 * np.hypot(128, 96) / 5)
    assert m["rotation_error_per_frame"][2] == FAILED_POSE_ERROR_DEG
    # a video that could not be scored at all counts as failed in every frame
    assert failed_pose_metrics(128, 96) == {"rotation_error_deg": 180.0, "heading_error_deg": 180.0,
                                            "box_corner_error": pytest.approx(160.0), "box_corner_error_norm": 1.0,
                                            "pose_fail_rate": 1.0}


def test_frames_with_too_few_visible_points_are_not_judged():
    gt, _ = make_scene(T=6)
    visible = gt.points_visible.copy()
    visible[3] = False
    visible[3, :5] = True  # 5 < 6 visible points
    gt = PoseGroundTruth(gt.K, gt.cam_w2c, gt.obj_to_world, gt.bbox_extents, gt.bbox_corners_2d, visible)
    rot, trans = _truth(gt)
    ok = np.ones(len(rot), bool)
    ok[3] = False
    m = pose_metrics_from_estimates(rot, trans, ok, gt, 128, 96)
    assert m["pose_frames"] == 4 and m["pose_fail_rate"] == 0.0 and m["rotation_error_per_frame"][3] is None


def test_rotation_travelled_does_not_saturate():
    gt, _ = make_scene(T=25, turn_deg=360.0)
    rot, trans = _truth(gt)
    m = pose_metrics_from_estimates(rot, trans, np.ones(len(rot), bool), gt, 128, 96)
    assert m["rotation_angle_deg"] == pytest.approx(180.0, abs=1e-6)  # the largest angle from frame 0 saturates
    assert m["rotation_travel_deg"] == pytest.approx(360.0, abs=1e-6)
