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

Both give 3 channels. Trajectories are :class:`common.trajectories.Trajectories`; resolution changes
and tracker outliers follow that module's one resize rule and one outlier rule: points beyond the frame
by more than ``off_frame_margin`` (of the width horizontally, of the height vertically) are marked
invisible; points off-frame but within the margin keep their segments, which are clipped by the canvas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from common.drawing import draw_disc, draw_segment
from common.trajectories import Trajectories, hide_outliers, rescale, select_frames

Encoding = Literal["segments", "gaussian"]


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
            p0, p1 = traj.points[n, k], traj.points[n, k + 1]
            if traj.visible[n, k] and traj.visible[n, k + 1]:
                draw_segment(canvas, tuple(p0), tuple(p1), config.line_width, config.line_color)
        for n in range(traj.num_points):
            if traj.visible[n, k + 1]:
                draw_disc(canvas, tuple(traj.points[n, k + 1]), config.head_radius, config.head_color)
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
            if not (traj.visible[n, k] and traj.visible[n, k + 1]):
                continue
            x, y = traj.points[n, k]
            c0, c1 = max(int(np.floor(x - reach)), 0), min(int(np.ceil(x + reach)) + 1, width)
            r0, r1 = max(int(np.floor(y - reach)), 0), min(int(np.ceil(y + reach)) + 1, height)
            if c0 >= c1 or r0 >= r1:
                continue
            xs = np.arange(c0, c1)[None, :] - x
            ys = np.arange(r0, r1)[:, None] - y
            weight = np.exp(-(xs * xs + ys * ys) / (2.0 * sigma * sigma))
            disp = traj.points[n, k + 1] - traj.points[n, k]
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
    scaled, dropped = hide_outliers(scaled, config.off_frame_margin)
    scaled = select_frames(scaled, num_frames)
    if config.encoding == "segments":
        frames = rasterize_segments(scaled, config) * 2.0 - 1.0
    else:
        frames = gaussian_displacement_maps(scaled, config)
    return np.ascontiguousarray(frames.transpose(0, 3, 1, 2)), dropped
