"""The app's drawing (pure numpy): trajectories as clicked points, their per-frame positions, a preview.

A :class:`Drawing` holds strokes, one per trajectory, each the points clicked on an image of a known
size (pixel centres at integer coordinates, docs/conventions.md). A stroke becomes a trajectory of
``num_frames`` positions at equal arc-length steps along the polyline through its points, or along a
natural cubic spline through them when smoothed. Strokes imported from a trajectory file keep their
per-frame timing (resampled linearly in time when the frame count differs); points added to them
afterwards turn them into clicked strokes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from common.drawing import draw_disc, draw_segment, point_colors
from common.trajectories import Trajectories

#: Dense samples per segment of a smoothed stroke before it is resampled by arc length.
SPLINE_SAMPLES_PER_SEGMENT = 64


class DrawingError(ValueError):
    """The drawing cannot become trajectories (the message says which trajectory and what to do)."""


@dataclass(frozen=True)
class Stroke:
    """One trajectory's points, in image pixels; ``timed``: per-frame positions from a file."""

    points: tuple[tuple[float, float], ...] = ()
    timed: bool = False


@dataclass(frozen=True)
class Drawing:
    """Strokes on an image of ``size`` (width, height); the last stroke is the one being drawn."""

    size: tuple[int, int] | None = None
    strokes: tuple[Stroke, ...] = ()

    def add_point(self, x: float, y: float) -> "Drawing":
        """The drawing with ``(x, y)`` appended to the current stroke (a first stroke when there is none)."""
        if self.size is None:
            raise DrawingError("open an image first (upload one or pick an example)")
        width, height = self.size
        if not (-0.5 <= x <= width - 0.5 and -0.5 <= y <= height - 0.5):
            raise DrawingError(f"point ({x:g}, {y:g}) is outside the {width}x{height} image")
        strokes = self.strokes or (Stroke(),)
        current = strokes[-1]
        return replace(self, strokes=strokes[:-1] + (Stroke(current.points + ((float(x), float(y)),)),))

    def new_stroke(self) -> "Drawing":
        """Start the next trajectory (no-op while the current one has no points)."""
        if self.strokes and not self.strokes[-1].points:
            return self
        return replace(self, strokes=self.strokes + (Stroke(),))

    def undo(self) -> "Drawing":
        """Remove the last point drawn; a trajectory left without points (or just started) is removed."""
        strokes = list(self.strokes)
        if strokes:
            last = strokes.pop()
            if len(last.points) > 1:
                strokes.append(replace(last, points=last.points[:-1]))
        return replace(self, strokes=tuple(strokes))

    def clear(self) -> "Drawing":
        return replace(self, strokes=())

    @property
    def drawn(self) -> tuple[Stroke, ...]:
        """The strokes that have points."""
        return tuple(s for s in self.strokes if s.points)

    def trajectories(self, num_frames: int, smooth: bool = False) -> Trajectories:
        """The drawn strokes as ``num_frames``-frame trajectories (ids "1", "2", ... in drawing order)."""
        if self.size is None:
            raise DrawingError("open an image first (upload one or pick an example)")
        if num_frames < 2:
            raise DrawingError(f"the number of frames must be at least 2, got {num_frames}")
        strokes = self.drawn
        if not strokes:
            raise DrawingError("draw a trajectory first: click at least two points on the image")
        tracks = {}
        for index, stroke in enumerate(strokes, start=1):
            points = np.asarray(stroke.points, dtype=np.float64)
            if stroke.timed:
                tracks[str(index)] = resample_in_time(points, num_frames)
                continue
            distinct = distinct_points(points)
            if len(distinct) < 2:
                raise DrawingError(f"trajectory {index} has {'one point' if len(points) == 1 else 'one distinct point'}"
                                   f": click at least two points (a start and an end)")
            path = spline_path(distinct) if smooth else distinct
            tracks[str(index)] = resample_by_arc_length(path, num_frames)
        return Trajectories.from_dict(tracks, self.size, source="drawing")

    @classmethod
    def from_trajectories(cls, traj: Trajectories) -> "Drawing":
        """Imported trajectories as timed strokes (their visible positions, in order)."""
        if traj.size is None:
            raise DrawingError("trajectories without an image size cannot be drawn")
        strokes = []
        for points, visible in zip(traj.points, traj.visible):
            kept = points[visible]
            if len(kept):
                strokes.append(Stroke(tuple((float(x), float(y)) for x, y in kept), timed=True))
        if not strokes:
            raise DrawingError(f"{traj.source or 'the file'}: no visible trajectory points")
        return cls(size=traj.size, strokes=tuple(strokes))

    def describe(self) -> str:
        """One line per trajectory: its clicked points."""
        lines = []
        for index, stroke in enumerate(self.drawn, start=1):
            shown = " → ".join(f"({x:.0f}, {y:.0f})" for x, y in stroke.points[:12])
            more = f" … ({len(stroke.points)} points)" if len(stroke.points) > 12 else ""
            kind = " [from file]" if stroke.timed else ""
            lines.append(f"{index}: {shown}{more}{kind}")
        return "\n".join(lines) if lines else "no trajectory yet: click points on the image"


def distinct_points(points: np.ndarray, min_step: float = 0.5) -> np.ndarray:
    """``points`` (K, 2) without points closer than ``min_step`` pixels to the previous one (double clicks)."""
    kept = [points[0]]
    for point in points[1:]:
        if np.linalg.norm(point - kept[-1]) >= min_step:
            kept.append(point)
    return np.asarray(kept)


def spline_path(points: np.ndarray) -> np.ndarray:
    """A dense polyline along the natural cubic spline through ``points`` (K >= 2, chord-length knots)."""
    from scipy.interpolate import CubicSpline

    if len(points) == 2:
        return points
    knots = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    spline = CubicSpline(knots, points, bc_type="natural", axis=0)
    dense = np.linspace(0.0, knots[-1], SPLINE_SAMPLES_PER_SEGMENT * (len(points) - 1) + 1)
    return spline(dense)


def resample_by_arc_length(path: np.ndarray, num_frames: int) -> np.ndarray:
    """``num_frames`` positions at equal arc-length steps along the polyline ``path`` (first and last kept)."""
    lengths = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))])
    targets = np.linspace(0.0, lengths[-1], num_frames)
    return np.stack([np.interp(targets, lengths, path[:, 0]), np.interp(targets, lengths, path[:, 1])], axis=1)


def resample_in_time(points: np.ndarray, num_frames: int) -> np.ndarray:
    """Per-frame ``points`` (T, 2) stretched to ``num_frames`` frames by linear interpolation in time."""
    if len(points) == num_frames:
        return points.copy()
    if len(points) == 1:
        return np.repeat(points, num_frames, axis=0)
    source = np.linspace(0.0, 1.0, len(points))
    target = np.linspace(0.0, 1.0, num_frames)
    return np.stack([np.interp(target, source, points[:, 0]), np.interp(target, source, points[:, 1])], axis=1)


def preview(image: np.ndarray, drawing: Drawing, num_frames: int, smooth: bool) -> np.ndarray:
    """``image`` (H, W, 3) uint8 with each stroke in its colour: the path the trajectory follows, a ring at
    its start, its clicked points, and small dots at its per-frame positions (where it can be sampled)."""
    canvas = np.asarray(image, dtype=np.float32).copy()
    scale = max(1.0, max(canvas.shape[:2]) / 320.0)
    colors = point_colors(max(1, len(drawing.strokes)))
    for index, stroke in enumerate(drawing.strokes):
        if not stroke.points:
            continue
        color = colors[index]
        points = np.asarray(stroke.points, dtype=np.float64)
        path = points
        if not stroke.timed and len(points) >= 2:
            distinct = distinct_points(points)
            path = spline_path(distinct) if smooth and len(distinct) >= 2 else distinct
        for a, b in zip(path[:-1], path[1:]):
            draw_segment(canvas, tuple(a), tuple(b), 2.0 * scale, (0.0, 0.0, 0.0))
        for a, b in zip(path[:-1], path[1:]):
            draw_segment(canvas, tuple(a), tuple(b), 1.2 * scale, color)
        draw_disc(canvas, tuple(points[0]), 5.0 * scale, color)
        draw_disc(canvas, tuple(points[0]), 3.0 * scale, (255.0, 255.0, 255.0))
        for point in points[1:]:
            draw_disc(canvas, tuple(point), 2.5 * scale, color)
        if len(path) >= 2 and num_frames >= 2:
            for point in resample_by_arc_length(path, num_frames) if not stroke.timed else points:
                draw_disc(canvas, tuple(point), 1.0 * scale, (255.0, 255.0, 255.0))
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
