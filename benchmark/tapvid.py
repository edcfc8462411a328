"""TAP-Vid point-tracking metrics: average Jaccard (AJ), <δ^x_avg> and occlusion accuracy (OA).

Definitions (Doersch et al., TAP-Vid, 2022), per video:

* evaluated entries: ``first`` mode: frames strictly after each track's query frame; ``strided``
  mode: every frame except the query frame;
* OA = fraction of evaluated entries where predicted visibility equals ground-truth visibility;
* for δ ∈ {1, 2, 4, 8, 16} px, a prediction is *within* when ``‖pred − gt‖ < δ``;
  ``pts_within_δ`` = #(within ∧ gt visible) / #(gt visible), occlusion predictions ignored;
  ``jaccard_δ`` = TP / (#gt visible + FP) with TP = within ∧ gt visible ∧ pred visible and
  FP = pred visible ∧ (gt occluded ∨ not within);
* ``delta_avg`` = mean of pts_within_δ, ``aj`` = mean of jaccard_δ.

Over a dataset each metric is the plain mean of the per-video values (videos where a metric is
undefined, e.g. no visible ground truth after the query frames, are left out of that mean).
The TAP-Vid protocol measures at 256x256: ``rescale_points`` maps pixel coordinates there with
``x' = x (W' − 1) / (W − 1)``, which keeps pixel centres on pixel centres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

THRESHOLDS_PX = (1, 2, 4, 8, 16)
TAPVID_SIZE = (256, 256)  # (H, W)


@dataclass(frozen=True)
class TapVidMetrics:
    aj: float
    delta_avg: float
    oa: float
    jaccard: tuple[float, ...]  # one per threshold
    pts_within: tuple[float, ...]
    num_points: int
    num_evaluated: int

    def as_dict(self) -> dict:
        return {
            "aj": self.aj,
            "delta_avg": self.delta_avg,
            "oa": self.oa,
            **{f"jaccard_{d}": v for d, v in zip(THRESHOLDS_PX, self.jaccard)},
            **{f"pts_within_{d}": v for d, v in zip(THRESHOLDS_PX, self.pts_within)},
            "num_points": self.num_points,
            "num_evaluated": self.num_evaluated,
        }


def rescale_points(points: np.ndarray, size: tuple[int, int], target: tuple[int, int] = TAPVID_SIZE) -> np.ndarray:
    """(..., 2) (x, y) pixels of an image of ``size`` (H, W) -> pixels of an image of ``target`` (H, W)."""
    (height, width), (target_h, target_w) = size, target
    scale = np.array([(target_w - 1) / max(width - 1, 1), (target_h - 1) / max(height - 1, 1)])
    return np.asarray(points, np.float64) * scale


def first_visible_queries(tracks: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``first`` query sampling: (M, 3) (t, x, y) queries at each track's first visible frame, and the
    indices of the M tracks used (tracks never visible are left out)."""
    used = np.flatnonzero(visible.any(axis=0))
    first = np.argmax(visible[:, used], axis=0)
    xy = tracks[first, used]
    return np.concatenate([first[:, None].astype(np.float32), xy.astype(np.float32)], axis=1), used


def _safe_ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator > 0 else float("nan")


def tapvid_metrics(
    query_frames: np.ndarray,
    gt_tracks: np.ndarray,
    gt_visible: np.ndarray,
    pred_tracks: np.ndarray,
    pred_visible: np.ndarray,
    mode: str = "first",
) -> TapVidMetrics:
    """Metrics of one video. query_frames (N,); tracks (T, N, 2) pixels; visibility (T, N) bool."""
    gt_tracks, pred_tracks = np.asarray(gt_tracks, np.float64), np.asarray(pred_tracks, np.float64)
    gt_visible, pred_visible = np.asarray(gt_visible, bool), np.asarray(pred_visible, bool)
    n_frames, n_points = gt_visible.shape
    for name, array, shape in (
        ("gt_tracks", gt_tracks, (n_frames, n_points, 2)),
        ("pred_tracks", pred_tracks, (n_frames, n_points, 2)),
        ("pred_visible", pred_visible, (n_frames, n_points)),
        ("query_frames", np.asarray(query_frames), (n_points,)),
    ):
        if array.shape != shape:
            raise ValueError(f"{name} has shape {array.shape}, expected {shape}")
    frames = np.arange(n_frames)[:, None]
    query = np.asarray(query_frames, np.int64)[None, :]
    if mode == "first":
        evaluated = frames > query
    elif mode == "strided":
        evaluated = frames != query
    else:
        raise ValueError(f"mode must be 'first' or 'strided', got {mode!r}")
    oa = _safe_ratio(np.sum((pred_visible == gt_visible) & evaluated), np.sum(evaluated))
    distance_sq = np.sum((pred_tracks - gt_tracks) ** 2, axis=-1)
    visible_gt = gt_visible & evaluated
    n_visible = float(np.sum(visible_gt))
    jaccard, within_frac = [], []
    for delta in THRESHOLDS_PX:
        within = distance_sq < delta**2
        true_positive = np.sum(within & visible_gt & pred_visible)
        false_positive = np.sum(pred_visible & evaluated & (~gt_visible | ~within))
        jaccard.append(_safe_ratio(true_positive, n_visible + false_positive))
        within_frac.append(_safe_ratio(np.sum(within & visible_gt), n_visible))
    return TapVidMetrics(
        aj=float(np.mean(jaccard)),
        delta_avg=float(np.mean(within_frac)),
        oa=oa,
        jaccard=tuple(jaccard),
        pts_within=tuple(within_frac),
        num_points=n_points,
        num_evaluated=int(np.sum(evaluated)),
    )


def average_metrics(per_video: list[TapVidMetrics]) -> dict:
    """Dataset metrics: plain mean over videos of each metric (NaN entries left out), with counts."""
    if not per_video:
        raise ValueError("no videos to average")
    rows = [m.as_dict() for m in per_video]
    out: dict = {}
    for key in rows[0]:
        values = np.array([r[key] for r in rows], np.float64)
        finite = values[np.isfinite(values)]
        if key in ("num_points", "num_evaluated"):
            out[key] = int(values.sum())
        else:
            out[key] = float(finite.mean()) if finite.size else float("nan")
    out["num_videos"] = len(per_video)
    return out
