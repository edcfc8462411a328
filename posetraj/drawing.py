"""Anti-aliased drawing of thick line segments and discs into float RGB canvases.

Coordinates follow docs/conventions.md: ``(x, y)`` = (column, row), pixel centres at integer
coordinates. A segment of width ``w`` is the set of points within ``w / 2`` of it (a capsule; a
zero-length segment is a disc). Each pixel's coverage is estimated from the distance ``d`` of its
centre to the segment as ``clip(w / 2 + 0.5 - d, 0, 1)``, which moves smoothly with sub-pixel
displacements of the end points, and the colour is composited "over" the canvas.
"""

from __future__ import annotations

import math

import numpy as np


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
