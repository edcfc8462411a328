"""A perturbed oracle: the ground-truth videos after light damage, as a folder of pre-generated videos.

Each frame gets Gaussian noise (``noise_sigma`` grey levels, seeded per sample), a ``blur`` x ``blur``
box blur, and the video is re-encoded as H.264 (``crf``). Scored as a folder model (``--model DIR``),
it checks that the pose metric measures the object rather than recognising the reference video: it
must stay close to the oracle's score.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np


def perturb_frames(frames: np.ndarray, noise_sigma: float = 3.0, blur: int = 3, seed: int = 0) -> np.ndarray:
    """(T, H, W, 3) uint8 frames with Gaussian noise then a ``blur`` x ``blur`` box blur (before encoding)."""
    import cv2

    rng = np.random.default_rng(seed)
    noisy = np.clip(np.asarray(frames, np.float32) + rng.normal(0.0, noise_sigma, np.shape(frames)), 0, 255)
    noisy = np.rint(noisy).astype(np.uint8)
    return np.stack([cv2.blur(f, (blur, blur)) for f in noisy]) if blur > 1 else noisy


def write_perturbed_video(path: str | Path, sample, frames: np.ndarray, noise_sigma: float = 3.0, blur: int = 3,
                          crf: int = 18) -> Path:
    """Write the perturbed copy of ``sample``'s ground-truth ``frames`` to ``path`` (.mp4): noise seeded by
    the sample's id, encoded deterministically, so that every run scores the same frames (the pose
    metric's outcome on a hard sample can hinge on noise-level changes)."""
    from common.video import write_mp4

    seed = int.from_bytes(hashlib.sha256(sample.id.encode()).digest()[:4], "little")
    return write_mp4(path, perturb_frames(frames, noise_sigma, blur, seed), sample.fps, crf=crf, deterministic=True)


def write_perturbed_oracle(suite, out_dir: str | Path, noise_sigma: float = 3.0, blur: int = 3, crf: int = 18) -> Path:
    """Write ``<out_dir>/<sample_id>.mp4`` for every sample of ``suite`` that has a ground-truth video."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for sample in suite.samples:
        frames = sample.reference_frames()
        if frames is None:
            continue
        write_perturbed_video(out / f"{sample.id}.mp4", sample, frames, noise_sigma, blur, crf)
        sample.release()
    return out
