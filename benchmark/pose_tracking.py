"""Recover the object's pose in a generated video by tracking its known surface points.

Tracks of surface points do not survive large rotations (the points turn away), so tracking is
re-seeded: at the start of a segment, the ground-truth surface points visible there are projected with
the pose estimated *from the generated video so far* (frame 0: the given image's true pose) and tracked
forward; PnP with RANSAC on their known object-frame coordinates gives the pose at every frame. A point
is used at frame t only while it has *survived* since the segment start: ground-truth visible and
trusted by the tracker at every frame in between (a point that was hidden or lost once is following
something else when it comes back). A new segment starts at the first frame where fewer than
``min_surviving`` of the seeded points survive, or after ``segment_frames`` frames when that is set.
A video that does not rotate the object keeps returning unrotated poses; one that follows the ground
truth returns its poses. Only ground-truth *visibility* is used to pick points, never their positions
after frame 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.metrics.pose import MIN_PNP_POINTS, PoseGroundTruth, pnp_threshold_px, solve_pose


@dataclass(frozen=True)
class PoseTrackingConfig:
    segment_frames: int = 0  # longest tracking segment in frames; 0 = no limit (re-seed on survival only)
    max_points: int = 64  # points seeded per segment
    min_surviving: float = 0.3  # re-seed once fewer than this share of the seeded points survive


def _project(K: np.ndarray, rot: np.ndarray, trans: np.ndarray, points: np.ndarray) -> np.ndarray:
    cam = points @ rot.T + trans
    pix = cam @ K.T
    return pix[:, :2] / pix[:, 2:3]


def _seed(gt: PoseGroundTruth, frame: int, rot: np.ndarray, trans: np.ndarray, width: int, height: int,
          max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the points ground-truth visible at ``frame`` and their projections with (rot, trans),
    those inside the image, at most ``max_points`` spread evenly over the point list."""
    candidates = np.flatnonzero(gt.points_visible[frame])
    if len(candidates) == 0:
        return candidates, np.zeros((0, 2))
    seeds = _project(gt.K, rot, trans, gt.points_xyz[candidates])
    inside = ((seeds[:, 0] >= -0.5) & (seeds[:, 0] <= width - 0.5) & (seeds[:, 1] >= -0.5)
              & (seeds[:, 1] <= height - 0.5))
    candidates, seeds = candidates[inside], seeds[inside]
    if len(candidates) > max_points:
        keep = np.linspace(0, len(candidates) - 1, max_points).astype(int)
        candidates, seeds = candidates[keep], seeds[keep]
    return candidates, seeds


def track_poses(tracker, frames: np.ndarray, gt: PoseGroundTruth, config: PoseTrackingConfig
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(R, t, ok) object-to-camera per frame, estimated from ``frames`` (see the module docstring).

    ``gt.points_xyz`` / ``gt.points_visible`` are all surface points of the clip and their
    ground-truth visibility. Frames whose pose cannot be solved keep the previous estimate (for
    seeding) and are flagged ``ok = False``.
    """
    if config.segment_frames == 1 or config.segment_frames < 0:
        raise ValueError("segment_frames must be 0 (no limit) or at least 2")
    if not 0.0 <= config.min_surviving < 1.0 or config.max_points < MIN_PNP_POINTS:
        raise ValueError(f"min_surviving must be in [0, 1) and max_points at least {MIN_PNP_POINTS}: {config}")
    T, height, width = frames.shape[:3]
    longest = config.segment_frames or T
    threshold = pnp_threshold_px(width, height)
    o2c0 = gt.object_to_camera()[0]
    rot = np.tile(np.eye(3), (T, 1, 1))
    trans = np.zeros((T, 3))
    ok = np.zeros(T, dtype=bool)
    rot[0], trans[0], ok[0] = o2c0[:3, :3], o2c0[:3, 3], True
    start = 0
    while start < T - 1:
        end = min(start + longest - 1, T - 1)
        candidates, seeds = _seed(gt, start, rot[start], trans[start], width, height, config.max_points)
        surviving = np.zeros((end - start + 1, len(candidates)), dtype=bool)
        if len(candidates) >= MIN_PNP_POINTS:
            result = tracker.track(frames[start:end + 1], np.c_[np.zeros(len(seeds)), seeds].astype(np.float32))
            tracks = np.asarray(result.tracks)
            trusted = np.asarray(result.visibility, bool) & gt.points_visible[start:end + 1][:, candidates]
            surviving = np.logical_and.accumulate(trusted, axis=0)
        next_start = end
        for t in range(start + 1, end + 1):
            alive = surviving[t - start]
            pose = None
            if alive.sum() >= MIN_PNP_POINTS:
                pose = solve_pose(gt.points_xyz[candidates][alive], tracks[t - start][alive], gt.K, threshold,
                                  guess=(rot[t - 1], trans[t - 1]))
            if pose is None:
                rot[t], trans[t] = rot[t - 1], trans[t - 1]
            else:
                rot[t], trans[t], ok[t] = pose[0], pose[1], True
            if t < end and alive.sum() < config.min_surviving * len(candidates):
                next_start = t  # too few points left: re-seed from this frame's estimate
                break
        start = next_start
    return rot, trans, ok
