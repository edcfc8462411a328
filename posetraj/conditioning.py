"""Trajectory conditioning: user trajectories -> per-frame conditioning images for the ControlNet.

Trajectories are ``(x, y)`` pixel positions per frame in the image they were drawn on (pixel centres
at integer coordinates, docs/conventions.md). Two encodings are available:

* ``"segments"`` (the original PoseTraj conditioning): frame ``k`` shows, for every point, the
  segment from its position at frame ``k`` to its position at frame ``k + 1`` (red, 3 px) with a
  filled head dot at frame ``k + 1`` (green, radius 3 px), on a fresh black canvas; the last frame
  is blank. Drawing is sub-pixel anti-aliased. Values are mapped to [-1, 1] (black = -1) as the
  original did.
* ``"gaussian"``: dense displacement maps. Frame ``k`` splats a Gaussian at each point's position
  at frame ``k`` carrying its displacement to frame ``k + 1``; channels are the weighted mean
  displacement ``(dx, dy) / displacement_scale`` clipped to [-1, 1], and the splat weight (max over
  points) in [0, 1]. The last frame is zero. 0 means "no information" in every channel.

Both give 3 channels. Resolution changes use a float rescale that maps the image extent
``[-0.5, W - 0.5]`` onto ``[-0.5, W' - 0.5]``; points beyond the frame by more than
``off_frame_margin`` (a fraction of the larger image side) are tracker outliers and are marked
invisible; points off-frame but within the margin keep their segments, which are clipped by the
canvas.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from posetraj.drawing import draw_disc, draw_segment

Encoding = Literal["segments", "gaussian"]


@dataclass(frozen=True)
class Trajectories:
    """Pixel trajectories of N points over T frames in an image of ``size = (width, height)``."""

    points: np.ndarray  # (T, N, 2) float64, (x, y) per frame and point
    visible: np.ndarray  # (T, N) bool
    size: tuple[int, int]  # (width, height) of the image the points refer to

    def __post_init__(self) -> None:
        if self.points.ndim != 3 or self.points.shape[2] != 2:
            raise ValueError(f"trajectory points must have shape (T, N, 2), got {self.points.shape}")
        if self.visible.shape != self.points.shape[:2]:
            raise ValueError(f"visibility shape {self.visible.shape} does not match points {self.points.shape[:2]}")
        if len(self.size) != 2 or min(self.size) <= 0:
            raise ValueError(f"image size must be (width, height) > 0, got {self.size}")

    @classmethod
    def from_array(cls, points: np.ndarray, size: tuple[int, int], visible: np.ndarray | None = None) -> "Trajectories":
        """Build from a ``(T, 2)`` or ``(T, N, 2)`` array; non-finite points are invisible."""
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim == 2 and pts.shape[1] == 2:
            pts = pts[:, None, :]
            if visible is not None:
                visible = np.asarray(visible).reshape(-1, 1)
        if pts.ndim != 3 or pts.shape[-1] != 2:
            raise ValueError(f"trajectory array must have shape (T, 2) or (T, N, 2), got {pts.shape}")
        vis = np.ones(pts.shape[:2], dtype=bool) if visible is None else np.asarray(visible, dtype=bool).copy()
        vis &= np.isfinite(pts).all(axis=-1)
        return cls(points=pts, visible=vis, size=(int(size[0]), int(size[1])))

    @property
    def num_frames(self) -> int:
        return int(self.points.shape[0])

    @property
    def num_points(self) -> int:
        return int(self.points.shape[1])


def rescale(traj: Trajectories, size: tuple[int, int]) -> Trajectories:
    """Map trajectories to an image of ``size = (width, height)`` by a float scale per axis.

    With integer pixel centres the image spans ``[-0.5, W - 0.5]``, so ``x' = (x + 0.5) W'/W - 0.5``.
    """
    scale = np.array([size[0] / traj.size[0], size[1] / traj.size[1]])
    points = (traj.points + 0.5) * scale - 0.5
    return Trajectories(points=points, visible=traj.visible.copy(), size=(int(size[0]), int(size[1])))


def drop_off_frame_outliers(traj: Trajectories, margin: float = 0.1) -> tuple[Trajectories, int]:
    """Mark points farther than ``margin * max(W, H)`` outside the image invisible.

    Returns the new trajectories and the number of visible points that were dropped. Trackers such
    as CoTracker return such points for lost tracks (coordinates far outside the frame).
    """
    width, height = traj.size
    pad = margin * max(width, height)
    x, y = traj.points[..., 0], traj.points[..., 1]
    inside = (x >= -0.5 - pad) & (x <= width - 0.5 + pad) & (y >= -0.5 - pad) & (y <= height - 0.5 + pad)
    inside &= np.isfinite(traj.points).all(axis=-1)
    dropped = int((traj.visible & ~inside).sum())
    return replace(traj, visible=traj.visible & inside), dropped


def select_frames(traj: Trajectories, num_frames: int, start: int = 0) -> Trajectories:
    """Frames ``start .. start + num_frames - 1``; frames past the end are padded as invisible."""
    if start < 0 or start >= traj.num_frames:
        raise ValueError(f"start frame {start} outside the trajectory's {traj.num_frames} frames")
    points = traj.points[start:start + num_frames]
    visible = traj.visible[start:start + num_frames]
    missing = num_frames - points.shape[0]
    if missing > 0:
        points = np.concatenate([points, np.repeat(points[-1:], missing, axis=0)])
        visible = np.concatenate([visible, np.zeros((missing, traj.num_points), dtype=bool)])
    return Trajectories(points=points, visible=visible, size=traj.size)


@dataclass(frozen=True)
class ConditioningConfig:
    """How trajectories become conditioning images. Lengths are in pixels of the canvas."""

    encoding: Encoding = "segments"
    line_width: float = 3.0
    head_radius: float = 3.0
    line_color: tuple[float, float, float] = (1.0, 0.0, 0.0)
    head_color: tuple[float, float, float] = (0.0, 1.0, 0.0)
    gaussian_sigma: float = 4.0
    displacement_scale: float = 16.0
    off_frame_margin: float = 0.1
    channels: int = field(default=3, init=False)

    def __post_init__(self) -> None:
        if self.encoding not in ("segments", "gaussian"):
            raise ValueError(f"unknown conditioning encoding {self.encoding!r}; use 'segments' or 'gaussian'")


def rasterize_segments(traj: Trajectories, config: ConditioningConfig = ConditioningConfig()) -> np.ndarray:
    """The original PoseTraj conditioning frames, ``(T, H, W, 3)`` float32 in [0, 1] at ``traj.size``.

    Frame k draws segment k -> k+1 of every point whose both ends are visible, and a head dot at
    k+1 when that end is visible. The last frame is blank.
    """
    width, height = traj.size
    frames = np.zeros((traj.num_frames, height, width, 3), dtype=np.float32)
    for k in range(traj.num_frames - 1):
        canvas = frames[k]
        for n in range(traj.num_points):
            p0, p1 = traj.points[k, n], traj.points[k + 1, n]
            if traj.visible[k, n] and traj.visible[k + 1, n]:
                draw_segment(canvas, tuple(p0), tuple(p1), config.line_width, config.line_color)
        for n in range(traj.num_points):
            if traj.visible[k + 1, n]:
                draw_disc(canvas, tuple(traj.points[k + 1, n]), config.head_radius, config.head_color)
    return frames


def gaussian_displacement_maps(traj: Trajectories, config: ConditioningConfig = ConditioningConfig()) -> np.ndarray:
    """Dense encoding, ``(T, H, W, 3)`` float32: mean displacement (x, y) / scale and splat weight."""
    width, height = traj.size
    out = np.zeros((traj.num_frames, height, width, 3), dtype=np.float32)
    sigma = config.gaussian_sigma
    reach = 3.0 * sigma
    for k in range(traj.num_frames - 1):
        weighted = np.zeros((height, width, 2))
        total = np.zeros((height, width))
        peak = np.zeros((height, width))
        for n in range(traj.num_points):
            if not (traj.visible[k, n] and traj.visible[k + 1, n]):
                continue
            x, y = traj.points[k, n]
            c0, c1 = max(int(np.floor(x - reach)), 0), min(int(np.ceil(x + reach)) + 1, width)
            r0, r1 = max(int(np.floor(y - reach)), 0), min(int(np.ceil(y + reach)) + 1, height)
            if c0 >= c1 or r0 >= r1:
                continue
            xs = np.arange(c0, c1)[None, :] - x
            ys = np.arange(r0, r1)[:, None] - y
            weight = np.exp(-(xs * xs + ys * ys) / (2.0 * sigma * sigma))
            disp = traj.points[k + 1, n] - traj.points[k, n]
            weighted[r0:r1, c0:c1] += weight[..., None] * disp
            total[r0:r1, c0:c1] += weight
            peak[r0:r1, c0:c1] = np.maximum(peak[r0:r1, c0:c1], weight)
        mean = np.divide(weighted, total[..., None], out=np.zeros_like(weighted), where=total[..., None] > 1e-12)
        out[k, ..., :2] = np.clip(mean / config.displacement_scale, -1.0, 1.0)
        out[k, ..., 2] = peak
    return out


def encode_trajectories(
    traj: Trajectories, num_frames: int, width: int, height: int,
    config: ConditioningConfig = ConditioningConfig(),
) -> tuple[np.ndarray, int]:
    """Conditioning for the ControlNet: ``(num_frames, 3, height, width)`` float32 and #outliers dropped.

    Rescales ``traj`` to ``(width, height)``, drops off-frame outliers, takes the first
    ``num_frames`` frames and applies the configured encoding (segments in [-1, 1], gaussian as is).
    """
    scaled = rescale(traj, (width, height))
    scaled, dropped = drop_off_frame_outliers(scaled, config.off_frame_margin)
    scaled = select_frames(scaled, num_frames)
    if config.encoding == "segments":
        frames = rasterize_segments(scaled, config) * 2.0 - 1.0
    else:
        frames = gaussian_displacement_maps(scaled, config)
    return np.ascontiguousarray(frames.transpose(0, 3, 1, 2)), dropped
