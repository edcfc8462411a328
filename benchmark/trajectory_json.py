"""Read and write conditioning trajectories in the DragAnything / PoseTraj JSON format.

The format is ``{id: [[x, y], ...], ...}``: one list of per-frame pixel positions per entity, at the
native resolution of the video the trajectories were drawn on, pixel centres at integer coordinates
(docs/conventions.md). Every entity of one file has the same number of frames.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

OUTLIER_POLICIES = ("keep", "drop", "error")


class TrajectoryFormatError(ValueError):
    """A trajectory file is malformed (the message says which file, entity and frame)."""


@dataclass(frozen=True)
class TrajectorySet:
    """Trajectories of one sample: ``ids[i]`` owns ``points[i]`` (T, 2) in pixels."""

    ids: tuple[str, ...]
    points: np.ndarray  # (N, T, 2) float64
    dropped: tuple[str, ...] = ()

    @property
    def num_frames(self) -> int:
        return int(self.points.shape[1])


def outlier_mask(points: np.ndarray, width: int, height: int, margin: float) -> np.ndarray:
    """(N,) True for trajectories with a point more than ``margin`` × frame size outside the image."""
    mx, my = margin * width, margin * height
    x, y = points[..., 0], points[..., 1]
    outside = (x < -0.5 - mx) | (x > width - 0.5 + mx) | (y < -0.5 - my) | (y > height - 0.5 + my)
    return outside.any(axis=1)


def parse_trajectories(
    data: object,
    source: str,
    *,
    width: int | None = None,
    height: int | None = None,
    outliers: str = "error",
    margin: float = 0.1,
) -> TrajectorySet:
    """Validate a decoded JSON object and return its trajectories.

    NaN, infinity, non-numeric values, ragged or empty lists are errors. Trajectories leaving the
    frame by more than ``margin`` × its size (diverged tracker output, common in the released VIPSeg
    files) are kept, dropped or rejected according to ``outliers`` (needs ``width`` and ``height``).
    """
    if outliers not in OUTLIER_POLICIES:
        raise ValueError(f"outliers must be one of {OUTLIER_POLICIES}, got {outliers!r}")
    if not isinstance(data, dict) or not data:
        raise TrajectoryFormatError(f"{source}: expected a non-empty JSON object {{id: [[x, y], ...]}}")
    ids, arrays = [], []
    length = None
    for key, value in data.items():
        if not isinstance(value, list) or not value:
            raise TrajectoryFormatError(f"{source}: trajectory {key!r} is not a non-empty list of [x, y]")
        for t, point in enumerate(value):
            if (
                not isinstance(point, (list, tuple))
                or len(point) != 2
                or not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in point)
            ):
                raise TrajectoryFormatError(f"{source}: trajectory {key!r} frame {t}: expected [x, y], got {point!r}")
            if not all(math.isfinite(c) for c in point):
                raise TrajectoryFormatError(f"{source}: trajectory {key!r} frame {t}: non-finite value {point!r}")
        if length is None:
            length = len(value)
        elif len(value) != length:
            raise TrajectoryFormatError(
                f"{source}: trajectory {key!r} has {len(value)} frames, the first one has {length}")
        ids.append(str(key))
        arrays.append(np.asarray(value, dtype=np.float64))
    points = np.stack(arrays)
    dropped: tuple[str, ...] = ()
    if outliers != "keep":
        if width is None or height is None:
            raise ValueError("the outlier check needs the image width and height")
        bad = outlier_mask(points, width, height, margin)
        if bad.any():
            bad_ids = tuple(i for i, b in zip(ids, bad) if b)
            if outliers == "error":
                raise TrajectoryFormatError(
                    f"{source}: trajectories {list(bad_ids)} leave the {width}x{height} frame by more than "
                    f"{margin:.0%} of its size (use outliers='drop' or 'keep')")
            keep = ~bad
            if not keep.any():
                raise TrajectoryFormatError(f"{source}: every trajectory is an outlier; nothing left to score")
            ids = [i for i, k in zip(ids, keep) if k]
            points = points[keep]
            dropped = bad_ids
    return TrajectorySet(ids=tuple(ids), points=points, dropped=dropped)


def load_trajectory_json(path: str | Path, **kwargs) -> TrajectorySet:
    """Read one DragAnything-format JSON file (see :func:`parse_trajectories` for the checks)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise TrajectoryFormatError(f"{path}: trajectory file not found") from None
    except json.JSONDecodeError as exc:
        raise TrajectoryFormatError(f"{path}: not valid JSON ({exc})") from None
    return parse_trajectories(data, str(path), **kwargs)
