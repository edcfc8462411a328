"""Per-frame camera poses of real training videos: the reader of ``<video>.npz`` camera files.

A camera file holds world-to-camera poses for every frame of the video, either ``cam_w2c`` (T, 4, 4) or
TRAM's ``pred_cam_R`` (T, 3, 3) and ``pred_cam_T`` (T, 3) (taken as world-to-camera rotation and
translation; TRAM's convention is not documented by the original code). It is read without pickle
(``allow_pickle=False``): convert TRAM's pickled ``camera.npy`` dict once with a trusted script. The
trainer turns a window's poses into 12-vectors relative to its first frame
(``models.camera.camera_vectors_from_w2c``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


class CameraPoseError(ValueError):
    """A camera file is unreadable, malformed, too short or not finite (the message names it)."""


def read_camera_poses(path: str | Path) -> np.ndarray:
    """(T, 4, 4) float64 world-to-camera matrices of a camera file."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            files = set(data.files)
            if "cam_w2c" in files:
                w2c = np.asarray(data["cam_w2c"], dtype=np.float64)
            elif {"pred_cam_R", "pred_cam_T"} <= files:
                rot, trans = np.asarray(data["pred_cam_R"], np.float64), np.asarray(data["pred_cam_T"], np.float64)
                if rot.ndim != 3 or rot.shape[1:] != (3, 3) or trans.shape != (rot.shape[0], 3):
                    raise CameraPoseError(f"{path}: pred_cam_R {rot.shape} / pred_cam_T {trans.shape} must be "
                                          f"(T, 3, 3) / (T, 3)")
                w2c = np.tile(np.eye(4), (rot.shape[0], 1, 1))
                w2c[:, :3, :3], w2c[:, :3, 3] = rot, trans
            else:
                raise CameraPoseError(f"{path}: no cam_w2c or pred_cam_R / pred_cam_T arrays")
    except (OSError, ValueError) as exc:
        if isinstance(exc, CameraPoseError):
            raise
        raise CameraPoseError(f"{path}: cannot read camera poses ({exc})") from None
    if w2c.ndim != 3 or w2c.shape[1:] != (4, 4):
        raise CameraPoseError(f"{path}: cam_w2c must have shape (T, 4, 4), got {w2c.shape}")
    return w2c


def relative_camera_vectors(path: str | Path, start: int, num_frames: int) -> np.ndarray:
    """(num_frames, 12) camera vectors of frames ``start ..`` relative to frame ``start``."""
    from posetraj.models.camera import camera_vectors_from_w2c

    w2c = read_camera_poses(path)
    if w2c.shape[0] < start + num_frames:
        raise CameraPoseError(f"{path}: {w2c.shape[0]} camera poses do not cover frames {start}..{start + num_frames - 1}")
    window = w2c[start:start + num_frames]
    if not np.isfinite(window).all():
        raise CameraPoseError(f"{path}: non-finite camera poses in frames {start}..{start + num_frames - 1}")
    return camera_vectors_from_w2c(window)
