"""Framing a clip (pure numpy): the seeded camera that keeps the object's box in frame, and the
background-plate regions that follow from it."""

from __future__ import annotations

import hashlib

import numpy as np

from render.camera import (CameraPlacementError, CameraTrack, default_camera, frame_overshoot, moving_camera,
                           project_points, random_camera)
from render.errors import RenderError
from render.plate import plan_plate, plate_unavailable_reason
from render.scene import SceneDescription
from render.spec import ClipSpec, RenderSettings


def stream_seed(seed: int, stream: str) -> int:
    """Independent, stable random streams per purpose (camera, scene, tracks) from one clip seed."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{stream}".encode()).digest()[:8], "little")


def place_camera(spec: ClipSpec, corners_world: np.ndarray) -> CameraTrack:
    """The clip's camera; the object's box must stay in frame for every frame (else ``out_of_frame``,
    naming the frames and how far the box leaves the frame)."""
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
    overshoot = frame_overshoot(pixels, depth, width, height)
    if overshoot.max() > 0:
        raise RenderError("out_of_frame", f"the object's box leaves the {spec.camera_mode} camera's frame "
                                          f"{describe_overshoot(pixels, overshoot, width, height)}")
    return camera


def describe_overshoot(pixels: np.ndarray, overshoot: np.ndarray, width: int, height: int) -> str:
    """'in frames [..] by up to N px past the E edge' for (T,K) projected points and their overshoot."""
    frames = np.flatnonzero(overshoot.max(axis=1) > 0)
    listed = f"{frames.tolist()[:8]}{'...' if len(frames) > 8 else ''}"
    worst = np.unravel_index(np.argmax(overshoot), overshoot.shape)
    if not np.isfinite(overshoot[worst]):
        return f"in frames {listed} (a corner is behind the camera)"
    u, v = pixels[worst]
    edges = {"left": -0.5 - u, "right": u - (width - 0.5), "top": -0.5 - v, "bottom": v - (height - 0.5)}
    edge = max(edges, key=edges.get)
    amount = overshoot[worst]
    return (f"in frames {listed} by up to {amount:.{1 if amount >= 0.05 else 3}f} px past the {edge} edge "
            f"({width}x{height} image)")


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
