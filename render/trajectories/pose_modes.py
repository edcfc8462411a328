"""Pose modes: how the object rotates (and lifts) along its path; declarations and registry."""

from __future__ import annotations

import math
from dataclasses import dataclass

from render.trajectories.params import TWO_PI, Param, signed_uniform, uniform


# --------------------------------------------------------------------------------------------------
# Pose modes
# --------------------------------------------------------------------------------------------------

# Pitch bumps are sampled no steeper than this (the sampled height is capped to respect it).
MAX_SAMPLED_BUMP_SLOPE_DEG = 30.0


@dataclass(frozen=True)
class _PoseMode:
    name: str
    description: str
    params: tuple[Param, ...]


POSE_MODES: tuple[str, ...] = ("yaw", "spin", "bank", "pitch", "tumble")
# modes that only turn the object about the world's up axis: it keeps its attitude to the floor
UPRIGHT_POSE_MODES: tuple[str, ...] = ("yaw", "spin")
POSE_MODE_REGISTRY: dict[str, _PoseMode] = {m.name: m for m in (
    _PoseMode("yaw", "heading only: object +X follows the path tangent", ()),
    _PoseMode("spin", "heading plus an extra spin about world Z growing with path progress", (
        Param("spin_angle", TWO_PI, signed_uniform(math.pi, 4.0 * math.pi),
              "total extra yaw over the clip, radians (+ = counter-clockwise); sampled ±[π, 4π]"),)),
    _PoseMode("bank", "roll into turns: angle = bank_gain·curvature·speed², clipped to ±max_bank", (
        Param("bank_gain", 1.0, uniform(0.5, 2.0), "radians per m/s² of lateral acceleration; sampled in "
              "[0.5, 2.0]", low=0.0),
        Param("max_bank", 0.5, uniform(math.radians(15.0), math.radians(35.0)),
              "largest roll, radians; sampled in [15°, 35°]", low=0.0, high=0.5 * math.pi))),
    _PoseMode("pitch", "drive over a raised-cosine bump: centre rises, pitch = slope angle", (
        Param("bump_height", 0.2, uniform(0.1, 0.3), "metres; sampled in [0.1, 0.3], capped so the "
              f"steepest slope is <= {MAX_SAMPLED_BUMP_SLOPE_DEG:g}°", low=0.0, length=True),
        Param("bump_center", 0.5, uniform(0.35, 0.65), "position of the top as a fraction of the path "
              "length; sampled in [0.35, 0.65]", low=0.0, high=1.0),
        Param("bump_width", 0.4, uniform(0.3, 0.5), "full width as a fraction of the path length; sampled "
              "in [0.3, 0.5]", low=0.0, low_open=True, high=1.0))),
    _PoseMode("tumble", "heading plus rotation about a horizontal axis through the object centre", (
        Param("tumble_angle", TWO_PI, signed_uniform(0.5 * math.pi, 2.0 * math.pi),
              "total tumble rotation over the clip, radians (right-hand rule about the axis); sampled "
              "±[π/2, 2π]"),
        Param("tumble_axis", 0.5 * math.pi, uniform(0.0, math.pi),
              "axis direction in the heading frame, radians from the object's +X towards +Y "
              "(0 = roll over the front axis, π/2 = somersault about the left axis); sampled in [0, π)"))),
)}
