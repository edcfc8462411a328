"""Trajectory overlays on generated videos: each point's path so far and its current position."""

from __future__ import annotations

import colorsys

import numpy as np

from posetraj.conditioning import Trajectories, drop_off_frame_outliers, rescale
from posetraj.drawing import draw_disc, draw_segment


def point_colors(count: int) -> list[tuple[float, float, float]]:
    """Distinct, fixed RGB colours (0..255) for ``count`` points."""
    return [tuple(255.0 * c for c in colorsys.hsv_to_rgb((0.61803 * i) % 1.0, 0.9, 1.0)) for i in range(count)]


def draw_trajectory_overlay(
    frames: np.ndarray, traj: Trajectories, line_width: float = 2.0, off_frame_margin: float = 0.1,
) -> np.ndarray:
    """Frames (T, H, W, 3) uint8 with, at frame t, the path up to t and a dot at t, per visible point.

    Off-frame outliers are dropped as in the conditioning (``drop_off_frame_outliers``).
    """
    height, width = frames.shape[1:3]
    scaled, _ = drop_off_frame_outliers(rescale(traj, (width, height)), off_frame_margin)
    colors = point_colors(scaled.num_points)
    out = frames.astype(np.float32)
    for t in range(min(frames.shape[0], scaled.num_frames)):
        for n, color in enumerate(colors):
            for k in range(t):
                if scaled.visible[k, n] and scaled.visible[k + 1, n]:
                    draw_segment(out[t], tuple(scaled.points[k, n]), tuple(scaled.points[k + 1, n]), line_width, color)
            if scaled.visible[t, n]:
                draw_disc(out[t], tuple(scaled.points[t, n]), line_width + 1.0, color)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
