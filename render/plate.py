"""Static-background plate: where each frame has to be path traced (pure numpy, no bpy).

With a camera that does not move, everything in a clip except the object is the same in every frame.
The renderer can then path trace the background once (the *plate*, object hidden, many samples) and,
per frame, only the screen rectangle the object can change: the object itself, its shadow for every
light, its mirror image in the floor, and a margin for the soft light it blocks or bounces. Everything
outside that rectangle is taken from the plate. See docs/clip_format.md ("Background plate").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from render.camera import CameraTrack, project_points
from render.scene import LightDescription, SceneDescription

#: Margin around the projected object, shadows and reflection, as a fraction of the image diagonal.
DEFAULT_MARGIN_FRACTION = 0.02
#: Extra pixels beyond the margin for the pixel filter's footprint.
FILTER_PIXELS = 2


@dataclass(frozen=True)
class PlatePlan:
    """Per-frame rectangles ``(x0, x1, y0, y1)``, half-open, in pixels (row 0 at the top)."""

    regions: np.ndarray  # (T, 4) int64

    def area_fraction(self, width: int, height: int) -> float:
        """Mean share of the image path traced per frame."""
        x0, x1, y0, y1 = self.regions.T
        return float(np.mean((x1 - x0) * (y1 - y0)) / (width * height))


def plate_unavailable_reason(camera: CameraTrack, scene: SceneDescription) -> str | None:
    """Why a clip cannot use a plate, or None when it can."""
    if not camera.is_static:
        return "the camera moves"
    if scene.world.hdri_path:
        return "an HDRI world can cast the object's shadow anywhere"
    return None


def _shadow_points(corners: np.ndarray, light: LightDescription) -> np.ndarray | None:
    """Where the box corners' shadows fall on the floor (z = 0), widened by the penumbra; None: unbounded."""
    heights = np.clip(corners[..., 2], 0.0, None)
    if light.kind == "SUN":
        towards = light.direction()
        if towards[2] <= 1e-6:
            return None
        travel = heights / towards[2]  # distance along the ray from corner to floor
        shadow = corners - travel[..., None] * towards
        blur = travel * math.tan(math.radians(light.angle_deg) / 2.0)
    else:
        position = light.direction() * light.distance_m
        drop = position[2] - heights
        if np.any(drop <= 1e-6):
            return None
        scale = position[2] / drop  # similar triangles: light -> corner -> floor
        shadow = position + (corners - position) * scale[..., None]
        blur = (scale - 1.0) * light.size_m  # the source's size magnified onto the floor
    shadow[..., 2] = 0.0
    offsets = np.array([[1.0, 1.0, 0.0], [1.0, -1.0, 0.0], [-1.0, 1.0, 0.0], [-1.0, -1.0, 0.0]])
    widened = shadow[..., None, :] + blur[..., None, None] * offsets
    return widened.reshape(*corners.shape[:-2], -1, 3)


def plan_plate(
    corners_world: np.ndarray, camera: CameraTrack, scene: SceneDescription,
    margin_fraction: float = DEFAULT_MARGIN_FRACTION,
) -> PlatePlan:
    """Per-frame screen rectangles that hold everything the object changes in the image.

    ``corners_world`` (T,8,3) is the object's box per frame. A frame whose shadows are unbounded (a light
    below the object's top) gets the whole image.
    """
    width, height = camera.width, camera.height
    mirrored = corners_world * np.array([1.0, 1.0, -1.0])
    regions = np.zeros((corners_world.shape[0], 4), dtype=np.int64)
    margin = margin_fraction * math.hypot(width, height) + FILTER_PIXELS
    for frame, corners in enumerate(corners_world):
        groups = [corners, mirrored[frame]]
        bounded = True
        for light in scene.lights:
            shadow = _shadow_points(corners, light)
            if shadow is None:
                bounded = False
                break
            groups.append(shadow)
        pixels, depth = project_points(camera.K, camera.w2c[frame], np.concatenate(groups))
        if not bounded or np.any(depth <= 0):
            regions[frame] = (0, width, 0, height)
            continue
        x0, y0 = np.floor(pixels.min(axis=0) - margin)
        x1, y1 = np.ceil(pixels.max(axis=0) + margin) + 1
        regions[frame] = (
            int(np.clip(x0, 0, width)), int(np.clip(x1, 0, width)), int(np.clip(y0, 0, height)), int(np.clip(y1, 0, height))
        )
    return PlatePlan(regions=regions)


def composite(plate: np.ndarray, frames: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """Frames that take each region from ``frames`` and everything else from ``plate``.

    ``plate`` is (H,W,...) and ``frames`` (T,H,W,...) of the same dtype; ``regions`` (T,4) as in
    :class:`PlatePlan`.
    """
    if frames.shape[1:] != plate.shape:
        raise ValueError(f"plate shape {plate.shape} does not match frames {frames.shape[1:]}")
    out = np.broadcast_to(plate, frames.shape).copy()
    for index, (x0, x1, y0, y1) in enumerate(regions):
        out[index, y0:y1, x0:x1] = frames[index, y0:y1, x0:x1]
    return out
