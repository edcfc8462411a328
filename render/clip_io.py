"""Reading and writing clips in the on-disk format of ``docs/clip_format.md``, atomically."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assets_catalog.files import sha256_file

CLIP_SCHEMA_VERSION = 1
MARKER_NAME = "DONE"
META_NAME = "meta.json"
ANNOTATIONS_NAME = "annotations.npz"
VIDEO_NAME = "rgb.mp4"
FRAMES_DIR = "frames"
LOG_NAME = "render.log"

REQUIRED_ARRAYS = {
    "K": (3, 3),
    "cam_w2c": ("T", 4, 4),
    "obj_to_world": ("T", 4, 4),
    "bbox_extents": (3,),
    "bbox_corners_world": ("T", 8, 3),
    "bbox_corners_2d": ("T", 8, 2),
    "center_2d": ("T", 2),
    "depth": ("T", "H", "W"),
    "mask": ("T", "H", "W"),
    "tracks_xyz": ("N", 3),  # first of the tracks: it defines N
    "tracks_2d": ("T", "N", 2),
    "tracks_visible": ("T", "N"),
}


class ClipFormatError(ValueError):
    """A directory is not a valid clip; the message says which file and what is wrong."""


def write_video(path: Path, frames: np.ndarray, fps: float, crf: int = 17) -> None:
    """Encode (T,H,W,3) uint8 frames as H.264 yuv420p MP4 (even sizes required)."""
    import av  # deferred: PyAV is only needed when videos are written or read

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"video frames must be (T,H,W,3) uint8, got {frames.shape} {frames.dtype}")
    height, width = frames.shape[1:3]
    if width % 2 or height % 2:
        raise ValueError(f"H.264 needs even frame sizes, got {width}x{height}")
    from fractions import Fraction

    with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def read_video(path: Path) -> np.ndarray:
    """Decode a video file into (T,H,W,3) uint8 RGB frames."""
    import av
    from av.video.reformatter import VideoReformatter

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: video not found")
    # one converter for all frames (``frame.to_ndarray(format=...)`` sets up a new one for every frame)
    reformatter = VideoReformatter()
    try:
        with av.open(str(path)) as container:
            frames = [reformatter.reformat(frame, format="rgb24").to_ndarray() for frame in container.decode(video=0)]
    except (av.error.FFmpegError, IndexError, ValueError) as exc:
        raise ClipFormatError(f"{path}: cannot decode video ({exc})") from None
    if not frames:
        raise ClipFormatError(f"{path}: video has no frames")
    return np.stack(frames)


def is_complete_clip(path: Path) -> bool:
    """True when ``path`` is a finished clip directory (its completion marker exists)."""
    return (Path(path) / MARKER_NAME).is_file()


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
) -> Path:
    """Write one clip atomically and return its directory.

    Files go to a temporary sibling directory; the ``DONE`` marker (with every file's sha256) is written
    last and the directory is renamed into place. An existing complete clip is kept unless ``overwrite``.
    """
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    final = out_root / clip_id
    if final.exists() and is_complete_clip(final) and not overwrite:
        raise FileExistsError(f"{final}: a complete clip already exists (pass overwrite=True to replace it)")
    tmp = Path(tempfile.mkdtemp(prefix=f".{clip_id}.tmp-", dir=out_root))  # unique across hosts too
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
        _publish(tmp, final, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _publish(tmp: Path, final: Path, overwrite: bool) -> None:
    """Rename the finished ``tmp`` to ``final``. Without ``overwrite``, a complete clip that another
    worker published meanwhile is kept and ``tmp`` dropped; anything else in the way is replaced."""
    try:
        tmp.rename(final)  # works when nothing (or an empty directory) is there
        return
    except OSError:
        if not final.exists():
            raise
    if is_complete_clip(final) and not overwrite:
        shutil.rmtree(tmp)
        return
    stale = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
    final.rename(stale)  # onto the empty directory
    tmp.rename(final)
    shutil.rmtree(stale)


@dataclass
class Clip:
    """A clip on disk. Annotations load on first access; frames decode on request."""

    path: Path
    meta: dict
    _annotations: dict[str, np.ndarray] | None = field(default=None, repr=False)

    @property
    def annotations(self) -> dict[str, np.ndarray]:
        if self._annotations is None:
            self._annotations = _load_annotations(self.path / ANNOTATIONS_NAME, self.meta)
        return self._annotations

    @property
    def num_frames(self) -> int:
        return int(self.meta["num_frames"])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.meta["width"]), int(self.meta["height"])

    def frames(self) -> np.ndarray:
        """(T,H,W,3) uint8 frames: the lossless PNGs when present, else the decoded MP4."""
        frames_dir = self.path / FRAMES_DIR
        if frames_dir.is_dir():
            from PIL import Image

            paths = sorted(frames_dir.glob("*.png"))
            frames = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])
        else:
            frames = read_video(self.path / VIDEO_NAME)
        expected = (self.num_frames, self.size[1], self.size[0], 3)
        if frames.shape != expected:
            raise ClipFormatError(f"{self.path}: frames have shape {frames.shape}, meta.json says {expected}")
        return frames


def _load_annotations(path: Path, meta: dict) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as exc:
        raise ClipFormatError(f"{path}: cannot read annotations ({exc})") from None
    sizes = {"T": int(meta["num_frames"]), "H": int(meta["height"]), "W": int(meta["width"])}
    for key, shape in REQUIRED_ARRAYS.items():
        if key not in arrays:
            raise ClipFormatError(f"{path}: missing array {key!r}")
        actual = arrays[key].shape
        if len(actual) != len(shape):
            raise ClipFormatError(f"{path}: array {key!r} has shape {actual}, expected {shape}")
        for dim, want in zip(actual, shape):
            if want == "N":
                sizes.setdefault("N", dim)
                want = sizes["N"]
            else:
                want = sizes.get(want, want)
            if dim != want:
                raise ClipFormatError(f"{path}: array {key!r} has shape {actual}, expected {shape} with {sizes}")
    return arrays


def load_clip(path: Path) -> Clip:
    """Open a clip directory, checking its marker and schema version."""
    path = Path(path)
    if not path.is_dir():
        raise ClipFormatError(f"{path}: not a directory")
    if not is_complete_clip(path):
        raise ClipFormatError(f"{path}: no {MARKER_NAME} marker, so the clip is incomplete")
    try:
        meta = json.loads((path / META_NAME).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ClipFormatError(f"{path / META_NAME}: cannot read ({exc})") from None
    version = meta.get("schema_version")
    if version != CLIP_SCHEMA_VERSION:
        raise ClipFormatError(f"{path}: clip schema version {version!r} is not supported (this reader knows {CLIP_SCHEMA_VERSION})")
    return Clip(path=path, meta=meta)


def iter_clips(root: Path) -> list[Path]:
    """Complete clip directories directly under ``root``, sorted by name."""
    return sorted(p for p in Path(root).iterdir() if p.is_dir() and not p.name.startswith(".") and is_complete_clip(p))
