"""Trajectory-following metrics: ObjMC as the field computes it, ADE, FDE, thresholds, curves.

``cond`` are the conditioning trajectories given to the model and ``pred`` the trajectories a point
tracker recovers from the generated video, queried at ``cond[:, 0]``; both (N, T, 2) in the native
pixels of the sample.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

THRESHOLDS_PX = (5, 10, 20)
MODEL_SHAPE = (384, 512)  # (H, W) CoTracker's predictor resizes videos to before tracking
DRAGANYTHING_GRID = 100  # grid_size of DragAnything's trajectory extraction


def field_grid(width: int, height: int, size: int = 100) -> np.ndarray:
    """(size², 2) frame-0 query points of the published protocol, in native pixels.

    DragAnything tracks a ``size`` × ``size`` grid laid out as CoTracker's predictor does: on its
    384 × 512 working resolution, a margin of 512 // 64 = 8 pixels, then mapped back to the native size
    with the (W − 1) / (w − 1) rule. Row-major (y outer, x inner).
    """
    if size < 2:
        raise ValueError("the grid needs at least 2 points per side")
    h, w = MODEL_SHAPE
    step = w // 64
    ys = step + np.arange(size) / (size - 1) * (h - 2 * step)
    xs = step + np.arange(size) / (size - 1) * (w - 2 * step)
    gy, gx = np.meshgrid(ys * (height - 1) / (h - 1), xs * (width - 1) / (w - 1), indexing="ij")
    return np.stack([gx.ravel(), gy.ravel()], axis=-1)


def nearest_grid_tracks(grid: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Index of the grid point nearest to each of ``points`` (N, 2): the published entity-to-track rule."""
    d = ((grid[None, :, :] - np.asarray(points, dtype=np.float64)[:, None, :]) ** 2).sum(-1)
    return np.argmin(d, axis=1)


def entity_centres(mask0: np.ndarray | None, ids: Sequence[str], starts: np.ndarray) -> np.ndarray:
    """(N, 2) centre of each entity as DragAnything picks it: the deepest interior point of the entity's
    frame-0 mask (arg-max of ``cv2.distanceTransform(DIST_L2, 5)``, (x, y)), for ids that are instance ids
    of ``mask0``; otherwise the trajectory's own start point (``starts``)."""
    import cv2

    centres = np.asarray(starts, dtype=np.float64).copy()
    if mask0 is None:
        return centres
    for n, key in enumerate(ids):
        if not str(key).isdigit() or not (mask0 == int(key)).any():
            continue
        dist = cv2.distanceTransform((mask0 == int(key)).astype(np.uint8), cv2.DIST_L2, 5)
        row, col = np.unravel_index(int(np.argmax(dist)), dist.shape)
        centres[n] = (col, row)
    return centres


@dataclass(frozen=True)
class PooledObjMC:
    """What one video contributes to ObjMC: the sum and count of the pooled distances over the ids both
    maps have, and the ids of ``gt`` that the prediction lacks (or has empty): failures, not skipped."""

    total: float
    count: int
    missing: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.missing


def objmc_pooled(gt: Mapping[str, Sequence], pred: Mapping[str, Sequence]) -> PooledObjMC:
    """The distances ObjMC pools for one video (DragAnything ``ObjMC.py``).

    Every entity id present in both maps contributes the distance of each zipped pair of points (the
    shorter list decides, frame 0 included). ObjMC of a suite is the sum over its videos divided by the
    count over its videos: the mean of one global list, not a mean of per-video means. An id of ``gt``
    missing from ``pred`` (or empty there) is reported in ``missing``: the published script has no
    value for it, so a caller must count it as a failed trajectory rather than drop it silently.
    """
    total, count, missing = 0.0, 0, []
    for key, gt_points in gt.items():
        if key not in pred or len(pred[key]) == 0:
            missing.append(str(key))
            continue
        n = min(len(gt_points), len(pred[key]))
        if n == 0:
            continue
        a = np.asarray(gt_points[:n], dtype=np.float64)
        b = np.asarray(pred[key][:n], dtype=np.float64)
        total += float(np.sqrt(((a - b) ** 2).sum(-1)).sum())
        count += n
    return PooledObjMC(total, count, tuple(missing))


def trajectory_metrics(cond: np.ndarray, pred: np.ndarray, width: int, height: int) -> dict[str, object]:
    """Per-sample trajectory metrics (definitions in docs/benchmark.md).

    ``objmc_sum``/``objmc_count`` follow :func:`objmc_pooled` on integer-truncated positions, as the
    field stores its tracks; the other metrics use the float positions and skip frame 0, where the
    tracked point is the query itself.
    """
    cond = np.asarray(cond, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    if cond.ndim != 3 or cond.shape[-1] != 2 or cond.shape != pred.shape:
        raise ValueError(f"expected two (N, T, 2) arrays of equal shape, got {cond.shape} and {pred.shape}")
    if cond.shape[1] < 2:
        raise ValueError("trajectory metrics need at least 2 frames")
    if not (np.isfinite(cond).all() and np.isfinite(pred).all()):
        raise ValueError("trajectories contain NaN or infinity")
    diag = float(np.hypot(width, height))
    field = np.sqrt(((np.trunc(cond) - np.trunc(pred)) ** 2).sum(-1))  # (N, T)
    dist = np.sqrt(((cond - pred) ** 2).sum(-1))  # (N, T)
    later = dist[:, 1:]
    out: dict[str, object] = {
        "objmc_sum": float(field.sum()),
        "objmc_count": int(field.size),
        "objmc": float(field.mean()),
        "objmc_norm": float(field.mean() / diag),
        "ade": float(later.mean()),
        "fde": float(dist[:, -1].mean()),
        "ade_norm": float(later.mean() / diag),
        "fde_norm": float(dist[:, -1].mean() / diag),
        "error_per_frame": dist.mean(axis=0).tolist(),
    }
    for px in THRESHOLDS_PX:
        out[f"within_{px}px"] = float((later < px).mean())
    return out
