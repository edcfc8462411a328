"""Kinematics of a spec: arc-length timing, speed profiles, headings, pose rotations, object -> world."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from render.trajectories.families import FAMILIES
from render.trajectories.geometry import arc_length_table, derivatives, signed_curvature
from render.trajectories.spec import TrajectorySpec


def path_length(spec: TrajectorySpec) -> float:
    """Length in metres of the spec's floor path."""
    return float(arc_length_table(FAMILIES[spec.name].curve(spec.params))[1][-1])


def _progress(spec: TrajectorySpec) -> tuple[np.ndarray, np.ndarray]:
    """Fraction of the path covered at each frame and its time derivative (1/s)."""
    x = np.arange(spec.num_frames) / (spec.num_frames - 1)
    if spec.speed_profile == "constant":
        return x, np.full_like(x, 1.0 / spec.duration)
    return x * x * (3.0 - 2.0 * x), 6.0 * x * (1.0 - x) / spec.duration  # smoothstep


def rotation_about_z(angle: np.ndarray) -> np.ndarray:
    """Rotations (..., 3, 3) about world Z by `angle` (...) radians (counter-clockwise seen from +Z)."""
    c, s = np.cos(angle), np.sin(angle)
    out = np.zeros(angle.shape + (3, 3))
    out[..., 0, 0], out[..., 0, 1], out[..., 1, 0], out[..., 1, 1], out[..., 2, 2] = c, -s, s, c, 1.0
    return out


def rotation_about_axis(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotations by `angle` (T,) about the unit `axis` (3,) (Rodrigues)."""
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    s, c = np.sin(angle)[:, None, None], np.cos(angle)[:, None, None]
    return np.eye(3) + s * k + (1.0 - c) * (k @ k)


_X_AXIS, _Y_AXIS = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])


def _bump(spec: TrajectorySpec, s: np.ndarray, length: float) -> tuple[np.ndarray, np.ndarray]:
    """Raised-cosine bump height and slope d(height)/ds at arc lengths s."""
    p = spec.pose_params
    width = p["bump_width"] * length
    phase = 2.0 * math.pi * (s - p["bump_center"] * length) / width
    inside = np.abs(phase) < math.pi
    height = np.where(inside, 0.5 * p["bump_height"] * (1.0 + np.cos(phase)), 0.0)
    slope = np.where(inside, -math.pi * p["bump_height"] / width * np.sin(phase), 0.0)
    return height, slope


def _pose(spec: TrajectorySpec, heading: np.ndarray, progress: np.ndarray, curvature: np.ndarray,
          speed: np.ndarray, s: np.ndarray, length: float) -> tuple[np.ndarray, np.ndarray]:
    """(rotation (T,3,3), lift (T,)) for the spec's pose mode."""
    p, yaw = spec.pose_params, rotation_about_z(heading)
    lift = np.zeros_like(heading)
    if spec.pose_mode == "yaw":
        return yaw, lift
    if spec.pose_mode == "spin":
        return rotation_about_z(heading + p["spin_angle"] * progress), lift
    if spec.pose_mode == "bank":
        lean = np.clip(p["bank_gain"] * curvature * speed ** 2, -p["max_bank"], p["max_bank"])
        return yaw @ rotation_about_axis(_X_AXIS, -lean), lift  # left turn (curvature > 0): top tilts to +Y
    if spec.pose_mode == "pitch":
        lift, slope = _bump(spec, s, length)
        return yaw @ rotation_about_axis(_Y_AXIS, -np.arctan(slope)), lift  # climbing: nose (+X) up
    axis = np.array([math.cos(p["tumble_axis"]), math.sin(p["tumble_axis"]), 0.0])
    return yaw @ rotation_about_axis(axis, p["tumble_angle"] * progress), lift


@dataclass(frozen=True)
class Trajectory:
    """Per-frame trajectory samples (arrays are read-only). See docs/trajectories.md."""

    spec: TrajectorySpec
    path_xy: np.ndarray     # (T, 2) ground-contact point on the floor, metres
    arc_length: np.ndarray  # (T,) cumulative floor arc length, metres
    heading: np.ndarray     # (T,) yaw of the path tangent, radians, unwrapped
    rotation: np.ndarray    # (T, 3, 3) object -> world rotation
    lift: np.ndarray        # (T,) height of the ground contact above the floor (pitch bumps), metres
    curvature: np.ndarray   # (T,) signed floor-path curvature, 1/m (> 0 turning left)
    speed: np.ndarray       # (T,) floor speed ds/dt, m/s
    time: np.ndarray        # (T,) seconds, t / fps

    @property
    def length(self) -> float:
        """Path length in metres (arc length at the last frame)."""
        return float(self.arc_length[-1])


def build_trajectory(spec: TrajectorySpec) -> Trajectory:
    """Sample the spec's path at equal time steps, positioned by arc length along the path."""
    curve = FAMILIES[spec.name].curve(spec.params)
    table_u, table_s = arc_length_table(curve)
    length = float(table_s[-1])
    progress, rate = _progress(spec)
    s = progress * length
    u = np.interp(s, table_s, table_u)
    first, second = derivatives(curve, u)
    heading = np.unwrap(np.arctan2(first[:, 1], first[:, 0]))
    curvature = signed_curvature(first, second)
    speed = rate * length
    rotation, lift = _pose(spec, heading, progress, curvature, speed, s, length)
    arrays = dict(path_xy=curve(u), arc_length=s, heading=heading, rotation=rotation, lift=lift,
                  curvature=curvature, speed=speed, time=np.arange(spec.num_frames) / spec.fps)
    for array in arrays.values():
        array.setflags(write=False)
    return Trajectory(spec=spec, **arrays)


def object_to_world(traj: Trajectory, extents: np.ndarray) -> np.ndarray:
    """(T, 4, 4) object -> world transforms that rest the rotated object box on the floor (+ lift).

    `extents` are the full side lengths of the object-frame box centred on the object origin; the box's
    lowest corner ends at z = lift: translation z = lift + 0.5·Σ_i |R[2, i]|·extents[i].
    """
    extents = np.asarray(extents, dtype=np.float64)
    if extents.shape != (3,) or not np.all(np.isfinite(extents)) or np.any(extents < 0):
        raise ValueError(f"extents must be 3 finite non-negative side lengths, got {extents.tolist()!r}")
    half_height = 0.5 * np.abs(traj.rotation[:, 2, :]) @ extents
    out = np.zeros((len(traj.path_xy), 4, 4))
    out[:, :3, :3] = traj.rotation
    out[:, :2, 3] = traj.path_xy
    out[:, 2, 3] = traj.lift + half_height
    out[:, 3, 3] = 1.0
    return out
