"""Framing a clip (pure numpy): the seeded camera that keeps the object's box in frame, and the
background-plate regions that follow from it."""

from __future__ import annotations

import hashlib

import numpy as np

from render.camera import CameraPlacementError, CameraTrack, default_camera, in_frame, moving_camera, project_points, random_camera
from render.errors import RenderError
from render.plate import plan_plate, plate_unavailable_reason
from render.scene import SceneDescription
from render.spec import ClipSpec, RenderSettings


def stream_seed(seed: int, stream: str) -> int:
    """Independent, stable random streams per purpose (camera, scene, tracks) from one clip seed."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{stream}".encode()).digest()[:8], "little")


def place_camera(spec: ClipSpec, corners_world: np.ndarray) -> CameraTrack:
    """The clip's camera; the object's box must stay in frame for every frame (else ``out_of_frame``)."""
    width, height = spec.settings.width, spec.settings.height
    rng = np.random.default_rng(stream_seed(spec.seed, "camera"))
    try:
        if spec.camera_mode == "default":
            camera = default_camera(width, height, corners_world.shape[0])
        elif spec.camera_mode == "random":
            camera = random_camera(rng, width, height, corners_world)
        else:
            camera = moving_camera(rng, spec.camera_mode, width, height, corners_world)
    except CameraPlacementError as exc:
        raise RenderError("out_of_frame", str(exc)) from None
    pixels, depth = project_points(camera.K, camera.w2c, corners_world)
    inside = in_frame(pixels, depth, width, height)
    if not inside.all():
        frames = np.flatnonzero(~inside.all(axis=1))
        raise RenderError(
            "out_of_frame",
            f"the object's box leaves the {spec.camera_mode} camera's frame in frames {frames.tolist()[:8]}"
            f"{'...' if len(frames) > 8 else ''}",
        )
    return camera


def plate_record(
    settings: RenderSettings, corners_world: np.ndarray, camera: CameraTrack, scene: SceneDescription
) -> dict:
    """Whether this clip renders with a background plate, why not, and the per-frame regions."""
    if settings.plate_samples <= 0:
        return {"used": False, "reason": "plate_samples is 0", "samples": 0, "regions": None}
    reason = plate_unavailable_reason(camera, scene)
    if reason is not None:
        return {"used": False, "reason": reason, "samples": settings.plate_samples, "regions": None}
    plan = plan_plate(corners_world, camera, scene)
    return {"used": True, "reason": None, "samples": settings.plate_samples, "regions": plan.regions.tolist(),
            "area_fraction": plan.area_fraction(camera.width, camera.height)}
