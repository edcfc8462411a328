"""The point-tracker interface shared by every tracker.

``tracker.track(video, queries) -> TrackResult``

* ``video``: (T, H, W, 3) RGB, ``uint8`` or floating point **in [0, 255]** (a float video whose maximum
  is <= 1 is refused as a probable [0, 1] video);
* ``queries``: (N, 3) rows ``(t, x, y)``: integer frame index and pixel position, pixel centres at
  integer coordinates (docs/conventions.md);
* result: ``tracks`` (T, N, 2) float32 pixels in the same convention, ``visibility`` (T, N) bool and
  ``confidence`` (T, N) float32 in [0, 1] or ``None`` where the tracker has none.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np


@dataclass(frozen=True)
class TrackResult:
    tracks: np.ndarray  # (T, N, 2) float32, pixels
    visibility: np.ndarray  # (T, N) bool
    confidence: np.ndarray | None = None  # (T, N) float32 in [0, 1]

    def __post_init__(self) -> None:
        if self.tracks.ndim != 3 or self.tracks.shape[2] != 2:
            raise ValueError(f"tracks must be (T, N, 2), got {self.tracks.shape}")
        if self.visibility.shape != self.tracks.shape[:2]:
            raise ValueError(f"visibility {self.visibility.shape} does not match tracks {self.tracks.shape}")
        if self.confidence is not None and self.confidence.shape != self.tracks.shape[:2]:
            raise ValueError(f"confidence {self.confidence.shape} does not match tracks {self.tracks.shape}")


@dataclass(frozen=True)
class TrackerConfig:
    """Base of the per-tracker configuration dataclasses (see ``benchmark.trackers.create_tracker``)."""


def check_video(video: np.ndarray, keep_uint8: bool = False) -> np.ndarray:
    """Validate a (T, H, W, 3) video and return it as float32 in [0, 255] (a uint8 video stays uint8,
    uncopied, with ``keep_uint8``)."""
    video = np.asarray(video)
    if video.ndim != 4 or video.shape[-1] != 3:
        raise ValueError(f"video must be (T, H, W, 3) RGB, got shape {video.shape}")
    if video.shape[0] < 1 or video.shape[1] < 2 or video.shape[2] < 2:
        raise ValueError(f"video is empty or smaller than 2x2 pixels: shape {video.shape}")
    if video.dtype == np.uint8:
        return video if keep_uint8 else video.astype(np.float32)
    if not np.issubdtype(video.dtype, np.floating):
        raise ValueError(f"video dtype must be uint8 or float in [0, 255], got {video.dtype}")
    low, high = float(video.min()), float(video.max())
    if not (np.isfinite(low) and np.isfinite(high)) or low < 0.0 or high > 255.0:
        raise ValueError(f"float video values must lie in [0, 255], got [{low}, {high}]")
    if 0.0 < high <= 1.0:
        raise ValueError(f"float video has maximum {high}: values must be in [0, 255], not [0, 1] (multiply by 255)")
    return video.astype(np.float32, copy=False)


def frame0_queries(points: np.ndarray) -> np.ndarray:
    """(N, 3) float32 (t, x, y) queries of (N, 2) pixel positions in frame 0."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return np.c_[np.zeros(len(points)), points].astype(np.float32)


def check_queries(queries: np.ndarray, num_frames: int) -> np.ndarray:
    """Validate (N, 3) (t, x, y) queries against the video length; returns float32 with integral t."""
    queries = np.asarray(queries, dtype=np.float64)
    if queries.ndim != 2 or queries.shape[1] != 3:
        raise ValueError(f"queries must be (N, 3) rows of (t, x, y), got shape {queries.shape}")
    if not np.all(np.isfinite(queries)):
        raise ValueError("queries contain NaN or infinite values")
    frames = queries[:, 0]
    if np.any(frames != np.round(frames)) or np.any(frames < 0) or np.any(frames >= num_frames):
        bad = int(np.flatnonzero((frames != np.round(frames)) | (frames < 0) | (frames >= num_frames))[0])
        raise ValueError(f"query {bad} has frame {frames[bad]}, expected an integer in [0, {num_frames - 1}]")
    return queries.astype(np.float32)


class Tracker(ABC):
    """A point tracker. Subclasses set ``name`` and implement ``_track`` on validated inputs."""

    name: str = ""
    accepts_uint8: bool = False  # True: ``_track`` gets uint8 videos as they are (no float copy)
    # True: a query's track depends only on the video and that query (not on the other queries), so
    # tracking a subset of queries gives the same tracks for them
    independent_queries: bool = False

    def track(self, video: np.ndarray, queries: np.ndarray) -> TrackResult:
        """Track queries (N, 3) (t, x, y) through video (T, H, W, 3); see the module docstring."""
        frames = check_video(video, keep_uint8=self.accepts_uint8)
        checked = check_queries(queries, frames.shape[0])
        return self._track(frames, checked)

    def track_batch(self, videos: Sequence[np.ndarray], queries: Sequence[np.ndarray]) -> list[TrackResult]:
        """Track several videos; trackers that can batch override this."""
        if len(videos) != len(queries):
            raise ValueError(f"{len(videos)} videos but {len(queries)} query arrays")
        return [self.track(v, q) for v, q in zip(videos, queries)]

    @abstractmethod
    def _track(self, video: np.ndarray, queries: np.ndarray) -> TrackResult:
        """video (T, H, W, 3) float32 in [0, 255] (or uint8 when ``accepts_uint8``); queries (N, 3)
        float32 (t integral)."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """What produced the tracks: ``tracker``, ``weights`` (path or None), ``weights_sha256``, ``settings``."""
