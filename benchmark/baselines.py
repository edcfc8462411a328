"""Built-in baselines that make the metrics interpretable: oracle, static and translate."""

from __future__ import annotations

import numpy as np

from benchmark.suite import Sample, SuiteError

BASELINE_VERSION = 1


def oracle_video(sample: Sample) -> np.ndarray:
    """The ground-truth video itself."""
    frames = sample.reference_frames()
    if frames is None:
        raise SuiteError(f"sample {sample.id}: the oracle needs a ground-truth video and this sample has none")
    return frames


def static_video(sample: Sample) -> np.ndarray:
    """The first frame repeated: no motion at all."""
    return np.repeat(sample.image()[None], sample.num_frames, axis=0)


def translate_video(sample: Sample) -> np.ndarray:
    """The object cut out of frame 0 with its mask and pasted along the conditioning trajectory,
    without rotation; the hole it leaves is filled by ``cv2.inpaint`` (Telea)."""
    import cv2

    if sample.clip() is None:
        raise SuiteError(f"sample {sample.id}: the translate baseline needs the object mask of a posetraj-synth sample")
    image = sample.image()
    mask = (sample.ground_truth("mask")["mask"][0] == 1).astype(np.uint8)
    hole = cv2.dilate(mask, np.ones((3, 3), np.uint8))
    background = cv2.inpaint(image, hole * 255, 3, cv2.INPAINT_TELEA)
    alpha = mask.astype(np.float32)
    cutout = image.astype(np.float32) * alpha[..., None]
    traj = sample.trajectories.points[0]  # (T, 2)
    h, w = mask.shape
    frames = []
    for t in range(sample.num_frames):
        dx, dy = traj[t] - traj[0]
        shift = np.float32([[1, 0, dx], [0, 1, dy]])
        moved = cv2.warpAffine(cutout, shift, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
        a = cv2.warpAffine(alpha, shift, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)[..., None]
        frame = moved + background.astype(np.float32) * (1.0 - a)
        frames.append(np.clip(np.rint(frame), 0, 255).astype(np.uint8))
    return np.stack(frames)


BASELINES = {"oracle": oracle_video, "static": static_video, "translate": translate_video}
