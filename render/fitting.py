"""Fitting a clip's trajectory to its object and camera (pure numpy), before anything is path traced.

A *drawn* trajectory (its parameters are what the clip seed draws: see :func:`is_drawn`) whose object box
would leave the frame is first redrawn with the dataset driver's derived seeds
(:func:`render.dataset.redraw_trajectory`, attempt 1, 2, ...); when no redraw fits — the object is large
for the frame, e.g. a cube on the 1.1 m half circle — the requested path is scaled down about its centre
(:func:`render.trajectories.scale_path`) to the largest factor that fits. A trajectory given explicitly
(overridden parameters, a hand-built spec) is never changed: it renders as given or fails with
``out_of_frame`` naming the frames and how far out. What was done is ``meta.json``'s ``fit`` record.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from render.camera import CameraTrack
from render.errors import RenderError
from render.framing import place_camera
from render.groundtruth import box_corners_object, transform_points
from render.spec import ClipSpec
from render.trajectories import (TrajectorySpec, build_trajectory, object_to_world, sample_trajectory_spec,
                                 scale_path)
from render.trajectories.kinematics import Trajectory

SCALE_STEP = 0.05  # coarse search step of the path scale; then refined by bisection
SCALE_REFINEMENTS = 6  # bisection steps: the factor found is within SCALE_STEP / 2**6 of the largest that fits


@dataclass(frozen=True)
class FitPolicy:
    """How a drawn trajectory that leaves the frame may be changed (``render_clip(..., fit=FitPolicy())``,
    ``posetraj render``'s default). ``None`` in place of a policy renders the spec exactly as given."""

    max_redraws: int = 8  # redraws with derived seeds before the path is scaled
    scale_path: bool = True  # scale the requested path down when no redraw fits
    min_path_scale: float = 0.05  # smallest factor tried

    def __post_init__(self) -> None:
        if self.max_redraws < 0:
            raise RenderError("invalid_spec", f"max_redraws must be >= 0, got {self.max_redraws}")
        if not 0.0 < self.min_path_scale <= 1.0:
            raise RenderError("invalid_spec", f"min_path_scale must be in (0, 1], got {self.min_path_scale}")


@dataclass(frozen=True)
class FramedClip:
    """The trajectory that is rendered (maybe redrawn or scaled), its poses, box corners and camera."""

    spec: ClipSpec  # the spec rendered: the requested one with the fitted trajectory, same clip id
    trajectory: Trajectory
    obj_to_world: np.ndarray  # (T,4,4)
    corners_world: np.ndarray  # (T,8,3)
    camera: CameraTrack
    record: dict  # meta.json "fit"


def is_drawn(spec: ClipSpec) -> bool:
    """True when the spec's trajectory is exactly what its seed draws (no parameter was given by hand)."""
    traj = spec.trajectory
    try:
        drawn = sample_trajectory_spec(traj.name, spec.seed, num_frames=traj.num_frames, fps=traj.fps,
                                       speed_profile=traj.speed_profile, pose_mode=traj.pose_mode)
    except ValueError:
        return False
    return drawn == traj


def frame_clip(spec: ClipSpec, trajectory: Trajectory, extents: np.ndarray, policy: FitPolicy | None) -> FramedClip:
    """Place the camera for ``trajectory`` and, when the object's box leaves the frame and ``policy``
    allows it, fit a drawn trajectory (see the module docstring). Raises ``out_of_frame`` otherwise."""
    record = {"status": "as_requested", "policy": None if policy is None else asdict(policy),
              "redraw_attempt": 0, "path_scale": 1.0}
    try:
        return _framed(spec, trajectory, extents, record)
    except RenderError as exc:
        if exc.code != "out_of_frame" or policy is None:
            raise
        requested_error = exc
    if not is_drawn(spec):
        raise RenderError("out_of_frame", f"{requested_error.message}; the trajectory's parameters were given, "
                                          "not drawn from the seed, so it is rendered as given or not at all")
    record["requested_trajectory"] = spec.trajectory.to_dict()
    record["requested_error"] = requested_error.message
    from render.dataset import redraw_trajectory

    for attempt in range(1, policy.max_redraws + 1):
        candidate = redraw_trajectory(spec, attempt).trajectory
        framed = _try(spec, candidate, extents, record | {"status": "redrawn", "redraw_attempt": attempt})
        if framed is not None:
            return framed
    if policy.scale_path:
        framed = _scaled(spec, extents, policy, record | {"status": "path_scaled"})
        if framed is not None:
            return framed
    tried = f"{policy.max_redraws} redraws" + (f" and the path scaled down to {policy.min_path_scale:g}"
                                                if policy.scale_path else "")
    raise RenderError("out_of_frame", f"{requested_error.message}; {tried} did not keep it in frame either")


def describe_fit(record: dict) -> str | None:
    """One line saying how the trajectory was fitted (a ``fit`` record); None when it rendered as requested."""
    status = record.get("status", "as_requested")
    if status == "as_requested":
        return None
    done = (f"redrawn with derived seed attempt {record['redraw_attempt']}" if status == "redrawn"
            else f"its path scaled by {record['path_scale']:.3f}")
    return f"the drawn trajectory left the frame ({record['requested_error']}); {done} to keep it in frame"


def _framed(spec: ClipSpec, trajectory: Trajectory, extents: np.ndarray, record: dict) -> FramedClip:
    obj_to_world = object_to_world(trajectory, extents)
    corners_world = transform_points(obj_to_world, box_corners_object(extents))
    camera = place_camera(spec, corners_world)
    return FramedClip(replace(spec, trajectory=trajectory.spec), trajectory, obj_to_world, corners_world, camera,
                      record)


def _try(spec: ClipSpec, traj_spec: TrajectorySpec, extents: np.ndarray, record: dict) -> FramedClip | None:
    try:
        return _framed(spec, build_trajectory(traj_spec), extents, record)
    except RenderError as exc:
        if exc.code != "out_of_frame":
            raise
        return None


def _scaled(spec: ClipSpec, extents: np.ndarray, policy: FitPolicy, record: dict) -> FramedClip | None:
    """The requested path at the largest scale in [min_path_scale, 1) that fits: a coarse downward search
    in steps of SCALE_STEP, then bisection between the first fit and the step above it."""
    def attempt(factor: float) -> FramedClip | None:
        return _try(spec, scale_path(spec.trajectory, factor), extents, record | {"path_scale": factor})

    steps = int(np.floor((1.0 - policy.min_path_scale) / SCALE_STEP + 1e-9))
    factors = [round(1.0 - k * SCALE_STEP, 10) for k in range(1, steps + 1)]
    if not factors or factors[-1] > policy.min_path_scale:
        factors.append(policy.min_path_scale)
    above, found = 1.0, None
    for factor in factors:
        found = attempt(factor)
        if found is not None:
            break
        above = factor
    if found is None:
        return None
    low, high = found.record["path_scale"], above
    for _ in range(SCALE_REFINEMENTS):
        middle = 0.5 * (low + high)
        better = attempt(middle)
        if better is not None:
            found, low = better, middle
        else:
            high = middle
    return found
