"""Classical fallback tracker: pyramidal Lucas-Kanade (OpenCV) with a forward-backward check.

Every query is tracked frame to frame forward from its query frame to the last frame and backward to
frame 0. A step is trusted (point visible) when LK converged in both directions, tracking the new
position back lands within ``fb_threshold_px`` of the old one, and the point lies inside the image.
Where LK fails the point keeps its last position. OpenCV uses pixel centres at integer coordinates,
as our convention does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from benchmark.trackers.base import TrackerConfig, Tracker, TrackResult


@dataclass(frozen=True)
class LKConfig(TrackerConfig):
    window_px: int = 9  # small: on 30-70 px objects a larger window follows the silhouette, not the surface
    pyramid_levels: int = 3
    max_iterations: int = 30
    epsilon: float = 0.01
    fb_threshold_px: float = 1.0


class LKTracker(Tracker):
    name = "lk"
    accepts_uint8 = True  # OpenCV tracks 8-bit grey images: a uint8 video needs no float round trip
    independent_queries = True  # each point is tracked on its own

    def __init__(self, config: LKConfig | None = None) -> None:
        self.config = config or LKConfig()
        if self.config.window_px < 3 or self.config.pyramid_levels < 0 or self.config.fb_threshold_px <= 0:
            raise ValueError(f"invalid LK settings: {self.config}")

    def describe(self) -> dict[str, Any]:
        return {"tracker": self.name, "weights": None, "weights_sha256": None, "settings": asdict(self.config)}

    def _step(self, src: np.ndarray, dst: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Track points (M, 2) from image src to dst; returns new points and a per-point trust flag."""
        import cv2

        cfg = self.config
        params = dict(
            winSize=(cfg.window_px, cfg.window_px),
            maxLevel=cfg.pyramid_levels,
            criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, cfg.max_iterations, cfg.epsilon),
        )
        start = points.reshape(-1, 1, 2).astype(np.float32)
        moved, status, _ = cv2.calcOpticalFlowPyrLK(src, dst, start, None, **params)
        back, status_back, _ = cv2.calcOpticalFlowPyrLK(dst, src, moved, None, **params)
        moved, back = moved.reshape(-1, 2), back.reshape(-1, 2)
        fb_error = np.linalg.norm(back - points, axis=1)
        height, width = dst.shape
        inside = (moved[:, 0] >= -0.5) & (moved[:, 0] <= width - 0.5) & (moved[:, 1] >= -0.5) & (moved[:, 1] <= height - 0.5)
        ok = (status.ravel() == 1) & (status_back.ravel() == 1) & np.isfinite(fb_error)
        trusted = ok & (fb_error < cfg.fb_threshold_px) & inside
        return np.where(ok[:, None], moved, points), trusted

    def _track(self, video: np.ndarray, queries: np.ndarray) -> TrackResult:
        import cv2

        if video.dtype != np.uint8:
            video = np.clip(np.rint(video), 0, 255).astype(np.uint8)
        gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in video]
        n_frames, n_points = video.shape[0], queries.shape[0]
        frames = queries[:, 0].astype(np.int64)
        tracks = np.zeros((n_frames, n_points, 2), np.float32)
        visible = np.zeros((n_frames, n_points), bool)
        tracks[frames, np.arange(n_points)] = queries[:, 1:]
        visible[frames, np.arange(n_points)] = True
        for direction in (1, -1):
            order = range(n_frames - 1) if direction == 1 else range(n_frames - 1, 0, -1)
            for t in order:
                nxt = t + direction
                # points already started at or before t (forward) / at or after t (backward)
                active = np.flatnonzero(frames <= t if direction == 1 else frames >= t)
                if active.size == 0:
                    continue
                moved, trusted = self._step(gray[t], gray[nxt], tracks[t, active])
                tracks[nxt, active] = moved
                visible[nxt, active] = trusted
        return TrackResult(tracks=tracks, visibility=visible, confidence=None)
