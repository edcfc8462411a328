"""`TrajectorySpec` (a validated, fully resolved trajectory) and the registry descriptions."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from render.trajectories.families import FAMILIES, FAMILY_LIST, TRAJECTORY_NAMES
from render.trajectories.params import resolve_params
from render.trajectories.pose_modes import POSE_MODE_REGISTRY, POSE_MODES

SPEED_PROFILES: tuple[str, ...] = ("constant", "ease")


# --------------------------------------------------------------------------------------------------
# Specs
# --------------------------------------------------------------------------------------------------


def choice_error(what: str, value: Any, valid: tuple[str, ...]) -> ValueError:
    return ValueError(f"unknown {what} {value!r}; valid choices: {', '.join(valid)}")


@dataclass(frozen=True)
class TrajectorySpec:
    """A fully resolved trajectory: family, parameters, timing, speed profile and pose mode.

    Missing params / pose_params are filled with the documented defaults (not random); construction
    validates everything and raises ValueError naming the offending field.
    """

    name: str = "half_circle"
    params: dict = field(default_factory=dict)
    num_frames: int = 32
    fps: float = 5.0
    speed_profile: str = "constant"
    pose_mode: str = "yaw"
    pose_params: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or self.name not in FAMILIES:
            raise choice_error("trajectory", self.name, TRAJECTORY_NAMES)
        family = FAMILIES[self.name]
        params = resolve_params(f"trajectory {self.name!r}", family.params, self.params)
        if family.check is not None and (message := family.check(params)) is not None:
            raise ValueError(f"trajectory {self.name!r}: {message}")
        if (isinstance(self.num_frames, (bool, np.bool_)) or not isinstance(self.num_frames, (int, np.integer))
                or self.num_frames < 2):
            raise ValueError(f"num_frames must be an integer >= 2, got {self.num_frames!r}")
        if (isinstance(self.fps, (bool, np.bool_)) or not isinstance(self.fps, (int, float, np.integer, np.floating))
                or not math.isfinite(self.fps) or self.fps <= 0):
            raise ValueError(f"fps must be a finite number > 0, got {self.fps!r}")
        if not isinstance(self.speed_profile, str) or self.speed_profile not in SPEED_PROFILES:
            raise choice_error("speed_profile", self.speed_profile, SPEED_PROFILES)
        if not isinstance(self.pose_mode, str) or self.pose_mode not in POSE_MODE_REGISTRY:
            raise choice_error("pose_mode", self.pose_mode, POSE_MODES)
        pose_params = resolve_params(f"pose mode {self.pose_mode!r}", POSE_MODE_REGISTRY[self.pose_mode].params,
                                     self.pose_params)
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "pose_params", pose_params)
        object.__setattr__(self, "num_frames", int(self.num_frames))
        object.__setattr__(self, "fps", float(self.fps))

    @property
    def duration(self) -> float:
        """Seconds from the first to the last frame."""
        return (self.num_frames - 1) / self.fps

    def to_dict(self) -> dict:
        """JSON-serialisable dict (as stored in meta.json's "trajectory" entry)."""
        return {
            "name": self.name,
            "params": _copy_params(self.params),
            "num_frames": self.num_frames,
            "fps": self.fps,
            "speed_profile": self.speed_profile,
            "pose_mode": self.pose_mode,
            "pose_params": _copy_params(self.pose_params),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "TrajectorySpec":
        """Inverse of `to_dict`; missing keys take the defaults, unknown keys raise ValueError."""
        if not isinstance(d, dict):
            raise ValueError(f"trajectory spec must be a dict, got {type(d).__name__}")
        valid = ("name", "params", "num_frames", "fps", "speed_profile", "pose_mode", "pose_params")
        unknown = sorted(set(d) - set(valid))
        if unknown:
            raise ValueError(f"trajectory spec: unknown key {unknown[0]!r}; valid keys: {', '.join(valid)}")
        return cls(**d)


def scale_path(spec: TrajectorySpec, factor: float) -> TrajectorySpec:
    """The same trajectory shrunk or grown about the origin: every length parameter (the path's and the
    pose mode's, e.g. a pitch bump's height) times ``factor``; angles, fractions and timing unchanged."""
    if not (math.isfinite(factor) and factor > 0):
        raise ValueError(f"path scale must be a finite number > 0, got {factor!r}")

    def scaled(declared, params: dict) -> dict:
        lengths = {p.name for p in declared if p.length}
        return {k: (np.asarray(v, dtype=np.float64) * factor).tolist() if k in lengths and isinstance(v, list)
                else v * factor if k in lengths else v for k, v in params.items()}

    return TrajectorySpec(**{**spec.to_dict(), "params": scaled(FAMILIES[spec.name].params, spec.params),
                             "pose_params": scaled(POSE_MODE_REGISTRY[spec.pose_mode].params, spec.pose_params)})


def _copy_params(params: dict) -> dict:
    return {k: [list(p) for p in v] if isinstance(v, list) else v for k, v in params.items()}


def describe_trajectories() -> dict[str, str]:
    """Trajectory family name -> one-line description, in `TRAJECTORY_NAMES` order."""
    return {f.name: f.description for f in FAMILY_LIST}


def describe_pose_modes() -> dict[str, str]:
    """Pose mode name -> one-line description, in `POSE_MODES` order."""
    return {name: POSE_MODE_REGISTRY[name].description for name in POSE_MODES}


def parameter_docs(name: str) -> dict[str, str]:
    """Parameter name -> documentation (units, default range) for a family or a pose mode."""
    if name in FAMILIES:
        declared = FAMILIES[name].params
    elif name in POSE_MODE_REGISTRY:
        declared = POSE_MODE_REGISTRY[name].params
    else:
        raise choice_error("trajectory or pose mode", name, TRAJECTORY_NAMES + POSE_MODES)
    return {p.name: p.doc for p in declared}
