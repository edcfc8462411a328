"""Validate a generated video before it is scored; every failure names the sample and the problem."""

from __future__ import annotations

import numpy as np

MAX_ASPECT_MISMATCH = 0.05


class InvalidVideoError(ValueError):
    """A generated video cannot be scored."""


def to_numpy(video: object) -> np.ndarray:
    """Accept numpy arrays, torch tensors (any device) and sequences of frames."""
    if hasattr(video, "detach") and hasattr(video, "cpu"):
        video = video.detach().cpu().numpy()
    return np.asarray(video)


def validate_video(video: object, sample_id: str, num_frames: int, width: int, height: int) -> tuple[np.ndarray, list[int] | None]:
    """Return the video as (T, H, W, 3) uint8 at the native ``width`` × ``height``, and the size it came
    in when it had to be resized (bilinear, as the field resizes generated videos back to native size).

    Checks: array-like, 4-D channels-last RGB, exactly ``num_frames`` frames, uint8 or float in [0, 1]
    with no NaN / infinity, and an aspect ratio within 5% of the native one.
    """
    try:
        array = to_numpy(video)
    except Exception as exc:  # noqa: BLE001 - any conversion failure is the model's output being unusable
        raise InvalidVideoError(f"sample {sample_id}: generated video is not an array ({exc})") from None
    if array.dtype == object or array.ndim != 4 or array.shape[-1] != 3:
        raise InvalidVideoError(f"sample {sample_id}: generated video must be (T, H, W, 3), got shape {array.shape}")
    if array.shape[0] != num_frames:
        raise InvalidVideoError(f"sample {sample_id}: generated video has {array.shape[0]} frames, expected {num_frames}")
    if array.shape[1] < 2 or array.shape[2] < 2:
        raise InvalidVideoError(f"sample {sample_id}: generated frames are {array.shape[2]}x{array.shape[1]} pixels")
    if array.dtype == np.uint8:
        frames = array
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise InvalidVideoError(f"sample {sample_id}: generated video contains NaN or infinity")
        if array.min() < -1e-3 or array.max() > 1 + 1e-3:
            raise InvalidVideoError(f"sample {sample_id}: float video values must lie in [0, 1], "
                                    f"got [{array.min():.3g}, {array.max():.3g}]")
        frames = np.clip(np.rint(array * 255.0), 0, 255).astype(np.uint8)
    else:
        raise InvalidVideoError(f"sample {sample_id}: generated video dtype {array.dtype} is not uint8 or float")
    h, w = frames.shape[1:3]
    if (h, w) == (height, width):
        return np.ascontiguousarray(frames), None
    if abs((w / h) / (width / height) - 1.0) > MAX_ASPECT_MISMATCH:
        raise InvalidVideoError(f"sample {sample_id}: generated size {w}x{h} does not match the aspect ratio "
                                f"of the native {width}x{height}")
    import cv2

    resized = np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_LINEAR) for f in frames])
    return resized, [w, h]
