"""Scoring one sample: generate (or reuse) its video, validate it, track it and compute every metric.

:class:`Scorer` holds one model, one tracker and the shared content-addressed cache; the harness
(:mod:`benchmark.harness`) runs it over a suite, in this process or in workers (:mod:`benchmark.workers`).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from benchmark.cache import ArrayCache, array_sha256, content_key
from benchmark.models import GenerationError, Model, resolve_model
from benchmark.pose_tracking import PoseInputs, PoseTrackingConfig
from benchmark.suite import Sample, Suite, SuiteError, load_suite
from benchmark.video_check import InvalidVideoError, validate_video
from common.clip_format import ClipFormatError
from common.trajectories import TrajectoryFormatError
from common.video import VideoDecodeError

OBJMC_PROTOCOLS = ("direct", "draganything")


@dataclass
class Timing:
    generate_s: float = 0.0  # the model (for baselines: reading / composing frames)
    track_s: float = 0.0  # the tracker's track() calls
    reference_s: float = 0.0  # decoding ground-truth videos
    fidelity_s: float = 0.0  # PSNR, SSIM, LPIPS
    pose_s: float = 0.0  # pose recovery around the tracker's calls (PnP with RANSAC, seeding)


class _TimedTracker:
    """Forwards to a tracker and adds the time of its ``track`` calls to a :class:`Timing`."""

    def __init__(self, tracker, timing: Timing) -> None:
        self.tracker, self.timing = tracker, timing
        self.independent_queries = getattr(tracker, "independent_queries", False)

    def describe(self) -> dict:
        return self.tracker.describe()

    def track(self, video: np.ndarray, queries: np.ndarray):
        tick = time.perf_counter()
        try:
            return self.tracker.track(video, queries)
        finally:
            self.timing.track_s += time.perf_counter() - tick


class Scorer:
    """Scores samples of one suite for one model with one tracker, using a shared cache."""

    def __init__(self, suite: Suite, model: Model, tracker, cache: ArrayCache, lpips_model=None,
                 pose_config: PoseTrackingConfig | None = None, regenerate: bool = False,
                 objmc_grid: int = 0, objmc_protocol: str = "direct") -> None:
        if objmc_protocol not in OBJMC_PROTOCOLS:
            raise ValueError(f"unknown ObjMC protocol {objmc_protocol!r}; choose one of {', '.join(OBJMC_PROTOCOLS)}")
        if objmc_protocol == "draganything" and objmc_grid:
            raise ValueError("the draganything ObjMC protocol tracks its own 100 x 100 grid: leave --objmc-grid unset")
        self.regenerate, self.objmc_grid, self.objmc_protocol = regenerate, objmc_grid, objmc_protocol
        self.timing = Timing()
        self.suite, self.model, self.cache = suite, model, cache
        self.tracker = _TimedTracker(tracker, self.timing)
        self.pose_config = pose_config or PoseTrackingConfig()
        self.tracker_info = tracker.describe()
        self.lpips_model = lpips_model

    def video(self, sample: Sample) -> tuple[np.ndarray, list[int] | None, str | None]:
        """The validated generated video (and its cache key), from the cache when this model already
        made it; pre-generated folders are read and validated every time (their files are the cache)."""
        key = content_key("video", self.model.cache_key, sample.content_hash, sample.num_frames, sample.fps)
        if self.model.needs_cache and not self.regenerate and (hit := self.cache.get("videos", key)) is not None:
            resized = hit["resized_from"].tolist()
            return hit["frames"], (resized or None), key
        tick = time.perf_counter()
        try:
            raw = self.model.generate_for(sample)
        except (GenerationError, InvalidVideoError, SuiteError, TrajectoryFormatError) as exc:
            raise GenerationError(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - a model's own failure is reported per sample
            if isinstance(exc, (ClipFormatError, VideoDecodeError)):
                raise GenerationError(f"sample {sample.id}: {exc}") from None
            raise GenerationError(f"sample {sample.id}: model raised {type(exc).__name__}: {exc}") from None
        finally:
            self.timing.generate_s += time.perf_counter() - tick
        frames, resized = validate_video(raw, sample.id, sample.num_frames, sample.width, sample.height)
        if not self.model.needs_cache:
            return frames, resized, None
        self.cache.put("videos", key, frames=frames, resized_from=np.asarray(resized or [], dtype=np.int64))
        return frames, resized, key

    def tracks(self, frames: np.ndarray, frames_sha: str, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
        """Tracks of ``queries`` in ``frames`` (whose :func:`array_sha256` is ``frames_sha``), cached."""
        key = content_key("tracks", frames_sha, self.tracker_info, array_sha256(queries))
        if (hit := self.cache.get("tracks", key)) is not None:
            return hit["tracks"], hit["visibility"], key
        result = self.tracker.track(frames, queries)
        tracks = np.asarray(result.tracks, dtype=np.float64)
        visibility = np.asarray(result.visibility, dtype=bool)
        if tracks.shape != (len(frames), len(queries), 2) or visibility.shape != tracks.shape[:2]:
            raise RuntimeError(f"tracker returned tracks {tracks.shape} / visibility {visibility.shape} for "
                               f"{len(frames)} frames and {len(queries)} queries")
        self.cache.put("tracks", key, tracks=tracks, visibility=visibility)
        return tracks, visibility, key

    def score(self, sample: Sample) -> tuple[dict, np.ndarray | None, np.ndarray | None]:
        """One results row (status 'ok' or 'error'), plus the video and reference for suite-level metrics."""
        try:
            return self._score(sample)
        finally:
            sample.release()

    def _score(self, sample: Sample) -> tuple[dict, np.ndarray | None, np.ndarray | None]:
        row = sample_row(sample)
        try:
            frames, resized, video_key = self.video(sample)
        except (GenerationError, InvalidVideoError) as exc:
            return sample_row(sample, str(exc)), None, None
        row["resized_from"] = json.dumps(resized) if resized else None
        # each video is hashed once per sample; the hashes key the track, pose and image-metric caches
        row["video_sha256"] = video_sha = array_sha256(frames)
        row["video_key"] = video_key
        tick = time.perf_counter()
        reference = sample.reference_frames()
        self.timing.reference_s += time.perf_counter() - tick
        reference_sha = None
        if reference is not None:
            reference_sha = video_sha if reference is frames else array_sha256(reference)
        self._score_video(sample, (frames, video_sha), (reference, reference_sha), row)
        if reference is not None:
            tick = time.perf_counter()
            row.update(self.image_metrics(frames, video_sha, reference, reference_sha))
            if self.lpips_model is not None:
                from benchmark.metrics.lpips import lpips_video

                row["lpips"] = lpips_video(self.lpips_model, frames, reference)
            self.timing.fidelity_s += time.perf_counter() - tick
        return row, frames, reference

    def _score_video(self, sample: Sample, video: tuple[np.ndarray, str],
                     reference_video: tuple[np.ndarray | None, str | None], row: dict) -> None:
        """Trajectory metrics against the reference trajectory, pose metrics against the 3D ground truth.

        As in the field's protocol, the reference trajectory is the same tracker run from the same
        queries on the ground-truth video when one exists (tracker bias cancels, the oracle scores 0);
        otherwise it is the conditioning trajectory. ``conditioning_objmc`` always compares with the
        conditioning trajectory itself. ``video`` and ``reference_video`` are (frames, sha256) pairs.
        """
        from benchmark.metrics.trajectory import trajectory_metrics

        (frames, frames_sha), (reference, reference_sha) = video, reference_video
        cond = sample.trajectories.points[:, : sample.num_frames]  # (N, T, 2)
        queries, select = self.trajectory_queries(sample, cond)
        tracks, _, key = self.tracks(frames, frames_sha, queries)
        row["tracks_key"] = key
        pred = select(tracks)
        if reference is not None:
            target = select(self.tracks(reference, reference_sha, queries)[0])
            row["reference_trajectory"] = "tracked_ground_truth_video"
        else:
            target = cond
            row["reference_trajectory"] = "conditioning"
        row.update(trajectory_metrics(target, pred, sample.width, sample.height))
        vs_cond = trajectory_metrics(cond, pred, sample.width, sample.height)
        row["conditioning_objmc"] = vs_cond["objmc"]
        row["conditioning_ade"] = vs_cond["ade"]
        row["tracked_trajectories"] = json.dumps(
            {i: np.round(p, 2).tolist() for i, p in zip(sample.trajectories.ids, pred)})
        if sample.clip() is not None:
            row.update(self.pose_metrics(sample, frames, frames_sha))

    def trajectory_queries(self, sample: Sample, cond: np.ndarray):
        """Frame-0 queries to track and a function taking their tracks (T, Q, 2) to one (N, T, 2) trajectory
        per conditioning trajectory, for the run's ObjMC protocol (docs/benchmark.md):

        * ``direct``: the conditioning trajectories' start points themselves;
        * ``--objmc-grid N``: an N x N grid as CoTracker lays it out, each trajectory taking the grid point
          nearest to its start (the same grid track in every video);
        * ``draganything``: DragAnything's protocol: a 100 x 100 grid, and in *each video* the grid track
          whose tracked frame-0 position is nearest to the entity's centre (the deepest interior point of
          its frame-0 mask where the suite has masks, else the conditioning start).
        """
        from benchmark.metrics.trajectory import (DRAGANYTHING_GRID, entity_centres, field_grid,
                                                  nearest_grid_tracks)
        from benchmark.trackers.base import frame0_queries

        if self.objmc_protocol == "draganything":
            grid = field_grid(sample.width, sample.height, DRAGANYTHING_GRID)
            mask0 = sample.ground_truth("mask")["mask"][0] if sample.clip() is not None else None
            centres = entity_centres(mask0, sample.trajectories.ids, cond[:, 0])
            if self.tracker.independent_queries:
                # a tracker that follows each point on its own returns every query at its own frame-0
                # position, so only grid points near a centre can be chosen: track just those
                near = np.argsort(((grid[None] - centres[:, None]) ** 2).sum(-1), axis=1)[:, :4]
                grid = grid[np.unique(near)]
            return frame0_queries(grid), \
                lambda tracks: tracks[:, nearest_grid_tracks(tracks[0], centres)].transpose(1, 0, 2)
        if self.objmc_grid:
            points = field_grid(sample.width, sample.height, self.objmc_grid)
            index = nearest_grid_tracks(points, cond[:, 0])
            if self.tracker.independent_queries:
                # the other grid tracks cannot change the kept ones: track only those
                kept, index = np.unique(index, return_inverse=True)
                points = points[kept]
        else:
            points, index = cond[:, 0], np.arange(len(cond))
        return frame0_queries(points), lambda tracks: tracks[:, index].transpose(1, 0, 2)

    def pose_metrics(self, sample: Sample, frames: np.ndarray, frames_sha: str) -> dict:
        """Pose-alignment metrics of ``frames`` against the sample's 3D ground truth. The poses are
        recovered from what the suite knows before generation (frame-0 pose and mask, intrinsics, the
        object's mesh); the ground truth of later frames is only used to score them."""
        from benchmark.metrics.pose import PoseGroundTruth, pose_metrics_from_estimates

        ann = sample.ground_truth(*POSE_INPUT_KEYS, "bbox_extents", "bbox_corners_2d", "tracks_visible")
        rot, trans, ok = self.poses(sample, frames, frames_sha, pose_inputs(sample, ann))
        gt = PoseGroundTruth(K=ann["K"], cam_w2c=ann["cam_w2c"], obj_to_world=ann["obj_to_world"],
                             bbox_extents=ann["bbox_extents"], bbox_corners_2d=ann["bbox_corners_2d"],
                             points_visible=ann["tracks_visible"])
        return pose_metrics_from_estimates(rot, trans, ok, gt, sample.width, sample.height)

    def image_metrics(self, frames: np.ndarray, frames_sha: str, reference: np.ndarray, reference_sha: str
                      ) -> dict[str, float]:
        """PSNR and SSIM of ``frames`` against ``reference``, cached: on CPU they cost more than LK tracking."""
        from benchmark.metrics.image import IMAGE_METRICS_VERSION, image_metrics

        key = content_key("image_metrics", IMAGE_METRICS_VERSION, frames_sha, reference_sha)
        if (hit := self.cache.get("image_metrics", key)) is not None:
            return {name: float(value) for name, value in hit.items()}
        values = image_metrics(frames, reference)
        self.cache.put("image_metrics", key, **{name: np.float64(value) for name, value in values.items()})
        return values

    def poses(self, sample: Sample, frames: np.ndarray, frames_sha: str, inputs
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-frame object poses recovered from ``frames`` (hash ``frames_sha``), cached."""
        from benchmark.pose_tracking import POSE_TRACKING_VERSION, track_poses

        key = content_key("poses", POSE_TRACKING_VERSION, frames_sha, self.tracker_info, sample.content_hash,
                          asdict(self.pose_config))
        if (hit := self.cache.get("poses", key)) is not None:
            return hit["rotations"], hit["translations"], hit["ok"]
        tick, tracked = time.perf_counter(), self.timing.track_s
        rot, trans, ok = track_poses(self.tracker, frames, inputs, self.pose_config)
        self.timing.pose_s += time.perf_counter() - tick - (self.timing.track_s - tracked)
        self.cache.put("poses", key, rotations=rot, translations=trans, ok=ok)
        return rot, trans, ok


POSE_INPUT_KEYS = ("K", "cam_w2c", "obj_to_world", "mask")  # the annotations pose_inputs reads


def pose_inputs(sample: Sample, ann: dict[str, np.ndarray]) -> PoseInputs:
    """What the pose metric may know about ``sample`` before generation, from its annotation arrays
    ``ann`` (at least ``POSE_INPUT_KEYS``): intrinsics, frame-0 pose, mask and camera, the object's mesh
    and whether its motion keeps it upright."""
    return PoseInputs(K=ann["K"], pose0=ann["cam_w2c"][0] @ ann["obj_to_world"][0], mask0=ann["mask"][0] == 1,
                      model=sample.object_model(), camera0=ann["cam_w2c"][0], upright=sample.upright)


def sample_row(sample: Sample, error: str | None = None) -> dict:
    """The identifying columns of a sample's results row; status 'error' when ``error`` is given. A failed
    sample with 3D ground truth counts as failed in every pose frame (180°, fail rate 1), so that a
    model is never better off failing."""
    row = {"sample_id": sample.id, "family": sample.family, "rotational": sample.rotational,
           "rotation_angle_deg": sample.record.get("rotation_angle_deg"), "status": "error" if error else "ok",
           "error": error}
    if error and sample.record.get("clip"):
        from benchmark.metrics.pose import failed_pose_metrics

        row.update(failed_pose_metrics(sample.width, sample.height))
    return row


def lpips_model(config):
    """The LPIPS network when its weights were given, else None."""
    if not config.lpips_weights:
        return None
    from benchmark.metrics.lpips import load_lpips

    return load_lpips(config.lpips_weights)


def make_tracker(name: str | None, config: dict):
    """The tracker a run names (None: the default tracker) with its options."""
    from benchmark.trackers import create_tracker, default_tracker_name

    return create_tracker(name or default_tracker_name(), **config)


def scorer_from_config(config) -> Scorer:
    """A scorer built from a :class:`benchmark.harness.RunConfig` alone (what each worker process does)."""
    return Scorer(load_suite(config.suite), resolve_model(config.model), make_tracker(config.tracker, config.tracker_config),
                  ArrayCache(Path(config.cache_dir)), lpips_model(config), config.pose, False, config.objmc_grid,
                  config.objmc_protocol)
