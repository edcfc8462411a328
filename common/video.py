"""RGB videos: H.264 (yuv420p) MP4 encode and decode, and folders of PNG frames."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from common.atomic import write_atomic

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class VideoDecodeError(ValueError):
    """A video file cannot be decoded or has no frames (the message names the file)."""


def write_video(path: Path, frames: np.ndarray, fps: float, crf: int = 17, deterministic: bool = False) -> None:
    """Encode (T,H,W,3) uint8 frames as H.264 yuv420p MP4 at ``path`` (even sizes required).

    ``deterministic``: the same frames give the same decoded frames on every run (one encoder thread and no
    macroblock tree; with x264's defaults, even with one thread, they differed by up to ~20 grey levels
    from run to run)."""
    import av  # deferred: PyAV is only needed when videos are written or read

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"video frames must be (T,H,W,3) uint8, got {frames.shape} {frames.dtype}")
    height, width = frames.shape[1:3]
    if width % 2 or height % 2:
        raise ValueError(f"H.264 needs even frame sizes, got {width}x{height}")
    with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium",
                          **({"threads": "1", "x264-params": "mbtree=0"} if deterministic else {})}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_mp4(path: str | Path, frames: np.ndarray, fps: float, crf: int = 18, deterministic: bool = False) -> Path:
    """Write (T, H, W, 3) uint8 frames as H.264 yuv420p, atomically (temp file + rename).

    yuv420p needs even dimensions: odd ones are padded by repeating the last row/column.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or frames.shape[0] == 0:
        raise ValueError(f"{path}: frames must be non-empty (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, lambda tmp: write_video(tmp, np.ascontiguousarray(frames), fps, crf=crf,
                                                      deterministic=deterministic), suffix=".mp4")


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
        raise VideoDecodeError(f"{path}: cannot decode video ({exc})") from None
    if not frames:
        raise VideoDecodeError(f"{path}: video has no frames")
    return np.stack(frames)


def read_frames_dir(folder: Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> np.ndarray:
    """(T,H,W,3) uint8 RGB frames from the image files of ``folder``, in file-name order."""
    from PIL import Image

    folder = Path(folder)
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes) if folder.is_dir() else []
    if not paths:
        raise VideoDecodeError(f"{folder}: no frames ({', '.join(suffixes)} files)")
    frames = []
    for path in paths:
        try:
            with Image.open(path) as image:
                frames.append(np.asarray(image.convert("RGB")))
        except OSError as exc:
            raise VideoDecodeError(f"{path}: cannot read frame ({exc})") from None
    if len({f.shape for f in frames}) != 1:
        raise VideoDecodeError(f"{folder}: frames have different sizes {sorted({f.shape[:2] for f in frames})}")
    return np.stack(frames)
