"""Pose-alignment metrics: the object's 3D pose recovered from a video against the true 3D pose.

The per-frame object-to-camera poses come from :mod:`benchmark.pose_tracking` (the mesh fitted to every
frame). They are compared with the ground truth ``cam_w2c · obj_to_world``: geodesic rotation error,
heading error of the object's +X on the floor plane, and the error of the 3D box projected with the
recovered pose against the ground-truth projected box. A frame whose pose could not be recovered counts
as 180° (rotation, heading) and one image diagonal (box), in every mean and in ``pose_fail_rate``.
Definitions are in docs/benchmark.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_PNP_POINTS = 6
FAILED_POSE_ERROR_DEG = 180.0


@dataclass(frozen=True)
class PoseGroundTruth:
    """The ground-truth arrays the pose metrics need (names as in annotations.npz)."""

    K: np.ndarray  # (3, 3)
    cam_w2c: np.ndarray  # (T, 4, 4)
    obj_to_world: np.ndarray  # (T, 4, 4)
    bbox_extents: np.ndarray  # (3,)
    bbox_corners_2d: np.ndarray  # (T, 8, 2)
    points_visible: np.ndarray  # (T, M) ground-truth visibility of the clip's surface points (judged frames)

    def object_to_camera(self) -> np.ndarray:
        return np.einsum("tij,tjk->tik", self.cam_w2c, self.obj_to_world)


def box_corners_object(extents: np.ndarray) -> np.ndarray:
    """(8, 3) corners of the object-frame box in the corner order of docs/conventions.md."""
    half = np.asarray(extents, dtype=np.float64) / 2.0
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64)
    return signs * half


def rigid_inverse(transforms: np.ndarray) -> np.ndarray:
    """Inverse of rigid 4×4 transforms (batched): [Rᵀ, −Rᵀt]."""
    out = np.zeros_like(transforms)
    rot_t = np.swapaxes(transforms[..., :3, :3], -1, -2)
    out[..., :3, :3] = rot_t
    out[..., :3, 3] = -np.einsum("...ij,...j->...i", rot_t, transforms[..., :3, 3])
    out[..., 3, 3] = 1.0
    return out


def geodesic_deg(ra: np.ndarray, rb: np.ndarray) -> np.ndarray:
    """Angle in degrees of the rotation taking ``rb`` to ``ra`` (batched over leading axes)."""
    rel = np.einsum("...ji,...jk->...ik", ra, rb)
    cos = (np.trace(rel, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def heading_deg(r_obj_to_world: np.ndarray) -> np.ndarray:
    """Heading of the object's +X axis on the floor plane, degrees (atan2 of its world x, y)."""
    return np.degrees(np.arctan2(r_obj_to_world[..., 1, 0], r_obj_to_world[..., 0, 0]))


def wrapped_abs_deg(a: np.ndarray) -> np.ndarray:
    return np.abs((np.asarray(a) + 180.0) % 360.0 - 180.0)


def solve_pose(points_xyz: np.ndarray, image_points: np.ndarray, K: np.ndarray, reproj_px: float,
               guess: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """Object-to-camera (R, t) from 2D-3D matches by ``cv2.solvePnPRansac`` + LM refinement on the
    inliers, started from ``guess`` when given; None when fewer than 6 inliers or behind the camera."""
    import cv2

    if len(points_xyz) < MIN_PNP_POINTS:
        return None
    obj = np.ascontiguousarray(points_xyz, dtype=np.float64)
    img = np.ascontiguousarray(image_points, dtype=np.float64)
    cv2.setRNGSeed(0)  # RANSAC draws from OpenCV's thread RNG: same inputs, same pose, whatever ran before
    if guess is None:
        success, rvec, tvec, inliers = cv2.solvePnPRansac(
            obj, img, K, None, reprojectionError=reproj_px, iterationsCount=200, confidence=0.999,
            flags=cv2.SOLVEPNP_EPNP)
    else:
        rvec0 = cv2.Rodrigues(np.ascontiguousarray(guess[0]))[0]
        tvec0 = np.asarray(guess[1], dtype=np.float64).reshape(3, 1).copy()
        success, rvec, tvec, inliers = cv2.solvePnPRansac(
            obj, img, K, None, rvec=rvec0, tvec=tvec0, useExtrinsicGuess=True, reprojectionError=reproj_px,
            iterationsCount=200, confidence=0.999, flags=cv2.SOLVEPNP_ITERATIVE)
    if not success or inliers is None or len(inliers) < MIN_PNP_POINTS:
        return None
    idx = inliers[:, 0]
    rvec, tvec = cv2.solvePnPRefineLM(obj[idx], img[idx], K, None, rvec, tvec)
    if tvec[2, 0] <= 0:
        return None
    return cv2.Rodrigues(rvec)[0], tvec[:, 0]


def pnp_threshold_px(width: int, height: int) -> float:
    """RANSAC inlier threshold: 2% of the image diagonal, at least 2 px."""
    return max(2.0, 0.02 * float(np.hypot(width, height)))


def rotation_angle_deg(gt: PoseGroundTruth) -> float:
    """Largest rotation of the object relative to the camera away from frame 0, degrees."""
    r = gt.object_to_camera()[:, :3, :3]
    return float(geodesic_deg(r, r[:1]).max())


def project_box(gt: PoseGroundTruth, rot: np.ndarray, trans: np.ndarray) -> np.ndarray:
    """(T, 8, 2) box corners projected with per-frame object-to-camera poses."""
    cam = np.einsum("tij,kj->tki", rot, box_corners_object(gt.bbox_extents)) + trans[:, None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        proj = np.einsum("ij,tkj->tki", gt.K, cam)
        return proj[..., :2] / proj[..., 2:3]


def rotation_travel_deg(gt: PoseGroundTruth) -> float:
    """Total rotation travelled by the object relative to the camera: the sum of the frame-to-frame
    geodesic angles, degrees (does not saturate at 180° as :func:`rotation_angle_deg` does)."""
    r = gt.object_to_camera()[:, :3, :3]
    return float(geodesic_deg(r[1:], r[:-1]).sum())


def judged_frames(gt: PoseGroundTruth) -> np.ndarray:
    """(T,) bool: frames 1..T-1 in which at least 6 of the clip's surface points are visible."""
    judged = gt.points_visible.sum(axis=1) >= MIN_PNP_POINTS
    judged[0] = False
    return judged


POSE_METRIC_KEYS = ("rotation_error_deg", "heading_error_deg", "box_corner_error", "box_corner_error_norm",
                    "pose_fail_rate")


def failed_pose_metrics(width: int, height: int) -> dict[str, float]:
    """The pose metrics of a video in which no frame's pose was recovered (or that could not be scored)."""
    diag = float(np.hypot(width, height))
    return dict(zip(POSE_METRIC_KEYS, (FAILED_POSE_ERROR_DEG, FAILED_POSE_ERROR_DEG, diag, 1.0, 1.0)))


def pose_metrics_from_estimates(rot: np.ndarray, trans: np.ndarray, ok: np.ndarray, gt: PoseGroundTruth,
                                width: int, height: int) -> dict:
    """Pose-alignment metrics of one video from its recovered object-to-camera poses (R, t, ok per frame),
    against the 3D ground truth, over :func:`judged_frames`. Frames with ``ok`` False count as 180°
    rotation and heading errors and as box errors of one image diagonal; ``pose_fail_rate`` is their
    share. Frame 0, the given image, is not judged."""
    diag = float(np.hypot(width, height))
    o2c = gt.object_to_camera()
    judged = judged_frames(gt)
    c2w = rigid_inverse(gt.cam_w2c)
    rot_err = np.where(ok, geodesic_deg(rot, o2c[:, :3, :3]), FAILED_POSE_ERROR_DEG)
    head_err = np.where(ok, wrapped_abs_deg(heading_deg(c2w[:, :3, :3] @ rot) - heading_deg(gt.obj_to_world[:, :3, :3])),
                        FAILED_POSE_ERROR_DEG)
    corners = np.sqrt(((project_box(gt, rot, trans) - gt.bbox_corners_2d) ** 2).sum(-1)).mean(-1)
    corner_err = np.where(ok & np.isfinite(corners), corners, diag)
    out: dict[str, object] = {
        "rotation_angle_deg": rotation_angle_deg(gt),
        "rotation_travel_deg": rotation_travel_deg(gt),
        "pose_frames": int(judged.sum()),
        "rotation_error_per_frame": [float(e) if j else None for e, j in zip(rot_err, judged)],
    }
    if not judged.any():
        out.update({k: None for k in POSE_METRIC_KEYS})
        return out
    values = (rot_err[judged].mean(), head_err[judged].mean(), corner_err[judged].mean(),
              corner_err[judged].mean() / diag, 1.0 - ok[judged].mean())
    out.update({k: float(v) for k, v in zip(POSE_METRIC_KEYS, values)})
    return out
