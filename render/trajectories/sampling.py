"""Seeded sampling of a `TrajectorySpec` from the documented parameter ranges."""

from __future__ import annotations

import math

import numpy as np

from render.trajectories.families import FAMILIES, TRAJECTORY_NAMES
from render.trajectories.kinematics import path_length
from render.trajectories.pose_modes import MAX_SAMPLED_BUMP_SLOPE_DEG, POSE_MODE_REGISTRY, POSE_MODES
from render.trajectories.spec import TrajectorySpec, choice_error


def sample_trajectory_spec(name: str, seed: int, *, num_frames: int = 32, fps: float = 5.0,
                           speed_profile: str = "constant", pose_mode: str = "yaw",
                           overrides: dict | None = None) -> TrajectorySpec:
    """Draw a spec of family `name` from its documented ranges with `numpy.random.default_rng(seed)`.

    Deterministic: the same arguments give an identical spec. Path parameters come from
    `default_rng(seed)` and pose parameters from `default_rng([seed, 1])`, all drawn in a fixed order
    even when overridden, so fixing one parameter or changing the pose mode leaves the others unchanged.
    `overrides` maps path or pose parameter names to fixed values.
    """
    if not isinstance(name, str) or name not in FAMILIES:
        raise choice_error("trajectory", name, TRAJECTORY_NAMES)
    if not isinstance(pose_mode, str) or pose_mode not in POSE_MODE_REGISTRY:
        raise choice_error("pose_mode", pose_mode, POSE_MODES)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    family, mode = FAMILIES[name], POSE_MODE_REGISTRY[pose_mode]
    overrides = dict(overrides or {})
    path_names = {p.name for p in family.params}
    pose_names = {p.name for p in mode.params}
    unknown = sorted(set(overrides) - path_names - pose_names)
    if unknown:
        valid = ", ".join([p.name for p in family.params] + [p.name for p in mode.params])
        raise ValueError(f"trajectory {name!r} with pose mode {pose_mode!r}: unknown param {unknown[0]!r}; "
                         f"valid params: {valid}")

    path_rng = np.random.default_rng(int(seed))
    params = {p.name: p.draw(path_rng) for p in family.params}
    params.update({k: v for k, v in overrides.items() if k in path_names})
    pose_rng = np.random.default_rng([int(seed), 1])
    pose_params = {p.name: p.draw(pose_rng) for p in mode.params}
    pose_params.update({k: v for k, v in overrides.items() if k in pose_names})

    spec = TrajectorySpec(name=name, params=params, num_frames=num_frames, fps=fps,
                          speed_profile=speed_profile, pose_mode=pose_mode, pose_params=pose_params)
    if pose_mode == "pitch" and "bump_height" not in overrides:
        width = spec.pose_params["bump_width"] * path_length(spec)
        cap = math.tan(math.radians(MAX_SAMPLED_BUMP_SLOPE_DEG)) * width / math.pi
        if spec.pose_params["bump_height"] > cap:
            spec = TrajectorySpec(**{**spec.to_dict(), "pose_params": {**spec.pose_params, "bump_height": cap}})
    return spec
