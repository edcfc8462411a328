"""Synthetic videos with exact ground-truth tracks: a textured patch moving (translation + rotation)
over a static textured background. For tracker tests and benchmarks when no rendered clip is at hand.

Points follow our pixel convention (centres at integer coordinates); frames are drawn with OpenCV's
``warpAffine``, which uses the same convention, so the returned tracks are exact up to interpolation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SyntheticVideo:
    video: np.ndarray  # (T, H, W, 3) uint8
    tracks: np.ndarray  # (T, N, 2) float32 pixels
    visible: np.ndarray  # (T, N) bool


def _texture(rng: np.random.Generator, height: int, width: int, blur: float) -> np.ndarray:
    import cv2

    noise = rng.random((height, width, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), blur)
    smooth = (smooth - smooth.min()) / max(float(smooth.max() - smooth.min()), 1e-6)
    return (smooth * 255).astype(np.uint8)


def moving_patch_video(
    num_frames: int = 12,
    height: int = 96,
    width: int = 128,
    num_points: int = 48,
    speed_px: float = 2.0,
    rotation_deg_per_frame: float = 1.5,
    seed: int = 0,
) -> SyntheticVideo:
    """A square patch (side min(H, W)/3) moving right and down while rotating, over a static background.

    Half of the points lie on the patch (always visible), half on the background; background points are
    occluded while the patch covers them.
    """
    import cv2

    rng = np.random.default_rng(seed)
    side = min(height, width) // 3
    background = _texture(rng, height, width, blur=1.5)
    patch = _texture(rng, side, side, blur=1.0)
    centre0 = np.array([width * 0.3, height * 0.35])
    velocity = np.array([speed_px, 0.5 * speed_px])
    patch_centre = np.array([(side - 1) / 2, (side - 1) / 2])

    def affine(t: int) -> np.ndarray:
        angle = np.deg2rad(rotation_deg_per_frame * t)
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        shift = centre0 + velocity * t - rot @ patch_centre
        return np.concatenate([rot, shift[:, None]], axis=1)  # patch coords -> image coords

    n_patch = num_points // 2
    margin = 3.0
    patch_pts = rng.uniform(margin, side - 1 - margin, size=(n_patch, 2))
    background_pts = np.stack(
        [rng.uniform(8, width - 9, num_points - n_patch), rng.uniform(8, height - 9, num_points - n_patch)], axis=1
    )
    frames, tracks, visible = [], [], []
    for t in range(num_frames):
        matrix = affine(t)
        warped = cv2.warpAffine(patch, matrix, (width, height), flags=cv2.INTER_LINEAR)
        mask = cv2.warpAffine(np.ones((side, side), np.float32), matrix, (width, height), flags=cv2.INTER_LINEAR)
        frame = background.astype(np.float32) * (1 - mask[..., None]) + warped.astype(np.float32) * mask[..., None]
        frames.append(np.clip(np.rint(frame), 0, 255).astype(np.uint8))
        on_patch = patch_pts @ matrix[:, :2].T + matrix[:, 2]
        inverse = cv2.invertAffineTransform(matrix)
        in_patch_coords = background_pts @ inverse[:, :2].T + inverse[:, 2]
        covered = np.all((in_patch_coords > -1.0) & (in_patch_coords < side), axis=1)
        tracks.append(np.concatenate([on_patch, background_pts]))
        visible.append(np.concatenate([np.ones(n_patch, bool), ~covered]))
    return SyntheticVideo(np.stack(frames), np.stack(tracks).astype(np.float32), np.stack(visible))
