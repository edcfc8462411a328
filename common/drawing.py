"""Anti-aliased drawing of thick line segments and discs into float RGB canvases, and trajectory overlays.

Coordinates follow docs/conventions.md: ``(x, y)`` = (column, row), pixel centres at integer
coordinates. A segment of width ``w`` is the set of points within ``w / 2`` of it (a capsule; a
zero-length segment is a disc). Each pixel's coverage is estimated from the distance ``d`` of its
centre to the segment as ``clip(w / 2 + 0.5 - d, 0, 1)``, which moves smoothly with sub-pixel
displacements of the end points, and the colour is composited "over" the canvas.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence

import numpy as np

from common.trajectories import Trajectories, hide_outliers, rescale


def segment_coverage(
    p0: tuple[float, float], p1: tuple[float, float], width: float, height: int, canvas_width: int
) -> tuple[slice, slice, np.ndarray] | None:
    """Coverage in [0, 1] of a thick segment over the pixels of its bounding box.

    Returns ``(rows, cols, coverage)`` with ``coverage`` of shape ``(len(rows), len(cols))``, or
    ``None`` when the segment misses the canvas or a coordinate is not finite.
    """
    x0, y0 = float(p0[0]), float(p0[1])
    x1, y1 = float(p1[0]), float(p1[1])
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)) or width <= 0:
        return None
    reach = width / 2.0 + 1.0
    c0 = max(int(math.floor(min(x0, x1) - reach)), 0)
    c1 = min(int(math.ceil(max(x0, x1) + reach)) + 1, canvas_width)
    r0 = max(int(math.floor(min(y0, y1) - reach)), 0)
    r1 = min(int(math.ceil(max(y0, y1) + reach)) + 1, height)
    if c0 >= c1 or r0 >= r1:
        return None
    xs = np.arange(c0, c1, dtype=np.float64)[None, :]
    ys = np.arange(r0, r1, dtype=np.float64)[:, None]
    dx, dy = x1 - x0, y1 - y0
    length_sq = dx * dx + dy * dy
    if length_sq > 0.0:
        t = np.clip(((xs - x0) * dx + (ys - y0) * dy) / length_sq, 0.0, 1.0)
    else:
        t = np.zeros((1, 1))
    dist = np.hypot(xs - (x0 + t * dx), ys - (y0 + t * dy))
    coverage = np.clip(width / 2.0 + 0.5 - dist, 0.0, 1.0)
    return slice(r0, r1), slice(c0, c1), coverage


def draw_segment(
    canvas: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], width: float,
    color: tuple[float, ...],
) -> None:
    """Composite an anti-aliased thick segment of ``color`` over ``canvas`` (H, W, C) float, in place."""
    found = segment_coverage(p0, p1, width, canvas.shape[0], canvas.shape[1])
    if found is None:
        return
    rows, cols, coverage = found
    alpha = coverage[..., None]
    region = canvas[rows, cols]
    canvas[rows, cols] = region * (1.0 - alpha) + np.asarray(color, dtype=canvas.dtype) * alpha


def draw_disc(canvas: np.ndarray, centre: tuple[float, float], radius: float, color: tuple[float, ...]) -> None:
    """Composite an anti-aliased filled disc over ``canvas`` (H, W, C) float, in place."""
    draw_segment(canvas, centre, centre, 2.0 * radius, color)


def point_colors(count: int) -> list[tuple[float, float, float]]:
    """Distinct, fixed RGB colours (0..255) for ``count`` points."""
    return [tuple(255.0 * c for c in colorsys.hsv_to_rgb((0.61803 * i) % 1.0, 0.9, 1.0)) for i in range(count)]


def upscale_nearest(frames: np.ndarray, scale: int) -> np.ndarray:
    """(T, H, W, C) frames enlarged ``scale`` times by pixel repetition."""
    if scale == 1:
        return frames
    return np.repeat(np.repeat(frames, scale, axis=1), scale, axis=2)


def draw_trajectory_overlay(
    frames: np.ndarray, traj: Trajectories, line_width: float = 2.0,
    colors: Sequence[tuple[float, float, float]] | tuple[float, float, float] | None = None,
) -> np.ndarray:
    """Frames (T, H, W, 3) uint8 with, at frame t, each visible point's path up to t and a dot at t.

    ``traj`` is resized to the frames (the trajectory resize rule) and its outlier points hidden (the
    outlier rule), as the model's conditioning does. ``colors``: one RGB colour (0..255) for every
    point, one per point, or None for :func:`point_colors`.
    """
    height, width = frames.shape[1:3]
    scaled, _ = hide_outliers(rescale(traj, (width, height)))
    if colors is None:
        colors = point_colors(scaled.num_points)
    elif len(colors) == 3 and not isinstance(colors[0], (tuple, list)):
        colors = [tuple(colors)] * scaled.num_points
    out = frames.astype(np.float32)
    for t in range(min(frames.shape[0], scaled.num_frames)):
        for n, color in enumerate(colors):
            points, visible = scaled.points[n], scaled.visible[n]
            for k in range(t):
                if visible[k] and visible[k + 1]:
                    draw_segment(out[t], tuple(points[k]), tuple(points[k + 1]), line_width, color)
            if visible[t]:
                draw_disc(out[t], tuple(points[t]), line_width + 1.0, color)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
