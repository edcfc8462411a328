"""The 2D trajectory contract: one type, one reader per file format, one resize rule, one outlier rule.

A trajectory is the per-frame pixel position of one tracked or dragged point in an image of a known
size, pixel centres at integer coordinates (docs/conventions.md). :class:`Trajectories` holds N of
them over T frames, point-major: ``points`` (N, T, 2), ``visible`` (N, T), with their ids, the image
size and where they came from. The benchmark, the pipeline, ``posetraj generate`` and the trainer all
read files through :func:`load_trajectories` (or the per-format readers below) and get the same arrays.

Formats:

* DragAnything / PoseTraj JSON ``{id: [[x, y], ...]}``: every id has the same number of frames; NaN,
  infinity, non-numbers and ragged lists are errors. Ids that are all integers are ordered numerically.
* ``traj.npy``: (T, 2) or (T, N, 2) float array (the original PoseTraj layout, frame-major); non-finite
  entries are missing (invisible) points.
* a clip of our clip format (its directory or ``annotations.npz``): ``center_2d`` (T, 2; default),
  ``ground_2d`` (T, 2) or ``tracks_2d`` (T, N, 2) with ``tracks_visible``.

The resize rule maps the image extent ``[-0.5, W - 0.5]`` onto ``[-0.5, W' - 0.5]``. The outlier rule:
a point more than ``margin`` times the image width left or right of the frame, or ``margin`` times its
height above or below it, is an outlier (diverged tracker output, common in the released VIPSeg files).
Being per axis, the rule gives the same answer before and after any resize. What happens to outliers is
a policy: ``keep`` them (the field's protocol), ``hide`` those points (mark them invisible), ``drop``
every trajectory that has one, or raise an ``error``. Readers default to ``drop`` for JSON files (tracker
output) and to ``keep`` for ``traj.npy`` and clips (exact ground truth, whose off-frame points are real
positions); the model's conditioning hides whatever outliers are left.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

OUTLIER_MARGIN = 0.1
OUTLIER_POLICIES = ("keep", "hide", "drop", "error")
CLIP_KEYS = ("center_2d", "ground_2d", "tracks_2d")


class TrajectoryFormatError(ValueError):
    """A trajectory file or array is malformed (the message says which file, trajectory and frame)."""


class TrajectoryFileNotFoundError(TrajectoryFormatError, FileNotFoundError):
    """A trajectory file does not exist."""


def _default_ids(count: int) -> tuple[str, ...]:
    return tuple(str(i) for i in range(count))


@dataclass(frozen=True)
class Trajectories:
    """N point trajectories over T frames: ``points`` (N, T, 2) float64 pixels, ``visible`` (N, T) bool.

    ``size`` is (width, height) of the image the points refer to (None when unknown, e.g. a JSON file
    read without its image); ``ids`` name the trajectories; ``source`` says where they came from;
    ``dropped`` lists the ids an outlier policy removed.
    """

    points: np.ndarray
    visible: np.ndarray
    size: tuple[int, int] | None
    ids: tuple[str, ...] = ()
    source: str = ""
    dropped: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        points = np.asarray(self.points, dtype=np.float64)
        if points.ndim != 3 or points.shape[2] != 2:
            raise TrajectoryFormatError(f"{self._where}trajectory points must have shape (N, T, 2), got {points.shape}")
        visible = np.asarray(self.visible, dtype=bool)
        if visible.shape != points.shape[:2]:
            raise TrajectoryFormatError(
                f"{self._where}visibility shape {visible.shape} does not match points {points.shape[:2]}")
        ids = tuple(str(i) for i in self.ids) or _default_ids(points.shape[0])
        if len(ids) != points.shape[0]:
            raise TrajectoryFormatError(f"{self._where}{len(ids)} ids for {points.shape[0]} trajectories")
        size = None
        if self.size is not None:
            if len(self.size) != 2 or min(int(self.size[0]), int(self.size[1])) <= 0:
                raise TrajectoryFormatError(f"{self._where}image size must be (width, height) > 0, got {self.size}")
            size = (int(self.size[0]), int(self.size[1]))
        object.__setattr__(self, "points", points)
        object.__setattr__(self, "visible", visible & np.isfinite(points).all(axis=-1))
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "dropped", tuple(self.dropped))

    @property
    def _where(self) -> str:
        return f"{self.source}: " if self.source else ""

    @classmethod
    def from_array(cls, points: np.ndarray, size: tuple[int, int] | None, visible: np.ndarray | None = None,
                   *, ids: tuple[str, ...] = (), source: str = "") -> "Trajectories":
        """From a frame-major ``(T, 2)`` or ``(T, N, 2)`` array (the original ``traj.npy`` layout) and an
        optional ``(T,)`` / ``(T, N)`` visibility; non-finite points are invisible."""
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim == 2 and pts.shape[1] == 2:
            pts = pts[:, None, :]
            if visible is not None:
                visible = np.asarray(visible).reshape(-1, 1)
        if pts.ndim != 3 or pts.shape[-1] != 2:
            where = f"{source}: " if source else ""
            raise TrajectoryFormatError(f"{where}trajectory array must have shape (T, 2) or (T, N, 2), got {pts.shape}")
        vis = np.ones(pts.shape[:2], dtype=bool) if visible is None else np.asarray(visible, dtype=bool)
        return cls(points=pts.transpose(1, 0, 2), visible=vis.T, size=size, ids=ids, source=source)

    @classmethod
    def from_dict(cls, tracks: dict, size: tuple[int, int] | None, *, source: str = "") -> "Trajectories":
        """From ``{id: (T, 2) positions}`` of equal lengths (NaN marks missing points), in the dict's order."""
        where = f"{source}: " if source else ""
        if not tracks:
            raise TrajectoryFormatError(f"{where}no trajectories (empty dict)")
        arrays = [np.asarray(v, dtype=np.float64) for v in tracks.values()]
        for key, array in zip(tracks, arrays):
            if array.ndim != 2 or array.shape[1] != 2:
                raise TrajectoryFormatError(f"{where}trajectory {key!r} must have shape (T, 2), got {array.shape}")
        if len({a.shape[0] for a in arrays}) != 1:
            raise TrajectoryFormatError(f"{where}trajectories have different lengths {sorted({a.shape[0] for a in arrays})}")
        points = np.stack(arrays)
        return cls(points=points, visible=np.ones(points.shape[:2], bool), size=size, ids=tuple(tracks), source=source)

    @property
    def num_points(self) -> int:
        return int(self.points.shape[0])

    @property
    def num_frames(self) -> int:
        return int(self.points.shape[1])

    def frame_major(self) -> np.ndarray:
        """Points as (T, N, 2), the original PoseTraj layout."""
        return self.points.transpose(1, 0, 2)

    def as_dict(self, num_frames: int | None = None) -> dict[str, list[list[float]]]:
        """``{id: [[x, y], ...]}`` (the first ``num_frames`` frames), as the JSON format stores it."""
        return {i: p[:num_frames].tolist() for i, p in zip(self.ids, self.points)}

    def subset(self, keep: np.ndarray) -> "Trajectories":
        """The trajectories where the boolean (N,) ``keep`` is true."""
        keep = np.asarray(keep, dtype=bool)
        return replace(self, points=self.points[keep], visible=self.visible[keep],
                       ids=tuple(i for i, k in zip(self.ids, keep) if k))


# ------------------------------------------------------------------------------------------------
# The resize rule and the outlier rule
# ------------------------------------------------------------------------------------------------


def rescale(traj: Trajectories, size: tuple[int, int]) -> Trajectories:
    """Map trajectories to an image of ``size = (width, height)`` by a float scale per axis.

    With integer pixel centres the image spans ``[-0.5, W - 0.5]``, so ``x' = (x + 0.5) W'/W - 0.5``.
    """
    if traj.size is None:
        raise TrajectoryFormatError(f"{traj._where}cannot resize trajectories whose image size is unknown")
    scale = np.array([size[0] / traj.size[0], size[1] / traj.size[1]])
    return replace(traj, points=(traj.points + 0.5) * scale - 0.5, visible=traj.visible.copy(),
                   size=(int(size[0]), int(size[1])))


def outlier_points(points: np.ndarray, size: tuple[int, int], margin: float = OUTLIER_MARGIN) -> np.ndarray:
    """(N, T) True where a point of ``points`` (N, T, 2) lies more than ``margin`` x width (horizontally)
    or ``margin`` x height (vertically) outside the ``size = (width, height)`` image, or is not finite."""
    width, height = size
    mx, my = margin * width, margin * height
    x, y = points[..., 0], points[..., 1]
    with np.errstate(invalid="ignore"):
        inside = (x >= -0.5 - mx) & (x <= width - 0.5 + mx) & (y >= -0.5 - my) & (y <= height - 0.5 + my)
    return ~inside


def hide_outliers(traj: Trajectories, margin: float = OUTLIER_MARGIN) -> tuple[Trajectories, int]:
    """Outlier points marked invisible; returns the trajectories and how many visible points were hidden."""
    if traj.size is None:
        raise TrajectoryFormatError(f"{traj._where}the outlier rule needs the image size")
    outside = outlier_points(traj.points, traj.size, margin)
    hidden = int((traj.visible & outside).sum())
    return replace(traj, visible=traj.visible & ~outside), hidden


def apply_outlier_policy(traj: Trajectories, policy: str = "drop", margin: float = OUTLIER_MARGIN) -> Trajectories:
    """``keep``, ``hide``, ``drop`` or ``error`` on the outliers of ``traj`` (see the module docstring).

    ``drop`` removes every trajectory with a finite point outside the margin and lists it in ``dropped``;
    dropping all of them is an error ("every trajectory is an outlier").
    """
    if policy not in OUTLIER_POLICIES:
        raise ValueError(f"outliers must be one of {OUTLIER_POLICIES}, got {policy!r}")
    if policy == "keep":
        return traj
    if traj.size is None:
        raise ValueError(f"{traj._where}the outlier check needs the image width and height")
    if policy == "hide":
        return hide_outliers(traj, margin)[0]
    finite = np.isfinite(traj.points).all(axis=-1)
    bad = (outlier_points(traj.points, traj.size, margin) & finite).any(axis=1)
    if not bad.any():
        return traj
    bad_ids = tuple(i for i, b in zip(traj.ids, bad) if b)
    width, height = traj.size
    if policy == "error":
        raise TrajectoryFormatError(
            f"{traj._where}trajectories {list(bad_ids)} leave the {width}x{height} frame by more than "
            f"{margin:.0%} of its size (use outliers='drop' or 'keep')")
    if bad.all():
        raise TrajectoryFormatError(f"{traj._where}every trajectory is an outlier; nothing left to score")
    return replace(traj.subset(~bad), dropped=traj.dropped + bad_ids)


def select_frames(traj: Trajectories, num_frames: int, start: int = 0) -> Trajectories:
    """Frames ``start .. start + num_frames - 1``; frames past the end are padded as invisible."""
    if start < 0 or start >= traj.num_frames:
        raise ValueError(f"start frame {start} outside the trajectory's {traj.num_frames} frames")
    points = traj.points[:, start:start + num_frames]
    visible = traj.visible[:, start:start + num_frames]
    missing = num_frames - points.shape[1]
    if missing > 0:
        points = np.concatenate([points, np.repeat(points[:, -1:], missing, axis=1)], axis=1)
        visible = np.concatenate([visible, np.zeros((traj.num_points, missing), dtype=bool)], axis=1)
    return replace(traj, points=points, visible=visible)


# ------------------------------------------------------------------------------------------------
# Readers, one per format
# ------------------------------------------------------------------------------------------------


def _json_order(keys: list[str]) -> list[str]:
    """Ids in numeric order when they are all integers, else in the file's order."""
    if keys and all(k.lstrip("-").isdigit() for k in keys):
        return sorted(keys, key=int)
    return keys


def parse_trajectory_json(data: object, source: str, size: tuple[int, int] | None = None, *,
                          outliers: str = "drop", margin: float = OUTLIER_MARGIN) -> Trajectories:
    """Validate a decoded DragAnything JSON object and return its trajectories (outlier policy applied)."""
    if outliers not in OUTLIER_POLICIES:
        raise ValueError(f"outliers must be one of {OUTLIER_POLICIES}, got {outliers!r}")
    if not isinstance(data, dict) or not data:
        raise TrajectoryFormatError(f"{source}: expected a non-empty JSON object {{id: [[x, y], ...]}}")
    length = None
    tracks: dict[str, np.ndarray] = {}
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
                f"{source}: trajectory {key!r} has {len(value)} frames, the first one has {length} "
                f"(trajectories have different lengths)")
        tracks[str(key)] = np.asarray(value, dtype=np.float64)
    ordered = {key: tracks[key] for key in _json_order(list(tracks))}
    traj = Trajectories.from_dict(ordered, size, source=source)
    return apply_outlier_policy(traj, outliers, margin)


def read_trajectory_json(path: str | Path, size: tuple[int, int] | None = None, *, outliers: str = "drop",
                         margin: float = OUTLIER_MARGIN) -> Trajectories:
    """One DragAnything / PoseTraj JSON file at its image's ``size`` (see :func:`parse_trajectory_json`)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise TrajectoryFileNotFoundError(f"{path}: trajectory file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TrajectoryFormatError(f"{path}: not valid JSON ({exc})") from None
    return parse_trajectory_json(data, str(path), size, outliers=outliers, margin=margin)


def write_trajectory_json(path: str | Path, traj: Trajectories, num_frames: int | None = None) -> Path:
    """Write ``traj`` (its first ``num_frames`` frames) as DragAnything JSON, atomically."""
    from common.atomic import write_json_atomic

    return write_json_atomic(Path(path), traj.as_dict(num_frames))


def read_trajectory_npy(path: str | Path, size: tuple[int, int] | None, *, outliers: str = "keep",
                        margin: float = OUTLIER_MARGIN) -> Trajectories:
    """A ``traj.npy`` array, (T, 2) or (T, N, 2) in pixels of an image of ``size``."""
    path = Path(path)
    try:
        points = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise TrajectoryFileNotFoundError(f"{path}: trajectory file not found") from None
    except (ValueError, OSError) as exc:
        raise TrajectoryFormatError(f"{path}: not a plain numeric .npy array ({exc})") from None
    if points.ndim not in (2, 3) or points.shape[-1] != 2 or not np.issubdtype(points.dtype, np.number):
        raise TrajectoryFormatError(f"{path}: expected a numeric array of shape (T, 2) or (T, N, 2), got "
                                    f"{points.shape} {points.dtype}")
    traj = Trajectories.from_array(points, size, source=str(path))
    return apply_outlier_policy(traj, outliers, margin)


def read_clip_trajectories(path: str | Path, key: str = "center_2d", *, outliers: str = "keep",
                           margin: float = OUTLIER_MARGIN) -> Trajectories:
    """Trajectories of a rendered clip (its directory or ``annotations.npz``), read through the clip reader.

    ``center_2d`` / ``ground_2d`` points are all visible (``center_visible`` is about the object's mask,
    not about where the object should go); ``tracks_2d`` comes with ``tracks_visible``.
    """
    from common.clip_format import load_clip

    if key not in CLIP_KEYS:
        raise ValueError(f"unknown clip trajectory key {key!r}; use one of {', '.join(CLIP_KEYS)}")
    clip = load_clip(Path(path), require_marker=False)
    if not clip.has_array(key):
        raise TrajectoryFormatError(f"{clip.annotations_path}: no {key!r} array")
    points = clip.arrays(key)[key]
    visible = clip.arrays("tracks_visible")["tracks_visible"] if key == "tracks_2d" else None
    if "width" not in clip.meta:
        raise TrajectoryFormatError(f"{clip.annotations_path}: image size unknown (no meta.json beside it and "
                                    f"no depth array)")
    traj = Trajectories.from_array(points, clip.size, visible, source=f"{clip.annotations_path}:{key}")
    return apply_outlier_policy(traj, outliers, margin)


def load_trajectories(path: str | Path, native_size: tuple[int, int] | None = None, *, clip_key: str = "center_2d",
                      outliers: str | None = None, margin: float = OUTLIER_MARGIN) -> Trajectories:
    """Trajectories from a clip directory, ``annotations.npz``, ``traj.npy``-style ``.npy`` or DragAnything
    ``.json``. ``.npy`` and ``.json`` carry no image size: pass ``native_size`` (width, height), usually the
    size of the image they were drawn on; a clip knows its own. ``outliers`` None: the format's default
    policy (see the module docstring)."""
    path = Path(path)
    if path.is_dir() or path.suffix.lower() == ".npz":
        if not path.exists():
            raise TrajectoryFileNotFoundError(f"{path}: trajectory file not found")
        return read_clip_trajectories(path, clip_key, outliers=outliers or "keep", margin=margin)
    if not path.is_file():
        raise TrajectoryFileNotFoundError(f"{path}: trajectory file not found")
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".json"):
        raise TrajectoryFormatError(f"{path}: unknown trajectory format {suffix!r} (use a clip dir, .npz, .npy or .json)")
    if native_size is None:
        raise TrajectoryFormatError(f"{path}: {suffix} trajectories carry no resolution; pass "
                                    f"native_size=(width, height), the size of the image they were drawn on")
    if suffix == ".npy":
        return read_trajectory_npy(path, native_size, outliers=outliers or "keep", margin=margin)
    return read_trajectory_json(path, native_size, outliers=outliers or "drop", margin=margin)
