"""Read conditioning trajectories from files.

Formats (all pixel positions follow docs/conventions.md, at the file's native resolution):

* a clip directory of our clip format (docs/clip_format.md) or its ``annotations.npz``: the key
  ``center_2d`` (T, 2; default), ``ground_2d`` (T, 2) or ``tracks_2d`` (T, N, 2, with
  ``tracks_visible``). Native size from ``meta.json`` (width, height) or the ``depth`` array.
  ``center_2d``/``ground_2d`` points are all treated as visible (``center_visible`` is about the
  object's mask, not about where the user wants the object to go); off-frame handling is the
  conditioning's job.
* ``traj.npy``: (T, 2) or (T, N, 2) float array (the original PoseTraj layout).
* DragAnything / PoseTraj JSON ``{id: [[x, y], ...]}``: every id must have the same length T; ids
  are ordered numerically when they are integers.

``.npy`` and ``.json`` files carry no resolution: pass ``native_size`` (width, height), usually the
size of the image the trajectories were drawn on.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from posetraj.conditioning import Trajectories

CLIP_KEYS = ("center_2d", "ground_2d", "tracks_2d")


def load_trajectories(
    path: str | Path, native_size: tuple[int, int] | None = None, clip_key: str = "center_2d",
) -> Trajectories:
    """Load trajectories from a clip directory, ``annotations.npz``, ``.npy`` or DragAnything ``.json``."""
    path = Path(path)
    if path.is_dir():
        return _load_clip(path / "annotations.npz", path / "meta.json", clip_key)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: trajectory file not found")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _load_clip(path, path.parent / "meta.json", clip_key)
    if native_size is None:
        raise ValueError(f"{path}: {suffix} trajectories carry no resolution; pass native_size=(width, height)")
    if suffix == ".npy":
        try:
            points = np.load(path, allow_pickle=False)
        except ValueError as err:
            raise ValueError(f"{path}: not a plain numeric .npy array ({err})") from err
        if points.ndim not in (2, 3) or points.shape[-1] != 2:
            raise ValueError(f"{path}: expected shape (T, 2) or (T, N, 2), got {points.shape}")
        return Trajectories.from_array(points, native_size)
    if suffix == ".json":
        return _load_drag_json(path, native_size)
    raise ValueError(f"{path}: unknown trajectory format {suffix!r} (use a clip dir, .npz, .npy or .json)")


def _load_clip(npz_path: Path, meta_path: Path, key: str) -> Trajectories:
    if key not in CLIP_KEYS:
        raise ValueError(f"unknown clip trajectory key {key!r}; use one of {', '.join(CLIP_KEYS)}")
    if not npz_path.is_file():
        raise FileNotFoundError(f"{npz_path}: no annotations.npz")
    with np.load(npz_path, allow_pickle=False) as ann:
        version = int(ann["schema_version"]) if "schema_version" in ann else None
        if version != 1:
            raise ValueError(f"{npz_path}: unsupported annotations schema_version {version} (expected 1)")
        if key not in ann:
            raise ValueError(f"{npz_path}: no {key!r} array")
        points = np.asarray(ann[key], dtype=np.float64)
        visible = None
        if key == "tracks_2d" and "tracks_visible" in ann:
            visible = np.asarray(ann["tracks_visible"], dtype=bool)
        size = None
        if "depth" in ann:
            depth_shape = ann["depth"].shape
            size = (int(depth_shape[2]), int(depth_shape[1]))
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("schema_version") != 1:
            raise ValueError(f"{meta_path}: unsupported schema_version {meta.get('schema_version')} (expected 1)")
        size = (int(meta["width"]), int(meta["height"]))
    if size is None:
        raise ValueError(f"{npz_path}: image size unknown (no meta.json beside it and no depth array)")
    return Trajectories.from_array(points, size, visible)


def _load_drag_json(path: Path, native_size: tuple[int, int]) -> Trajectories:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: invalid JSON ({err})") from err
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path}: expected a non-empty object {{id: [[x, y], ...]}}")
    keys = sorted(data, key=lambda k: (0, int(k), "") if str(k).lstrip("-").isdigit() else (1, 0, str(k)))
    tracks = []
    for key in keys:
        track = np.asarray(data[key], dtype=np.float64)
        if track.ndim != 2 or track.shape[1] != 2:
            raise ValueError(f"{path}: track {key!r} must be a list of [x, y] pairs, got shape {track.shape}")
        tracks.append(track)
    lengths = {t.shape[0] for t in tracks}
    if len(lengths) != 1:
        raise ValueError(f"{path}: tracks have different lengths {sorted(lengths)}")
    return Trajectories.from_array(np.stack(tracks, axis=1), native_size)
