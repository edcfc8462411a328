"""Pose recovery by tracking surface points (benchmark/pose_tracking.py): survival and re-seeding rules,
with scripted trackers on an exactly projected synthetic rigid object."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.metrics.pose import PoseGroundTruth, box_corners_object, geodesic_deg
from benchmark.pose_tracking import PoseTrackingConfig, track_poses
from benchmark.trackers.base import TrackResult

WIDTH, HEIGHT = 128, 96


def make_scene(T: int, turn_deg: float = 90.0) -> tuple[PoseGroundTruth, np.ndarray]:
    """60 points in a box spinning about z by ``turn_deg`` in total, seen by a fixed camera from (0, -4, 2)."""
    rng = np.random.default_rng(1)
    extents = np.array([1.0, 0.6, 0.4])
    points = rng.uniform(-0.5, 0.5, (60, 3)) * extents
    K = np.array([[120.0, 0, 63.5], [0, 120.0, 47.5], [0, 0, 1]])
    eye = np.array([0.0, -4.0, 2.0])
    z = -eye / np.linalg.norm(eye)
    x = np.cross(z, [0, 0, 1.0])
    x /= np.linalg.norm(x)
    w2c = np.eye(4)
    w2c[:3, :3] = np.stack([x, np.cross(z, x), z])
    w2c[:3, 3] = -w2c[:3, :3] @ eye
    o2w = np.tile(np.eye(4), (T, 1, 1))
    for t in range(T):
        a = np.radians(turn_deg * t / (T - 1))
        o2w[t, :3, :3] = [[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]]
        o2w[t, :3, 3] = [0.3 * t / (T - 1), 0, 0.2]
    cam = np.tile(w2c, (T, 1, 1))

    def project(p: np.ndarray) -> np.ndarray:
        c = np.einsum("tij,tjk,nk->tni", cam, o2w, np.c_[p, np.ones(len(p))])[..., :3] @ K.T
        return c[..., :2] / c[..., 2:]

    gt = PoseGroundTruth(K=K, cam_w2c=cam, obj_to_world=o2w, bbox_extents=extents,
                         bbox_corners_2d=project(box_corners_object(extents)), points_xyz=points,
                         points_visible=np.ones((T, len(points)), bool))
    return gt, project(points)


class ScriptedTracker:
    """Returns the exact projections of the surface points under the queries (matched at the query frame),
    except that points in ``lost`` are untrusted at frame ``lost_at`` and report garbage, trusted, afterwards."""

    def __init__(self, projections: np.ndarray, lost: np.ndarray | None = None, lost_at: int = 0) -> None:
        self.projections, self.lost, self.lost_at = projections, lost, lost_at
        self.calls: list[int] = []  # absolute start frame of every call

    def track(self, video: np.ndarray, queries: np.ndarray) -> TrackResult:
        start = int(video[0, 0, 0, 0])  # the test video stores its frame index in pixel (0, 0)
        self.calls.append(start)
        n = len(video)
        dist = np.linalg.norm(self.projections[start][None] - queries[:, None, 1:], axis=-1)
        index = dist.argmin(axis=1)
        tracks = self.projections[start:start + n][:, index].copy()
        visible = np.ones(tracks.shape[:2], bool)
        if self.lost is not None and start < self.lost_at:  # fresh seeds after the loss are fine
            gone = np.isin(index, self.lost)
            for t in range(n):
                frame = start + t
                if frame == self.lost_at:
                    visible[t, gone] = False
                elif frame > self.lost_at:
                    tracks[t, gone] += 25.0  # following something else, and "trusted" again
        return TrackResult(tracks=tracks.astype(np.float32), visibility=visible)


def _video(T: int) -> np.ndarray:
    video = np.zeros((T, HEIGHT, WIDTH, 3), np.uint8)
    video[:, 0, 0, 0] = np.arange(T)
    return video


def test_exact_tracks_recover_the_true_poses_in_one_segment():
    gt, projections = make_scene(T=8, turn_deg=120.0)
    tracker = ScriptedTracker(projections)
    rot, trans, ok = track_poses(tracker, _video(8), gt, PoseTrackingConfig())
    truth = gt.object_to_camera()
    assert ok.all() and tracker.calls == [0]
    assert geodesic_deg(rot, truth[:, :3, :3]).max() < 0.1
    np.testing.assert_allclose(trans, truth[:, :3, 3], atol=1e-3)


def test_a_point_lost_once_never_enters_pnp_again():
    gt, projections = make_scene(T=8, turn_deg=120.0)
    lost = np.arange(60)[np.arange(60) % 5 < 3]  # 60% of the points: lost at frame 3, then off by 25 px but "trusted"
    tracker = ScriptedTracker(projections, lost=lost, lost_at=3)
    rot, _, ok = track_poses(tracker, _video(8), gt, PoseTrackingConfig())
    assert ok.all() and tracker.calls == [0]  # 40% survive: no re-seeding
    assert geodesic_deg(rot, gt.object_to_camera()[:, :3, :3]).max() < 0.1


def test_reseeds_when_too_few_points_survive():
    gt, projections = make_scene(T=8, turn_deg=120.0)
    lost = np.arange(60)[np.arange(60) % 5 != 0]  # 80% lost at frame 4: re-seed there
    tracker = ScriptedTracker(projections, lost=lost, lost_at=4)
    rot, _, ok = track_poses(tracker, _video(8), gt, PoseTrackingConfig(min_surviving=0.3))
    assert tracker.calls == [0, 4]
    assert ok.all()
    assert geodesic_deg(rot, gt.object_to_camera()[:, :3, :3]).max() < 0.1
    # with a cap on the segment length, segments overlap by one frame
    capped = ScriptedTracker(projections)
    track_poses(capped, _video(8), gt, PoseTrackingConfig(segment_frames=3))
    assert capped.calls == [0, 2, 4, 6]


def test_invalid_settings_are_refused():
    gt, projections = make_scene(T=4)
    for config in (PoseTrackingConfig(segment_frames=1), PoseTrackingConfig(min_surviving=1.0),
                   PoseTrackingConfig(max_points=3)):
        with pytest.raises(ValueError):
            track_poses(ScriptedTracker(projections), _video(4), gt, config)
