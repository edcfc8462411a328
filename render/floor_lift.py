"""Image points <-> the floor plane z = 0 through a pinhole camera (pure numpy).

A pixel ``(u, v)`` (OpenCV camera, pixel centres at integer coordinates: docs/conventions.md) defines the
ray from the camera centre ``C`` through ``K^-1 (u, v, 1)``; :func:`lift_to_floor` intersects it with the
world floor plane z = 0 (world Z up, metres). :func:`floor_to_pixels` is the inverse, projecting floor
points back into the image. Both check their input and raise :class:`FloorPathError` with one line
naming the point and what is wrong: outside the image, above the horizon (the ray never meets the floor),
behind the camera, too far away to be meaningful, or not on the floor plane.
"""

from __future__ import annotations

import numpy as np

from render.camera import frame_overshoot, project_points

#: A lifted point farther than this from the camera (metres) is refused as "too close to the horizon":
#: a pixel's footprint there is metres wide, so the drawn position says little about where it lands.
MAX_LIFT_DISTANCE_M = 100.0
#: Tolerance (metres) of "on the floor plane" for given 3D points.
FLOOR_TOLERANCE_M = 1e-6
#: Slack (pixels) of the frame check, for points lifted from the image's very edge and projected back.
FRAME_TOLERANCE_PX = 1e-6


class FloorPathError(ValueError):
    """A point cannot be lifted onto the floor or projected into the image (the message says which, and why)."""


def _point_array(points: np.ndarray, dims: tuple[int, ...], what: str) -> np.ndarray:
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] not in dims or len(array) == 0:
        shapes = " or ".join(f"(N, {d})" for d in dims)
        raise FloorPathError(f"{what} must be a non-empty array of shape {shapes}, got {array.shape}")
    bad = np.flatnonzero(~np.isfinite(array).all(axis=1))
    if bad.size:
        raise FloorPathError(f"{what}: point {bad[0]} is not finite ({array[bad[0]].tolist()})")
    return array


def _check_camera(K: np.ndarray, w2c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    K = np.asarray(K, dtype=np.float64)
    w2c = np.asarray(w2c, dtype=np.float64)
    if K.shape != (3, 3) or w2c.shape != (4, 4):
        raise FloorPathError(f"camera must be K (3, 3) and one w2c (4, 4) (a static camera), got {K.shape} and {w2c.shape}")
    return K, w2c


def lift_to_floor(pixels: np.ndarray, K: np.ndarray, w2c: np.ndarray, width: int, height: int,
                  max_distance_m: float = MAX_LIFT_DISTANCE_M) -> np.ndarray:
    """World points (N, 3) on z = 0 seen at ``pixels`` (N, 2) of a ``width`` x ``height`` image by the
    static camera ``K``, ``w2c`` (OpenCV world-to-camera)."""
    pixels = _point_array(pixels, (2,), "image points")
    K, w2c = _check_camera(K, w2c)
    u, v = pixels[:, 0], pixels[:, 1]
    outside = np.flatnonzero((u < -0.5) | (u > width - 0.5) | (v < -0.5) | (v > height - 0.5))
    if outside.size:
        k = outside[0]
        raise FloorPathError(f"image point {k} ({u[k]:.1f}, {v[k]:.1f}) px lies outside the {width}x{height} image "
                             f"(x in [-0.5, {width - 0.5}], y in [-0.5, {height - 0.5}])")
    rotation, translation = w2c[:3, :3], w2c[:3, 3]
    centre = -rotation.T @ translation
    rays_camera = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], axis=1)
    rays_world = rays_camera @ rotation  # R^T d for each row d
    down = rays_world[:, 2]
    if centre[2] <= 0.0:
        raise FloorPathError(f"the camera is at height {centre[2]:.3f} m, not above the floor plane z = 0: "
                             "no image point can be lifted onto it")
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = np.where(down < 0.0, -centre[2] / down, np.inf)  # camera z-depth of the hit; rays_camera z = 1
    above = np.flatnonzero(~(depth > 0.0) | ~np.isfinite(depth))
    if above.size:
        k = above[0]
        raise FloorPathError(f"image point {k} ({u[k]:.1f}, {v[k]:.1f}) px is at or above the horizon: its ray "
                             "never meets the floor plane in front of the camera")
    points = centre + depth[:, None] * rays_world
    distance = np.linalg.norm(points - centre, axis=1)
    far = np.flatnonzero(distance > max_distance_m)
    if far.size:
        k = far[0]
        raise FloorPathError(f"image point {k} ({u[k]:.1f}, {v[k]:.1f}) px lands {distance[k]:.0f} m from the camera "
                             f"(more than {max_distance_m:g} m): too close to the horizon")
    points[:, 2] = 0.0  # exactly on the plane (the solve leaves ~1e-16 m)
    return points


def floor_to_pixels(points: np.ndarray, K: np.ndarray, w2c: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pixels (N, 2) of floor points (N, 2) ``(x, y)`` or (N, 3) ``(x, y, 0)``; every point must lie on the
    floor plane, in front of the camera and inside the ``width`` x ``height`` image."""
    points = _point_array(points, (2, 3), "floor points")
    K, w2c = _check_camera(K, w2c)
    if points.shape[1] == 3:
        off = np.flatnonzero(np.abs(points[:, 2]) > FLOOR_TOLERANCE_M)
        if off.size:
            k = off[0]
            raise FloorPathError(f"floor point {k} {_metres(points[k])} is not on the floor plane "
                                 f"(z = {points[k, 2]:.4g} m, must be 0)")
        points = points[:, :2]
    world = np.concatenate([points, np.zeros((len(points), 1))], axis=1)
    pixels, depth = project_points(K, w2c, world)
    behind = np.flatnonzero(depth <= 0.0)
    if behind.size:
        k = behind[0]
        raise FloorPathError(f"floor point {k} {_metres(world[k])} is behind the camera")
    overshoot = frame_overshoot(pixels, depth, width, height)
    out = np.flatnonzero(overshoot > FRAME_TOLERANCE_PX)
    if out.size:
        k = out[0]
        raise FloorPathError(f"floor point {k} {_metres(world[k])} leaves the {width}x{height} frame: it projects "
                             f"to ({pixels[k, 0]:.1f}, {pixels[k, 1]:.1f}) px")
    return pixels


def _metres(point: np.ndarray) -> str:
    return "(" + ", ".join(f"{c:.3f}" for c in point) + ") m"
