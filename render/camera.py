"""Camera models in OpenCV convention (pure numpy): intrinsics, poses, projection and placement.

Conventions are in ``docs/conventions.md``: camera x right, y down, z forward; pixel centres at
integer coordinates. The Blender backend turns a :class:`CameraTrack` into a Blender camera with
:func:`blender_camera_matrix_world` and :func:`lens_mm_from_intrinsics`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

#: Blender camera axes (x right, y up, looking down -z) to OpenCV axes (x right, y down, z forward).
BLENDER_TO_OPENCV = np.diag([1.0, -1.0, -1.0])

DEFAULT_SENSOR_MM = 36.0
CAMERA_MODES = ("default", "random", "orbit", "pan")


class CameraPlacementError(RuntimeError):
    """No camera in the sampled range keeps the object in frame for the whole clip."""


def intrinsics_matrix(width: int, height: int, lens_mm: float, sensor_mm: float = DEFAULT_SENSOR_MM) -> np.ndarray:
    """Pixel intrinsics of an unshifted Blender camera with sensor fit AUTO (integer pixel centres)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if lens_mm <= 0 or sensor_mm <= 0:
        raise ValueError(f"lens and sensor must be positive, got lens={lens_mm} mm, sensor={sensor_mm} mm")
    focal = lens_mm / sensor_mm * max(width, height)
    return np.array([[focal, 0.0, (width - 1) / 2.0], [0.0, focal, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


def lens_mm_from_intrinsics(K: np.ndarray, width: int, height: int, sensor_mm: float = DEFAULT_SENSOR_MM) -> float:
    """Blender lens (mm) that gives focal length ``K[0, 0]`` with sensor fit AUTO."""
    return float(K[0, 0]) * sensor_mm / max(width, height)


def look_at_w2c(eye: np.ndarray, target: np.ndarray, up: np.ndarray = np.array([0.0, 0.0, 1.0])) -> np.ndarray:
    """World-to-camera (OpenCV) matrix of a camera at ``eye`` looking at ``target`` with world ``up`` up."""
    eye = np.asarray(eye, dtype=np.float64)
    forward = np.asarray(target, dtype=np.float64) - eye
    norm = np.linalg.norm(forward)
    if norm < 1e-9:
        raise ValueError("camera eye and target coincide")
    forward /= norm
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-9:
        raise ValueError("camera looks straight along the up vector; pick another up")
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])  # rows: camera axes in world coordinates
    w2c = np.eye(4)
    w2c[:3, :3] = rotation
    w2c[:3, 3] = -rotation @ eye
    return w2c


def euler_xyz_to_matrix(rx: float, ry: float, rz: float) -> np.ndarray:
    """Rotation matrix of Blender's XYZ Euler mode (applied x, then y, then z)."""
    cx, sx, cy, sy, cz, sz = math.cos(rx), math.sin(rx), math.cos(ry), math.sin(ry), math.cos(rz), math.sin(rz)
    rot_x = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    rot_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rot_z = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rot_z @ rot_y @ rot_x


def w2c_from_blender_matrix_world(matrix_world: np.ndarray) -> np.ndarray:
    """OpenCV world-to-camera matrix of a Blender camera object's ``matrix_world`` (unit scale)."""
    inverse = np.linalg.inv(np.asarray(matrix_world, dtype=np.float64))
    w2c = np.eye(4)
    w2c[:3, :3] = BLENDER_TO_OPENCV @ inverse[:3, :3]
    w2c[:3, 3] = BLENDER_TO_OPENCV @ inverse[:3, 3]
    return w2c


def blender_camera_matrix_world(w2c: np.ndarray) -> np.ndarray:
    """Blender camera ``matrix_world`` for an OpenCV world-to-camera matrix (inverse of the above)."""
    blender_w2c = np.eye(4)
    blender_w2c[:3, :3] = BLENDER_TO_OPENCV @ w2c[:3, :3]
    blender_w2c[:3, 3] = BLENDER_TO_OPENCV @ w2c[:3, 3]
    return np.linalg.inv(blender_w2c)


def project_points(K: np.ndarray, w2c: np.ndarray, points_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project world points with one camera or one camera per frame.

    ``w2c`` is (4,4) or (T,4,4); ``points_world`` is (..., 3) broadcastable against the frames, e.g.
    (T, N, 3) with (T,4,4). Returns pixel coordinates (..., 2) and camera depth z (...).
    """
    w2c = np.asarray(w2c, dtype=np.float64)
    pts = np.asarray(points_world, dtype=np.float64)
    if w2c.ndim == 2:
        cam = pts @ w2c[:3, :3].T + w2c[:3, 3]
    else:
        cam = np.einsum("tij,t...j->t...i", w2c[:, :3, :3], pts) + w2c[:, None, :3, 3].reshape(
            (w2c.shape[0],) + (1,) * (pts.ndim - 2) + (3,)
        )
    z = cam[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = cam[..., :2] / z[..., None]
    pixels = uv * np.array([K[0, 0], K[1, 1]]) + np.array([K[0, 2], K[1, 2]])
    return pixels, z


def in_frame(pixels: np.ndarray, depth: np.ndarray, width: int, height: int, margin: float = 0.0) -> np.ndarray:
    """True where a projected point lies inside the image (shrunk by ``margin`` pixels) in front of the camera."""
    u, v = pixels[..., 0], pixels[..., 1]
    return (
        (depth > 0)
        & (u >= -0.5 + margin)
        & (u <= width - 0.5 - margin)
        & (v >= -0.5 + margin)
        & (v <= height - 0.5 - margin)
    )


def frame_overshoot(pixels: np.ndarray, depth: np.ndarray, width: int, height: int, margin: float = 0.0) -> np.ndarray:
    """How far (pixels) each projected point lies outside the image shrunk by ``margin``: 0 inside, inf
    behind the camera. ``in_frame`` is ``frame_overshoot(...) == 0``."""
    u, v = pixels[..., 0], pixels[..., 1]
    low, high_u, high_v = -0.5 + margin, width - 0.5 - margin, height - 0.5 - margin
    with np.errstate(invalid="ignore"):
        out = np.maximum.reduce([low - u, u - high_u, low - v, v - high_v, np.zeros_like(u)])
    return np.where(depth > 0, out, np.inf)


@dataclass(frozen=True)
class CameraTrack:
    """A camera over a clip: shared intrinsics and one world-to-camera pose per frame."""

    K: np.ndarray
    w2c: np.ndarray  # (T,4,4)
    width: int
    height: int
    lens_mm: float
    sensor_mm: float = DEFAULT_SENSOR_MM
    mode: str = "default"
    params: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.w2c.shape[0])

    @property
    def is_static(self) -> bool:
        return bool(np.allclose(self.w2c, self.w2c[:1], atol=0.0))


@dataclass(frozen=True)
class RandomCameraRanges:
    """Ranges the randomised camera is drawn from (uniform). Distances in metres, angles in degrees."""

    distance_m: tuple[float, float] = (3.5, 6.0)
    elevation_deg: tuple[float, float] = (15.0, 45.0)
    azimuth_deg: tuple[float, float] = (-180.0, 180.0)
    lens_mm: tuple[float, float] = (35.0, 60.0)
    target_jitter_m: float = 0.2
    margin_px: float = 2.0
    max_tries: int = 200


def default_camera(width: int, height: int, num_frames: int) -> CameraTrack:
    """The PoseTraj-10k camera: static at (0, -4.7, 2.3), Euler XYZ (67 deg, 0, 0), 50 mm lens, 36 mm sensor."""
    location = np.array([0.0, -4.7, 2.3])
    matrix_world = np.eye(4)
    matrix_world[:3, :3] = euler_xyz_to_matrix(math.radians(67.0), 0.0, 0.0)
    matrix_world[:3, 3] = location
    w2c = w2c_from_blender_matrix_world(matrix_world)
    lens = 50.0
    K = intrinsics_matrix(width, height, lens)
    params = {"location": location.tolist(), "rotation_euler_xyz_deg": [67.0, 0.0, 0.0], "lens_mm": lens}
    return CameraTrack(K, np.repeat(w2c[None], num_frames, axis=0), width, height, lens, mode="default", params=params)


def _spherical_eye(target: np.ndarray, distance: float, elevation: float, azimuth: float) -> np.ndarray:
    """Camera position at ``distance`` from ``target``; azimuth 0 puts the camera on the -Y side."""
    horizontal = distance * math.cos(elevation)
    return target + np.array(
        [horizontal * math.sin(azimuth), -horizontal * math.cos(azimuth), distance * math.sin(elevation)]
    )


def _overshoot(camera: CameraTrack, corners_world: np.ndarray, margin: float) -> float:
    """Largest distance (pixels) by which a box corner leaves the frame shrunk by ``margin`` (0: it fits)."""
    pixels, depth = project_points(camera.K, camera.w2c, corners_world)
    return float(frame_overshoot(pixels, depth, camera.width, camera.height, margin).max())


def _placement_error(what: str, tries: int, best: float) -> CameraPlacementError:
    closest = "behind the camera" if not np.isfinite(best) else f"by {best:.1f} px"
    return CameraPlacementError(f"no {what} camera kept the object in frame after {tries} tries (the closest left "
                                f"the frame {closest})")


def _check_corners(corners_world: np.ndarray, num_frames: int) -> np.ndarray:
    corners_world = np.asarray(corners_world, dtype=np.float64)
    if corners_world.shape != (num_frames, 8, 3):
        raise ValueError(f"corners_world must have shape ({num_frames}, 8, 3), got {corners_world.shape}")
    return corners_world


def random_camera(
    rng: np.random.Generator,
    width: int,
    height: int,
    corners_world: np.ndarray,
    ranges: RandomCameraRanges = RandomCameraRanges(),
) -> CameraTrack:
    """Static camera with random distance, elevation, azimuth and lens, aimed near the path's centre.

    Re-samples until the object's box (``corners_world``, (T,8,3)) stays in frame for every frame.
    """
    num_frames = corners_world.shape[0]
    corners_world = _check_corners(corners_world, num_frames)
    centre = corners_world.reshape(-1, 3).mean(axis=0)
    best = math.inf
    for attempt in range(ranges.max_tries):
        distance = rng.uniform(*ranges.distance_m)
        elevation = math.radians(rng.uniform(*ranges.elevation_deg))
        azimuth = math.radians(rng.uniform(*ranges.azimuth_deg))
        lens = rng.uniform(*ranges.lens_mm)
        target = centre + np.append(rng.uniform(-1, 1, size=2) * ranges.target_jitter_m, 0.0)
        eye = _spherical_eye(target, distance, elevation, azimuth)
        w2c = look_at_w2c(eye, target)
        K = intrinsics_matrix(width, height, lens)
        params = {
            "distance_m": distance, "elevation_deg": math.degrees(elevation), "azimuth_deg": math.degrees(azimuth),
            "lens_mm": lens, "target": target.tolist(), "attempts": attempt + 1,
        }
        camera = CameraTrack(K, np.repeat(w2c[None], num_frames, axis=0), width, height, lens, mode="random", params=params)
        overshoot = _overshoot(camera, corners_world, ranges.margin_px)
        if overshoot == 0.0:
            return camera
        best = min(best, overshoot)
    raise _placement_error("random", ranges.max_tries, best)


def moving_camera(
    rng: np.random.Generator,
    mode: str,
    width: int,
    height: int,
    corners_world: np.ndarray,
    ranges: RandomCameraRanges = RandomCameraRanges(),
    sweep_deg: tuple[float, float] = (20.0, 60.0),
) -> CameraTrack:
    """A moving camera: ``orbit`` circles the scene centre, ``pan`` stays put and turns to follow the object.

    Orbit sweeps a random azimuth range (sign random) around the path centre at a fixed distance and
    elevation; pan aims each frame at the object's centre from a fixed position. Re-samples until the
    object stays in frame for the whole clip.
    """
    if mode not in ("orbit", "pan"):
        raise ValueError(f"moving camera mode must be 'orbit' or 'pan', got {mode!r}")
    num_frames = corners_world.shape[0]
    corners_world = _check_corners(corners_world, num_frames)
    centre = corners_world.reshape(-1, 3).mean(axis=0)
    object_centres = corners_world.mean(axis=1)
    fraction = np.linspace(0.0, 1.0, num_frames)
    best = math.inf
    for attempt in range(ranges.max_tries):
        distance = rng.uniform(*ranges.distance_m)
        elevation = math.radians(rng.uniform(*ranges.elevation_deg))
        azimuth0 = math.radians(rng.uniform(*ranges.azimuth_deg))
        lens = rng.uniform(*ranges.lens_mm)
        K = intrinsics_matrix(width, height, lens)
        if mode == "orbit":
            sweep = math.radians(rng.uniform(*sweep_deg)) * rng.choice([-1.0, 1.0])
            w2c = np.stack([
                look_at_w2c(_spherical_eye(centre, distance, elevation, azimuth0 + sweep * f), centre) for f in fraction
            ])
            params = {"sweep_deg": math.degrees(sweep)}
        else:
            eye = _spherical_eye(centre, distance, elevation, azimuth0)
            w2c = np.stack([look_at_w2c(eye, c) for c in object_centres])
            params = {"eye": eye.tolist()}
        params.update({
            "distance_m": distance, "elevation_deg": math.degrees(elevation), "azimuth_deg": math.degrees(azimuth0),
            "lens_mm": lens, "centre": centre.tolist(), "attempts": attempt + 1,
        })
        camera = CameraTrack(K, w2c, width, height, lens, mode=mode, params=params)
        overshoot = _overshoot(camera, corners_world, ranges.margin_px)
        if overshoot == 0.0:
            return camera
        best = min(best, overshoot)
    raise _placement_error(mode, ranges.max_tries, best)
