"""Arc-length parametrised object trajectories on the floor plane (pure numpy).

A trajectory is a path family (`half_circle`, `s_curve`, ...) with resolved parameters, a frame count,
an fps, a speed profile and a pose mode. `build_trajectory` turns a `TrajectorySpec` into per-frame
ground-contact points, headings and object rotations; `object_to_world` adds the height that makes the
object's box rest on the floor. Conventions (world Z-up metres, object +X = front) are in
docs/conventions.md; the families, parameters and ranges are documented in docs/trajectories.md.

Modules: `params` (parameter declarations and validation), `geometry` (curve derivatives, curvature,
arc length), `families` (path families and their registry), `pose_modes` (pose mode registry), `spec`
(`TrajectorySpec` and descriptions), `kinematics` (timing, headings, rotations, object -> world) and
`sampling` (seeded spec sampling).
"""

from render.trajectories.families import ROTATIONAL_FAMILIES, TRAJECTORY_NAMES, TRANSLATION_ONLY
from render.trajectories.kinematics import (build_trajectory, object_to_world, path_length, rotation_about_axis,
                                             rotation_about_z)
from render.trajectories.pose_modes import POSE_MODES, UPRIGHT_POSE_MODES
from render.trajectories.sampling import sample_trajectory_spec
from render.trajectories.spec import (TrajectorySpec, describe_pose_modes, describe_trajectories, parameter_docs,
                                      scale_path)

__all__ = [
    "POSE_MODES",
    "ROTATIONAL_FAMILIES",
    "TRAJECTORY_NAMES",
    "TRANSLATION_ONLY",
    "UPRIGHT_POSE_MODES",
    "TrajectorySpec",
    "build_trajectory",
    "describe_pose_modes",
    "describe_trajectories",
    "object_to_world",
    "parameter_docs",
    "path_length",
    "rotation_about_axis",
    "rotation_about_z",
    "sample_trajectory_spec",
    "scale_path",
]
