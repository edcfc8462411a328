"""A user-given floor path for a clip: world floor points, or image points lifted through the default camera.

The path is carried by the ``spline`` trajectory family: a natural cubic spline through the floor points
(in the order given), traversed at the clip's speed profile by arc length, so the object's ground contact
passes through every point, starting at the first and ending at the last. Such a trajectory is given, not
drawn from the seed: the renderer never redraws or scales it (``render.fitting``); when the object cannot
stay in frame along it the clip fails with ``out_of_frame``.

Image points are pixels of an image of a known size seen by the static default camera
(:func:`render.camera.default_camera` at that size: the PoseTraj-10k camera), lifted onto the floor plane
with :mod:`render.floor_lift`.
"""

from __future__ import annotations

import numpy as np

from render.camera import default_camera
from render.errors import RenderError
from render.floor_lift import FloorPathError, floor_to_pixels, lift_to_floor
from render.spec import ClipSpec, make_clip_spec

USER_PATH_FAMILY = "spline"
#: Consecutive floor points closer than this (metres) are merged: a double click is one point.
MIN_STEP_M = 1e-3


def lift_image_path(image_points: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Floor points (N, 3) under ``image_points`` (N, 2) of a ``(width, height)`` image seen by the default
    camera; raises :class:`FloorPathError` naming the first point that cannot be lifted."""
    width, height = _size(image_size)
    camera = default_camera(width, height, 1)
    return lift_to_floor(image_points, camera.K, camera.w2c[0], width, height)


def project_floor_path(floor_points: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Pixels (N, 2) of floor points in a ``(width, height)`` image of the default camera (checked: on the
    floor, in front of the camera, inside the frame)."""
    width, height = _size(image_size)
    camera = default_camera(width, height, 1)
    return floor_to_pixels(floor_points, camera.K, camera.w2c[0], width, height)


def floor_control_points(floor_points: np.ndarray) -> list[list[float]]:
    """The spline's control points: ``(x, y)`` of (N, 2) or on-floor (N, 3) points, consecutive points
    closer than :data:`MIN_STEP_M` merged; at least two distinct points must remain."""
    points = np.asarray(floor_points, dtype=np.float64)
    if points.ndim == 2 and points.shape[1] == 3:
        off = np.flatnonzero(~(np.abs(points[:, 2]) <= 1e-6))
        if off.size:
            raise FloorPathError(f"floor point {off[0]} {points[off[0]].tolist()} is not on the floor plane "
                                 f"(z = {points[off[0], 2]:.4g} m, must be 0)")
        points = points[:, :2]
    if points.ndim != 2 or points.shape[1] != 2:
        raise FloorPathError(f"floor points must have shape (N, 2) or (N, 3), got {points.shape}")
    if not np.isfinite(points).all():
        raise FloorPathError("floor points must be finite numbers")
    kept = [points[0]] if len(points) else []
    for point in points[1:]:
        if np.linalg.norm(point - kept[-1]) >= MIN_STEP_M:
            kept.append(point)
    if len(kept) < 2:
        raise FloorPathError(f"a path needs at least two distinct points, got {len(points)} point(s) "
                             f"({len(kept)} distinct)")
    return [[float(x), float(y)] for x, y in kept]


def user_clip_spec(asset: str, *, floor_points: np.ndarray | None = None, image_points: np.ndarray | None = None,
                   image_size: tuple[int, int] | None = None, **options) -> ClipSpec:
    """A clip spec whose object follows a user path (see the module docstring).

    Give ``floor_points`` ((N, 2) or (N, 3) world metres on z = 0), or ``image_points`` (N, 2) pixels with the
    ``image_size`` (width, height) of the image they were drawn on (default: the clip's size). ``options`` are
    :func:`render.spec.make_clip_spec`'s (preset, pose_mode, num_frames, width, height, seed, camera_mode ...).
    With the default camera every point must project inside the clip's frame. Raises ``RenderError``
    (``invalid_spec``) with one line naming the point and what is wrong."""
    if (floor_points is None) == (image_points is None):
        raise RenderError("invalid_spec", "user path: give either floor points or image points (exactly one)")
    if "trajectory_overrides" in options:
        raise RenderError("invalid_spec", "user path: the path's control points are the trajectory; "
                                          "trajectory_overrides cannot be combined with it")
    probe = make_clip_spec(asset, USER_PATH_FAMILY, **options)  # the clip's size and camera mode
    size = (probe.settings.width, probe.settings.height)
    try:
        if image_points is not None:
            if probe.camera_mode != "default":
                raise FloorPathError(f"image points are lifted through the default camera; the clip's camera mode "
                                     f"is {probe.camera_mode!r} (use camera mode 'default' or give floor points)")
            floor_points = lift_image_path(image_points, image_size or size)
        control = floor_control_points(floor_points)
        if probe.camera_mode == "default":
            project_floor_path(np.asarray(control), size)
    except FloorPathError as exc:
        raise RenderError("invalid_spec", f"user path: {exc}") from None
    return make_clip_spec(asset, USER_PATH_FAMILY, trajectory_overrides={"control_points": control}, **options)


def _size(image_size: tuple[int, int]) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in image_size)
    except (TypeError, ValueError):
        raise FloorPathError(f"image size must be (width, height), got {image_size!r}") from None
    if width <= 0 or height <= 0:
        raise FloorPathError(f"image size must be positive, got {width}x{height}")
    return width, height
