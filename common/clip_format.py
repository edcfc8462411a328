"""The rendered-clip contract (docs/clip_format.md): its writer and the one reader every consumer uses.

A clip is a directory with ``rgb.mp4``, optional lossless ``frames/*.png``, ``meta.json``,
``annotations.npz`` and a ``DONE`` marker written last. :func:`write_clip` publishes one atomically;
:func:`load_clip` opens one with a single schema check, and :meth:`Clip.arrays` loads only the
annotation arrays asked for, checking each against :data:`ARRAY_SHAPES`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from common.hashing import sha256_file
from common.video import VideoDecodeError, read_frames_dir, read_video, write_video

CLIP_SCHEMA_VERSION = 1
MARKER_NAME = "DONE"
META_NAME = "meta.json"
ANNOTATIONS_NAME = "annotations.npz"
VIDEO_NAME = "rgb.mp4"
FRAMES_DIR = "frames"
LOG_NAME = "render.log"

#: Shape of every array of ``annotations.npz``: T frames, H x W pixels, N tracked surface points.
ARRAY_SHAPES: dict[str, tuple] = {
    "K": (3, 3),
    "cam_w2c": ("T", 4, 4),
    "obj_to_world": ("T", 4, 4),
    "bbox_extents": (3,),
    "bbox_corners_world": ("T", 8, 3),
    "bbox_corners_2d": ("T", 8, 2),
    "center_2d": ("T", 2),
    "depth": ("T", "H", "W"),
    "mask": ("T", "H", "W"),
    "tracks_xyz": ("N", 3),
    "tracks_2d": ("T", "N", 2),
    "tracks_visible": ("T", "N"),
}
#: The arrays a complete clip must have (optional ones, e.g. ``ground_2d``, are checked when present).
REQUIRED_ARRAYS: tuple[str, ...] = tuple(ARRAY_SHAPES)
_OPTIONAL_SHAPES: dict[str, tuple] = {"ground_2d": ("T", 2), "center_visible": ("T",), "path_xy": ("T", 2)}


class ClipFormatError(ValueError):
    """A directory is not a valid clip; the message says which file and what is wrong."""


def check_schema_version(found: object, where: Path | str) -> None:
    """The one schema check: ``found`` must be :data:`CLIP_SCHEMA_VERSION`; a newer one names both."""
    try:
        version = int(found)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ClipFormatError(f"{where}: no valid clip schema_version ({found!r}); this reader knows "
                              f"{CLIP_SCHEMA_VERSION}") from None
    if version > CLIP_SCHEMA_VERSION:
        raise ClipFormatError(f"{where}: clip schema version {version} is newer than this reader's "
                              f"{CLIP_SCHEMA_VERSION} (schema_version {version} > {CLIP_SCHEMA_VERSION}); "
                              f"update posetraj to read it")
    if version != CLIP_SCHEMA_VERSION:
        raise ClipFormatError(f"{where}: clip schema version {version} is not supported (schema_version "
                              f"{version}; this reader knows {CLIP_SCHEMA_VERSION})")


def owner_tag(pid: int | None = None) -> str:
    """``<host>-<pid>``: which process owns a temporary folder next to the clips (``.<clip_id>.tmp-<owner>-*``,
    a renderer's ``.<clip_id>.work-<owner>-*``), so that a parent can remove the folders of a child it
    stopped and a new run can tell a dead process's leftovers from a live one's."""
    host = re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname()) or "host"
    return f"{host}-{os.getpid() if pid is None else pid}"


def is_complete_clip(path: Path) -> bool:
    """True when ``path`` is a finished clip directory (its completion marker exists)."""
    return (Path(path) / MARKER_NAME).is_file()


def iter_clips(root: Path) -> list[Path]:
    """Complete clip directories directly under ``root``, sorted by name."""
    return sorted(p for p in Path(root).iterdir() if p.is_dir() and not p.name.startswith(".") and is_complete_clip(p))


def write_clip(
    out_root: Path,
    clip_id: str,
    *,
    frames: np.ndarray,
    annotations: dict[str, np.ndarray],
    meta: dict,
    extra_arrays: dict[str, np.ndarray] | None = None,
    write_png: bool = False,
    log_path: Path | None = None,
    overwrite: bool = False,
    strict: bool = False,
) -> Path:
    """Write one clip atomically and return its directory.

    Files go to a temporary sibling directory; the ``DONE`` marker (with every file's sha256) is written
    last and the directory is renamed into place. An existing complete clip is kept unless ``overwrite``:
    found before writing, it raises :class:`FileExistsError`; published by another process while this one
    was writing, it is kept and this copy dropped, quietly, or with ``strict`` by the same error (so a
    farm worker can count the clip as another worker's).
    """
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    final = out_root / clip_id
    if final.exists() and is_complete_clip(final) and not overwrite:
        raise FileExistsError(f"{final}: a complete clip already exists (pass overwrite=True to replace it)")
    tmp = _unique_sibling(out_root, f".{clip_id}.tmp-{owner_tag()}-")  # unique across hosts too
    try:
        meta = dict(meta)
        meta["schema_version"] = CLIP_SCHEMA_VERSION
        meta["clip_id"] = clip_id
        meta["files"] = {"rgb": VIDEO_NAME, "frames": FRAMES_DIR if write_png else None, "annotations": ANNOTATIONS_NAME}
        write_video(tmp / VIDEO_NAME, frames, float(meta["fps"]))
        if write_png:
            from PIL import Image

            (tmp / FRAMES_DIR).mkdir()
            for index, frame in enumerate(frames):
                Image.fromarray(frame).save(tmp / FRAMES_DIR / f"{index:06d}.png")
        np.savez_compressed(tmp / ANNOTATIONS_NAME, **annotations)
        for name, array in (extra_arrays or {}).items():
            np.save(tmp / f"{name}.npy", array)
        if log_path is not None and Path(log_path).exists():
            shutil.copyfile(log_path, tmp / LOG_NAME)
        (tmp / META_NAME).write_text(json.dumps(meta, indent=2, sort_keys=False) + "\n")
        files = sorted(p for p in tmp.rglob("*") if p.is_file())
        marker = {"schema_version": CLIP_SCHEMA_VERSION, "files": {str(p.relative_to(tmp)): sha256_file(p) for p in files}}
        (tmp / MARKER_NAME).write_text(json.dumps(marker, indent=2) + "\n")
        published = _publish(tmp, final, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if strict and not published:
        raise FileExistsError(f"{final}: another process published this clip while this one wrote it; theirs is kept")
    return final


def _unique_sibling(parent: Path, prefix: str) -> Path:
    """A new directory ``parent/<prefix><random>`` with the process's normal permissions (umask)."""
    while True:
        path = parent / f"{prefix}{uuid.uuid4().hex[:12]}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def _publish(tmp: Path, final: Path, overwrite: bool) -> bool:
    """Rename the finished ``tmp`` to ``final`` and return True. Without ``overwrite``, a complete clip
    that another worker published meanwhile is kept, ``tmp`` dropped and False returned; anything else in
    the way is replaced."""
    try:
        tmp.rename(final)  # works when nothing (or an empty directory) is there
        return True
    except OSError:
        if not final.exists():
            raise
    if is_complete_clip(final) and not overwrite:
        shutil.rmtree(tmp)
        return False
    stale = _unique_sibling(final.parent, f".{final.name}.old-{owner_tag()}-")
    final.rename(stale)  # onto the empty directory
    tmp.rename(final)
    shutil.rmtree(stale)
    return True


@dataclass
class Clip:
    """A clip on disk. Annotation arrays load on request (only those asked for); frames decode on request."""

    path: Path
    meta: dict
    annotations_path: Path | None = None
    _arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _array_names: tuple[str, ...] | None = field(default=None, repr=False)
    _dims: dict[str, int] = field(default_factory=dict, repr=False)  # T, H, W, N as checked so far

    def __post_init__(self) -> None:
        if self.annotations_path is None:
            self.annotations_path = self.path / ANNOTATIONS_NAME

    @property
    def num_frames(self) -> int:
        return int(self.meta["num_frames"])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.meta["width"]), int(self.meta["height"])

    @property
    def fps(self) -> float:
        return float(self.meta["fps"])

    def has_array(self, key: str) -> bool:
        """Whether ``annotations.npz`` holds ``key`` (without loading it)."""
        return key in self._names()

    def _names(self) -> tuple[str, ...]:
        if self._array_names is None:
            try:
                with np.load(self.annotations_path, allow_pickle=False) as data:
                    self._array_names = tuple(data.files)
                    version = data["schema_version"] if "schema_version" in data.files else None
            except (OSError, ValueError) as exc:
                raise ClipFormatError(f"{self.annotations_path}: cannot read annotations ({exc})") from None
            if version is not None:
                check_schema_version(version, self.annotations_path)
        return self._array_names

    def arrays(self, *keys: str) -> dict[str, np.ndarray]:
        """Only the named arrays of ``annotations.npz``, each checked against its documented shape.

        Cheaper than :attr:`annotations` (which also decompresses depth and masks). Loaded arrays are
        kept; a missing or misshapen array is a :class:`ClipFormatError` naming the file and the key.
        """
        names = self._names()
        missing = [k for k in keys if k not in self._arrays]
        if missing:
            absent = [k for k in missing if k not in names]
            if absent:
                raise ClipFormatError(f"{self.annotations_path}: missing array {absent[0]!r}")
            try:
                with np.load(self.annotations_path, allow_pickle=False) as data:
                    loaded = {key: data[key] for key in missing}
            except (OSError, ValueError, KeyError) as exc:
                raise ClipFormatError(f"{self.annotations_path}: cannot read {missing} ({exc})") from None
            for key in sorted(loaded, key=lambda k: k != "tracks_xyz"):  # tracks_xyz defines N
                self._check_shape(key, loaded[key])
            self._arrays.update(loaded)
        return {k: self._arrays[k] for k in keys}

    @property
    def annotations(self) -> dict[str, np.ndarray]:
        """Every array of ``annotations.npz``; the required ones must all be there."""
        names = self._names()
        for key in REQUIRED_ARRAYS:
            if key not in names:
                raise ClipFormatError(f"{self.annotations_path}: missing array {key!r}")
        return self.arrays(*names)

    def _check_shape(self, key: str, array: np.ndarray) -> None:
        shape = ARRAY_SHAPES.get(key) or _OPTIONAL_SHAPES.get(key)
        if shape is None:
            return
        sizes = self._dims
        for name, meta_key in (("T", "num_frames"), ("H", "height"), ("W", "width")):
            if meta_key in self.meta:
                sizes[name] = int(self.meta[meta_key])
        if len(array.shape) != len(shape):
            raise ClipFormatError(f"{self.annotations_path}: array {key!r} has shape {array.shape}, expected {shape}")
        for dim, want in zip(array.shape, shape):
            if isinstance(want, str):
                sizes.setdefault(want, dim)
                want = sizes[want]
            if dim != want:
                raise ClipFormatError(f"{self.annotations_path}: array {key!r} has shape {array.shape}, "
                                      f"expected {shape} with {sizes}")

    def frames(self) -> np.ndarray:
        """(T,H,W,3) uint8 frames: the lossless PNGs when present, else the decoded MP4."""
        frames_dir = self.path / FRAMES_DIR
        try:
            frames = read_frames_dir(frames_dir, (".png",)) if frames_dir.is_dir() else read_video(self.path / VIDEO_NAME)
        except VideoDecodeError as exc:
            raise ClipFormatError(str(exc)) from None
        if "num_frames" not in self.meta:  # a bare annotations.npz: nothing to check against
            return frames
        expected = (self.num_frames, self.size[1], self.size[0], 3)
        if frames.shape != expected:
            raise ClipFormatError(f"{self.path}: frames have shape {frames.shape}, meta.json says {expected}")
        return frames


def load_clip(path: Path, *, require_marker: bool = True) -> Clip:
    """Open a clip directory, checking its marker and schema version.

    With ``require_marker=False`` (a user's trajectory source, not a dataset), ``path`` may also be an
    ``annotations.npz`` and ``meta.json`` may be absent: the frame count and size then come from the
    arrays (``depth`` gives H and W).
    """
    path = Path(path)
    annotations_path = None
    if path.is_file() and path.suffix == ".npz" and not require_marker:
        annotations_path, path = path, path.parent
    elif not path.is_dir():
        raise ClipFormatError(f"{path}: not a directory")
    if require_marker and not is_complete_clip(path):
        raise ClipFormatError(f"{path}: no {MARKER_NAME} marker, so the clip is incomplete")
    meta_path = path / META_NAME
    if meta_path.is_file() or require_marker:
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ClipFormatError(f"{meta_path}: cannot read ({exc})") from None
        if not isinstance(meta, dict):
            raise ClipFormatError(f"{meta_path}: expected a JSON object")
        check_schema_version(meta.get("schema_version"), meta_path)
    else:
        meta = {}
    clip = Clip(path=path, meta=meta, annotations_path=annotations_path)
    if not clip.annotations_path.is_file():
        raise ClipFormatError(f"{clip.annotations_path}: no {ANNOTATIONS_NAME} (not a rendered clip?)")
    if not meta:
        clip.meta.update(_meta_from_arrays(clip))
    return clip


def _meta_from_arrays(clip: Clip) -> dict:
    """Frame count and size of a bare ``annotations.npz`` (no meta.json), from its arrays."""
    names = clip._names()
    meta: dict = {}
    if "depth" in names:
        T, H, W = clip.arrays("depth")["depth"].shape
        meta.update(num_frames=T, height=H, width=W)
    return meta
