"""Score one model on one suite: generate (or reuse) each video, validate it, track it, compute every
metric, and write per-sample results (Parquet) and a summary (JSON)."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from benchmark.cache import ArrayCache, array_sha256, content_key
from benchmark.models import GenerationError, Model, resolve_model
from benchmark.pose_tracking import PoseTrackingConfig
from benchmark.suite import Sample, Suite, SuiteError, load_suite
from benchmark.video_check import InvalidVideoError, validate_video
from common.atomic import write_json_atomic
from common.clip_format import ClipFormatError
from common.trajectories import TrajectoryFormatError
from common.video import VideoDecodeError

RESULTS_SCHEMA_VERSION = 1
SAMPLES_FILE = "samples.parquet"
SUMMARY_FILE = "summary.json"
TRAJECTORY_KEYS = ("objmc", "objmc_norm", "ade", "fde", "ade_norm", "fde_norm", "within_5px", "within_10px",
                   "within_20px", "conditioning_objmc", "conditioning_ade")
POSE_KEYS = ("rotation_error_deg", "heading_error_deg", "box_corner_error", "box_corner_error_norm",
             "pose_fail_rate", "rotation_error_abs_deg", "heading_error_abs_deg", "box_corner_error_abs")
FIDELITY_KEYS = ("psnr", "ssim", "lpips")
# direction of "better" for every aggregated metric (used by the leaderboard)
HIGHER_IS_BETTER = {"within_5px", "within_10px", "within_20px", "psnr", "ssim"}


@dataclass
class RunConfig:
    """What ``posetraj bench run`` scores and where it writes."""

    suite: Path
    model: str
    out: Path
    tracker: str | None = None  # None: the default tracker
    tracker_config: dict = field(default_factory=dict)
    cache_dir: Path | None = None  # None: <out>/../.cache
    lpips_weights: Path | None = None  # folder with alexnet-owt-7be5be79.pth and alex.pth
    fid_weights: Path | None = None  # inception-2015-12-05.pt
    fvd_weights: Path | None = None  # i3d_torchscript.pt
    pose: PoseTrackingConfig = field(default_factory=PoseTrackingConfig)
    regenerate: bool = False  # ignore cached videos of this model (they are replaced)
    objmc_grid: int = 0  # > 0: the published grid protocol (e.g. 100); 0: query the trajectories directly
    progress: bool = True
    workers: int = 1  # > 1: generate in this process, then track and score samples in that many processes


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
                 objmc_grid: int = 0) -> None:
        self.regenerate, self.objmc_grid = regenerate, objmc_grid
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
            row.update(status="error", error=str(exc))
            return row, None, None
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
        from benchmark.metrics.pose import PoseGroundTruth, pose_metrics_from_estimates
        from benchmark.metrics.trajectory import field_grid, nearest_grid_tracks, trajectory_metrics

        (frames, frames_sha), (reference, reference_sha) = video, reference_video
        cond = sample.trajectories.points[:, : sample.num_frames]  # (N, T, 2)
        if self.objmc_grid:
            grid = field_grid(sample.width, sample.height, self.objmc_grid)
            index = nearest_grid_tracks(grid, cond[:, 0])
            if self.tracker.independent_queries:
                # the other grid tracks cannot change the kept ones: track only those
                kept, index = np.unique(index, return_inverse=True)
                grid = grid[kept]
            queries = np.c_[np.zeros(len(grid)), grid].astype(np.float32)
        else:
            queries = np.c_[np.zeros(len(cond)), cond[:, 0]].astype(np.float32)
            index = np.arange(len(cond))
        tracks, _, key = self.tracks(frames, frames_sha, queries)
        row["tracks_key"] = key
        pred = tracks[:, index].transpose(1, 0, 2)
        if reference is not None:
            ref_tracks, _, _ = self.tracks(reference, reference_sha, queries)
            target = ref_tracks[:, index].transpose(1, 0, 2)
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
            ann = sample.ground_truth("K", "cam_w2c", "obj_to_world", "bbox_extents", "bbox_corners_2d",
                                      "tracks_xyz", "tracks_visible")
            gt = PoseGroundTruth(
                K=ann["K"], cam_w2c=ann["cam_w2c"], obj_to_world=ann["obj_to_world"],
                bbox_extents=ann["bbox_extents"], bbox_corners_2d=ann["bbox_corners_2d"],
                points_xyz=ann["tracks_xyz"].astype(np.float64), points_visible=ann["tracks_visible"])
            rot, trans, ok = self.poses(sample, frames, frames_sha, gt)
            ref = self.poses(sample, reference, reference_sha, gt) if reference is not None else None
            row.update(pose_metrics_from_estimates(rot, trans, ok, gt, sample.width, sample.height, ref))

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

    def poses(self, sample: Sample, frames: np.ndarray, frames_sha: str, gt
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-frame object poses recovered from ``frames`` (hash ``frames_sha``), cached."""
        from benchmark.pose_tracking import track_poses

        key = content_key("poses", frames_sha, self.tracker_info, sample.content_hash,
                          asdict(self.pose_config))
        if (hit := self.cache.get("poses", key)) is not None:
            return hit["rotations"], hit["translations"], hit["ok"]
        tick, tracked = time.perf_counter(), self.timing.track_s
        rot, trans, ok = track_poses(self.tracker, frames, gt, self.pose_config)
        self.timing.pose_s += time.perf_counter() - tick - (self.timing.track_s - tracked)
        self.cache.put("poses", key, rotations=rot, translations=trans, ok=ok)
        return rot, trans, ok


def sample_row(sample: Sample, error: str | None = None) -> dict:
    """The identifying columns of a sample's results row; status 'error' when ``error`` is given."""
    return {"sample_id": sample.id, "family": sample.family, "rotational": sample.rotational,
            "rotation_angle_deg": sample.record.get("rotation_angle_deg"), "status": "error" if error else "ok",
            "error": error}


def _mean(values: list) -> float | None:
    vals = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(vals)) if vals else None


def aggregate(rows: list[dict]) -> dict:
    """Suite-level numbers over the scored rows: ObjMC pooled as the field pools it, others averaged."""
    ok = [r for r in rows if r["status"] == "ok"]
    out: dict = {"num_samples": len(ok)}
    if not ok:
        return out
    total = sum(r["objmc_sum"] for r in ok)
    count = sum(r["objmc_count"] for r in ok)
    out["objmc"] = total / count
    out["objmc_per_sample_mean"] = _mean([r["objmc"] for r in ok])
    for key in TRAJECTORY_KEYS[1:] + POSE_KEYS + FIDELITY_KEYS:
        value = _mean([r.get(key) for r in ok])
        if value is not None:
            out[key] = value
    return out


def summarize(rows: list[dict]) -> dict:
    groups: dict[str, dict] = {"overall": aggregate(rows)}
    if any(r.get("rotational") is not None for r in rows):
        groups["rotational"] = aggregate([r for r in rows if r.get("rotational")])
        groups["translation_only"] = aggregate([r for r in rows if r.get("rotational") is False])
    by_family = {fam: aggregate([r for r in rows if r["family"] == fam]) for fam in sorted({r["family"] for r in rows})}
    return {"groups": groups, "by_family": by_family}


def write_parquet_atomic(path: Path, rows: list[dict]) -> None:
    import pandas as pd

    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    frame = pd.DataFrame(rows)
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def _lpips_model(config: RunConfig):
    """The LPIPS network when its weights were given, else None."""
    if not config.lpips_weights:
        return None
    from benchmark.metrics.lpips import load_lpips

    return load_lpips(config.lpips_weights)


def make_tracker(name: str | None, config: dict):
    from benchmark.trackers import create_tracker, default_tracker_name

    return create_tracker(name or default_tracker_name(), **config)


def run_benchmark(config: RunConfig, *, model: Model | None = None, tracker=None) -> dict:
    """Score ``config.model`` on ``config.suite``; write ``samples.parquet`` and ``summary.json`` into
    ``config.out`` and return the summary. Failed samples are listed, never silently dropped."""
    from tqdm import tqdm

    started = time.perf_counter()
    if config.workers > 1 and tracker is not None:
        raise ValueError("with workers > 1 the tracker must be the one the configuration names "
                         "(tracker, tracker_config): each process builds its own")
    suite = load_suite(config.suite)
    model = model or resolve_model(config.model)
    tracker = tracker or make_tracker(config.tracker, config.tracker_config)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    cache_dir = Path(config.cache_dir) if config.cache_dir else out.parent / ".bench-cache"
    for path, what in ((config.fid_weights, "FID Inception"), (config.fvd_weights, "FVD I3D")):
        if path is not None and not Path(path).is_file():
            from benchmark.metrics.feature_nets import MissingWeightsError

            raise MissingWeightsError(f"{what} weights not found at {path} (never downloaded; see docs/benchmark.md)")
    scorer = Scorer(suite, model, tracker, ArrayCache(cache_dir), _lpips_model(config), config.pose, config.regenerate,
                    config.objmc_grid)
    rows, generated, references = [], [], []
    want_sets = bool(config.fid_weights or config.fvd_weights)
    if config.workers > 1:
        if want_sets:
            raise ValueError("FID / FVD need every video in one process: run them with workers = 1")
        rows = _score_in_workers(config, scorer, cache_dir)
    else:
        for sample in tqdm(suite.samples, desc=f"bench {model.name}", unit="sample", file=sys.stderr,
                           disable=not config.progress):
            row, frames, reference = scorer.score(sample)
            rows.append(row)
            if want_sets and frames is not None and reference is not None:
                generated.append(frames)
                references.append(reference)
    summary = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "suite": suite.describe(),
        "objmc_queries": f"grid {config.objmc_grid}x{config.objmc_grid}" if config.objmc_grid else "direct",
        "model": {"name": model.name, "identity": model.identity},
        "tracker": scorer.tracker_info,
        "num_samples": len(rows),
        "num_failed": sum(r["status"] != "ok" for r in rows),
        "failures": [{"sample_id": r["sample_id"], "error": r["error"]} for r in rows if r["status"] != "ok"],
        "complete": all(r["status"] == "ok" for r in rows),
        "metrics": summarize(rows),
        "cache_dir": str(cache_dir.resolve()),
        "weights": {"lpips": str(config.lpips_weights) if config.lpips_weights else None,
                    "fid": str(config.fid_weights) if config.fid_weights else None,
                    "fvd": str(config.fvd_weights) if config.fvd_weights else None},
    }
    summary["metrics"]["set_level"] = _set_metrics(config, generated, references)
    summary["timing"] = asdict(scorer.timing) | {"total_s": time.perf_counter() - started}
    provenance = {"suite_version": suite.version, "adapter": str(model.identity.get("adapter")),
                  "tracker": scorer.tracker_info.get("tracker"),
                  "tracker_weights_sha256": scorer.tracker_info.get("weights_sha256"),
                  "objmc_queries": summary["objmc_queries"]}
    write_parquet_atomic(out / SAMPLES_FILE, [row | provenance for row in rows])
    write_json_atomic(out / SUMMARY_FILE, summary)
    return summary


def _score_in_workers(config: RunConfig, scorer: Scorer, cache_dir: Path) -> list[dict]:
    """Generate (or reuse) each video here and hand the sample to one of ``config.workers`` processes
    that share the cache, so scoring runs while the next video is generated (a model on a GPU keeps
    generating while the CPUs score); rows come back in suite order and the workers' timings are added up."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    if resolve_model(config.model).identity != scorer.model.identity:
        raise ValueError(f"with workers > 1 the model must be the one the configuration names ({config.model!r})")
    samples = scorer.suite.samples
    failed: dict[str, str] = {}
    worker_config = replace(config, regenerate=False, cache_dir=cache_dir, progress=False)
    context = multiprocessing.get_context("spawn")
    # processes start at the first submitted sample, while the model goes on with the next one
    with ProcessPoolExecutor(max(1, min(config.workers, len(samples))), mp_context=context, initializer=_worker_init,
                             initargs=(worker_config,)) as pool:
        pending, rows = {}, {}
        try:
            for sample in tqdm(samples, desc=f"generate {scorer.model.name}", unit="sample", file=sys.stderr,
                               disable=not (config.progress and scorer.model.needs_cache)):
                if scorer.model.needs_cache:
                    try:
                        scorer.video(sample)  # into the cache, where the worker finds it
                    except (GenerationError, InvalidVideoError) as exc:
                        failed[sample.id] = str(exc)
                        continue
                    finally:
                        sample.release()
                pending[sample.id] = pool.submit(_worker_score, sample.id)
            for sample_id, future in tqdm(pending.items(), desc=f"bench {scorer.model.name}", unit="sample",
                                          file=sys.stderr, disable=not config.progress):
                rows[sample_id], timing = future.result()
                for name, value in timing.items():
                    setattr(scorer.timing, name, getattr(scorer.timing, name) + value)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)  # an interrupted run leaves no queued samples
            raise
    return [rows[sample.id] if sample.id in rows else sample_row(sample, failed[sample.id]) for sample in samples]


_worker_scorer: Scorer | None = None
_worker_samples: dict[str, Sample] = {}


def _worker_init(config: RunConfig) -> None:
    """Each scoring process builds its own scorer from the run's configuration (models, trackers and
    LPIPS weights are named there, so nothing unpicklable crosses processes)."""
    global _worker_scorer, _worker_samples
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _worker_scorer = Scorer(load_suite(config.suite), resolve_model(config.model),
                            make_tracker(config.tracker, config.tracker_config), ArrayCache(Path(config.cache_dir)),
                            _lpips_model(config), config.pose, False, config.objmc_grid)
    _worker_samples = {sample.id: sample for sample in _worker_scorer.suite.samples}


def _worker_score(sample_id: str) -> tuple[dict, dict]:
    scorer, sample = _worker_scorer, _worker_samples[sample_id]
    before = asdict(scorer.timing)
    row, _, _ = scorer.score(sample)
    return row, {name: value - before[name] for name, value in asdict(scorer.timing).items()}


def _set_metrics(config: RunConfig, generated: list[np.ndarray], references: list[np.ndarray]) -> dict:
    """FID over all frames and FVD over whole videos, when their weights were given."""
    out: dict = {}
    if not (config.fid_weights or config.fvd_weights):
        return out
    if len(generated) < 2:
        raise SuiteError("FID / FVD need at least 2 scored samples with a ground-truth video")
    from common.hashing import sha256_file
    from benchmark.metrics.feature_nets import fid, fvd, load_torchscript

    if config.fid_weights:
        net = load_torchscript(config.fid_weights, "FID Inception")
        out["fid"] = fid(net, np.concatenate(generated), np.concatenate(references))
        out["fid_weights_sha256"] = sha256_file(config.fid_weights)
    if config.fvd_weights:
        net = load_torchscript(config.fvd_weights, "FVD I3D")
        out["fvd"] = fvd(net, generated, references)
        out["fvd_weights_sha256"] = sha256_file(config.fvd_weights)
    return out
