"""Read and write RGB videos (H.264, yuv420p) for the model's CLI; the codec code is render.clip_io's."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from render.clip_io import read_video, write_video

__all__ = ["read_video", "write_mp4"]


def write_mp4(path: str | Path, frames: np.ndarray, fps: float, crf: int = 18) -> Path:
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
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.mp4")
    try:
        write_video(tmp, np.ascontiguousarray(frames), fps, crf=crf)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
