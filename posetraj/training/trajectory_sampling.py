"""Training trajectories drawn from a rendered clip's dense surface tracks: the drags users draw.

For a window of F frames starting at ``start``: candidates are the tracked surface points visible at the
window's first frame and in at least ``min_visible_fraction`` of its frames (all visible ones at the first
frame when none qualifies). The number of trajectories n is uniform in [min_points, max_points] (every
candidate when ``max_points`` is None). They are the
candidates nearest, at the first frame, to anchors that users pick: the object's centre first, then its
projected 3D-box corners in random order, then random candidates. Positions are the exact projections over
the whole window, all marked visible (a user's drag does not stop where the point is occluded); points far
off the frame are hidden later by the conditioning's outlier rule.
"""

from __future__ import annotations

import numpy as np

from common.trajectories import Trajectories


def sample_surface_trajectories(
    tracks_2d: np.ndarray, tracks_visible: np.ndarray, center_2d: np.ndarray, corners_2d: np.ndarray,
    size: tuple[int, int], start: int, num_frames: int, rng: np.random.Generator, *, min_points: int = 1,
    max_points: int | None = 8, min_visible_fraction: float = 0.8,
) -> Trajectories | None:
    """Trajectories (n, num_frames, 2) in the clip's pixels, or None when no point is visible at ``start``.

    ``tracks_2d`` (T, N, 2), ``tracks_visible`` (T, N), ``center_2d`` (T, 2), ``corners_2d`` (T, 8, 2).
    """
    window = slice(start, start + num_frames)
    visible = tracks_visible[window]
    first = visible[0] & np.isfinite(tracks_2d[window]).all(axis=(0, 2))
    candidates = np.flatnonzero(first & (visible.mean(axis=0) >= min_visible_fraction))
    if candidates.size == 0:
        candidates = np.flatnonzero(first)
    if candidates.size == 0:
        return None
    if max_points is None:  # every candidate
        count = candidates.size
    else:
        upper = min(max_points, candidates.size)
        count = int(rng.integers(min(min_points, upper), upper + 1))
    anchors = [center_2d[start]] + list(corners_2d[start][rng.permutation(8)])
    start_xy = tracks_2d[start, candidates].astype(np.float64)
    chosen: list[int] = []
    free = np.ones(candidates.size, bool)
    for anchor in anchors[:count]:
        distance = np.where(free, ((start_xy - anchor) ** 2).sum(axis=1), np.inf)
        pick = int(np.argmin(distance))
        chosen.append(pick)
        free[pick] = False
    if len(chosen) < count:
        rest = np.flatnonzero(free)
        chosen += list(rng.choice(rest, size=count - len(chosen), replace=False))
    points = tracks_2d[window][:, candidates[chosen]].astype(np.float64)
    return Trajectories.from_array(points, size, ids=tuple(str(int(i)) for i in candidates[chosen]),
                                   source="surface tracks")
