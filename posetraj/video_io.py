"""Read and write RGB videos with PyAV (H.264, yuv420p)."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np


def write_mp4(path: str | Path, frames: np.ndarray, fps: float, crf: int = 18) -> Path:
    """Write (T, H, W, 3) uint8 frames as H.264 yuv420p, atomically (temp file + rename).

    yuv420p needs even dimensions: odd ones are padded by repeating the last row/column.
    """
    import av

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or frames.shape[0] == 0:
        raise ValueError(f"{path}: frames must be non-empty (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.mp4")
    try:
        with av.open(str(tmp), mode="w") as container:
            stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
            stream.width, stream.height = frames.shape[2], frames.shape[1]
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(crf)}
            for frame in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_video(path: str | Path) -> np.ndarray:
    """All frames of a video as (T, H, W, 3) uint8 RGB."""
    import av

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: video not found")
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    if not frames:
        raise ValueError(f"{path}: no video frames")
    return np.stack(frames)
