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
    if sample.clip() is None:
        raise SuiteError(f"sample {sample.id}: the translate baseline needs the object mask of a posetraj-synth sample")
    mask = sample.ground_truth("mask")["mask"][0] == 1
    return paste_along(sample.image(), [mask], [sample.trajectories.points[0]], sample.num_frames)


def paste_along(image: np.ndarray, masks: list[np.ndarray], tracks: list[np.ndarray], num_frames: int) -> np.ndarray:
    """(num_frames, H, W, 3) uint8: each ``masks[k]`` (H, W) bool region of ``image`` cut out and shifted by
    ``tracks[k][t] - tracks[k][0]`` at frame t (the last position once a (T, 2) track ends), pasted over the
    image with every region's hole filled by ``cv2.inpaint`` (Telea); later regions are pasted on top."""
    import cv2

    h, w = image.shape[:2]
    holes = np.zeros((h, w), np.uint8)
    for mask in masks:
        holes |= cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8))
    background = cv2.inpaint(image, holes * 255, 3, cv2.INPAINT_TELEA).astype(np.float32)
    layers = [(image.astype(np.float32) * mask[..., None], mask.astype(np.float32)) for mask in masks]
    frames = []
    for t in range(num_frames):
        frame = background
        for (cutout, alpha), track in zip(layers, tracks):
            dx, dy = track[min(t, len(track) - 1)] - track[0]
            shift = np.float32([[1, 0, dx], [0, 1, dy]])
            moved = cv2.warpAffine(cutout, shift, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
            a = cv2.warpAffine(alpha, shift, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)[..., None]
            frame = moved + frame * (1.0 - a)
        frames.append(np.clip(np.rint(frame), 0, 255).astype(np.uint8))
    return np.stack(frames)


# --------------------------------------------------------------------------------------------------
# The same baselines for any image (the callable convention of benchmark.models: image, trajectories,
# num_frames, fps), for tools that have an image and drawn trajectories but no suite sample.
# --------------------------------------------------------------------------------------------------

#: Radius of the patch ``translate`` drags when there is no object mask, as a fraction of the shorter side.
PATCH_RADIUS_FRACTION = 0.08


def static_frames(image: np.ndarray, trajectories: dict, num_frames: int, fps: float) -> np.ndarray:
    """The image repeated ``num_frames`` times."""
    return np.repeat(np.asarray(image, dtype=np.uint8)[None], num_frames, axis=0)


def translate_frames(image: np.ndarray, trajectories: dict, num_frames: int, fps: float) -> np.ndarray:
    """Without an object mask: a disc of radius ``PATCH_RADIUS_FRACTION`` of the shorter side around each
    trajectory's first point is cut out and pasted along that trajectory (see :func:`paste_along`)."""
    image = np.asarray(image, dtype=np.uint8)
    h, w = image.shape[:2]
    radius = max(2.0, PATCH_RADIUS_FRACTION * min(h, w))
    rows, cols = np.mgrid[0:h, 0:w]
    tracks = [np.asarray(track, dtype=np.float64) for track in trajectories.values()]
    masks = [(cols - track[0, 0]) ** 2 + (rows - track[0, 1]) ** 2 <= radius ** 2 for track in tracks]
    return paste_along(image, masks, tracks, num_frames)


BASELINES = {"oracle": oracle_video, "static": static_video, "translate": translate_video}
#: Baselines that need only an image and trajectories (the oracle needs a sample's ground-truth video).
IMAGE_BASELINES = {"static": static_frames, "translate": translate_frames}
