"""Recover the object's pose in a generated video by tracking its known surface points.

Long point tracks from frame 0 do not survive large rotations (the points turn away), so tracking is
re-seeded (optionally): the video is cut into overlapping segments of ``segment_frames`` frames; at the start of each
segment the ground-truth surface points visible there are projected with the pose estimated *from the
generated video so far* (frame 0: the given image's true pose) and tracked through the segment; PnP with
RANSAC on their known object-frame coordinates gives the pose at every frame of the segment. A video
that does not rotate the object keeps returning unrotated poses; one that follows the ground truth
returns its poses. Only ground-truth *visibility* is used to pick points, never their positions after
frame 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.metrics.pose import PoseGroundTruth, pnp_threshold_px, solve_pose


@dataclass(frozen=True)
class PoseTrackingConfig:
    segment_frames: int = 0  # frames per tracking segment; 0 = the whole clip (no re-seeding)
    max_points: int = 64


def _project(K: np.ndarray, rot: np.ndarray, trans: np.ndarray, points: np.ndarray) -> np.ndarray:
    cam = points @ rot.T + trans
    pix = cam @ K.T
    return pix[:, :2] / pix[:, 2:3]


def track_poses(tracker, frames: np.ndarray, gt: PoseGroundTruth, config: PoseTrackingConfig
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(R, t, ok) object-to-camera per frame, estimated from ``frames`` (see the module docstring).

    ``gt.points_xyz`` / ``gt.points_visible`` are all surface points of the clip and their
    ground-truth visibility. Frames whose pose cannot be solved keep the previous estimate (for
    seeding) and are flagged ``ok = False``.
    """
    if config.segment_frames == 1 or config.segment_frames < 0:
        raise ValueError("segment_frames must be 0 (whole clip) or at least 2")
    T, height, width = frames.shape[:3]
    segment = config.segment_frames or T
    threshold = pnp_threshold_px(width, height)
    o2c0 = gt.object_to_camera()[0]
    rot = np.tile(np.eye(3), (T, 1, 1))
    trans = np.zeros((T, 3))
    ok = np.zeros(T, dtype=bool)
    rot[0], trans[0], ok[0] = o2c0[:3, :3], o2c0[:3, 3], True
    start = 0
    while start < T - 1:
        end = min(start + segment - 1, T - 1)
        candidates = np.flatnonzero(gt.points_visible[start])
        if len(candidates) > config.max_points:
            candidates = candidates[np.linspace(0, len(candidates) - 1, config.max_points).astype(int)]
        seeds = _project(gt.K, rot[start], trans[start], gt.points_xyz[candidates]) if len(candidates) else np.zeros((0, 2))
        inside = (seeds[:, 0] >= -0.5) & (seeds[:, 0] <= width - 0.5) & (seeds[:, 1] >= -0.5) & (seeds[:, 1] <= height - 0.5)
        candidates, seeds = candidates[inside], seeds[inside]
        result = None
        if len(candidates) >= 6:
            queries = np.c_[np.zeros(len(seeds)), seeds].astype(np.float32)
            result = tracker.track(frames[start:end + 1], queries)
        for t in range(start + 1, end + 1):
            pose = None
            if result is not None:
                sel = np.asarray(result.visibility[t - start], bool) & gt.points_visible[t, candidates]
                pose = solve_pose(gt.points_xyz[candidates][sel], np.asarray(result.tracks[t - start])[sel], gt.K,
                                  threshold, guess=(rot[t - 1], trans[t - 1]))
            if pose is None:
                rot[t], trans[t] = rot[t - 1], trans[t - 1]
            else:
                rot[t], trans[t], ok[t] = pose[0], pose[1], True
        start = end
    return rot, trans, ok
