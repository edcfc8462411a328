"""Ground-truth "tracker" for rendered clips: the annotated tracks (``tracks_2d``, ``tracks_visible``).

Each query (t, x, y) is matched to the annotated point nearest to (x, y) at frame t; the match must lie
within ``tolerance_px`` (default 0.5 px), otherwise tracking fails with an error naming the query. The
video itself is only checked for length and size (when the clip's ``meta.json`` gives the size).
Useful for testing the benchmark harness and as an upper bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.trackers.base import TrackerConfig, Tracker, TrackResult


@dataclass(frozen=True)
class OracleConfig(TrackerConfig):
    """Either ``clip`` (a clip directory) or the arrays ``tracks_2d`` (T, N, 2) and ``tracks_visible`` (T, N)."""

    clip: str | None = None
    tracks_2d: np.ndarray | None = None
    tracks_visible: np.ndarray | None = None
    tolerance_px: float = 0.5


def read_clip_tracks(clip: Path) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """tracks_2d, tracks_visible and (H, W) of a clip directory, through the clip reader."""
    from common.clip_format import load_clip

    opened = load_clip(Path(clip))
    arrays = opened.arrays("tracks_2d", "tracks_visible")
    width, height = opened.size
    return np.asarray(arrays["tracks_2d"], np.float32), np.asarray(arrays["tracks_visible"], bool), (height, width)


class OracleTracker(Tracker):
    name = "oracle"
    independent_queries = True  # each query is looked up on its own

    def __init__(self, config: OracleConfig) -> None:
        self.config = config
        if config.clip is not None:
            self.tracks_2d, self.tracks_visible, self.size = read_clip_tracks(Path(config.clip))
        elif config.tracks_2d is not None and config.tracks_visible is not None:
            self.tracks_2d = np.asarray(config.tracks_2d, np.float32)
            self.tracks_visible = np.asarray(config.tracks_visible, bool)
            self.size = None
        else:
            raise ValueError("the oracle tracker needs clip=<clip dir> or tracks_2d and tracks_visible arrays")
        if self.tracks_2d.ndim != 3 or self.tracks_2d.shape[2] != 2 or self.tracks_visible.shape != self.tracks_2d.shape[:2]:
            raise ValueError(
                f"oracle annotations have shapes tracks_2d {self.tracks_2d.shape}, tracks_visible {self.tracks_visible.shape}"
            )

    def describe(self) -> dict[str, Any]:
        return {
            "tracker": self.name,
            "weights": None,
            "weights_sha256": None,
            "settings": {"clip": self.config.clip, "tolerance_px": self.config.tolerance_px},
        }

    def match(self, queries: np.ndarray) -> np.ndarray:
        """Index of the annotated point matching each query; raises ValueError when one has none."""
        frames = queries[:, 0].astype(np.int64)
        positions = self.tracks_2d[frames]  # (N, P, 2)
        distances = np.linalg.norm(positions - queries[:, None, 1:], axis=2)
        nearest = np.argmin(distances, axis=1)
        best = distances[np.arange(len(queries)), nearest]
        bad = np.flatnonzero(~(best <= self.config.tolerance_px))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"oracle: query {i} (t={frames[i]}, x={queries[i, 1]:.2f}, y={queries[i, 2]:.2f}) matches no annotated "
                f"point within {self.config.tolerance_px} px (nearest is {best[i]:.2f} px away)"
            )
        return nearest

    def _track(self, video: np.ndarray, queries: np.ndarray) -> TrackResult:
        if video.shape[0] != self.tracks_2d.shape[0]:
            raise ValueError(f"oracle: video has {video.shape[0]} frames, annotations {self.tracks_2d.shape[0]}")
        if self.size is not None and video.shape[1:3] != self.size:
            raise ValueError(f"oracle: video is {video.shape[2]}x{video.shape[1]}, clip is {self.size[1]}x{self.size[0]}")
        index = self.match(queries) if len(queries) else np.zeros(0, np.int64)
        return TrackResult(
            tracks=self.tracks_2d[:, index].astype(np.float32),
            visibility=self.tracks_visible[:, index].copy(),
            confidence=None,
        )
