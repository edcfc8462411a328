"""Arc-length parametrised object trajectories on the floor plane (pure numpy).

A trajectory is a path family (`half_circle`, `s_curve`, ...) with resolved parameters, a frame count,
an fps, a speed profile and a pose mode. `build_trajectory` turns a `TrajectorySpec` into per-frame
ground-contact points, headings and object rotations; `object_to_world` adds the height that makes the
object's box rest on the floor. Conventions (world Z-up metres, object +X = front) are in
docs/conventions.md; the families, parameters and ranges are documented in docs/trajectories.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

TWO_PI = 2.0 * math.pi
SPEED_PROFILES: tuple[str, ...] = ("constant", "ease")

# Polyline segments per path for the arc-length table: the chord error L·(h·κ)²/24 stays below
# 1e-7 m for every family's ranges (required: 1e-4 m).
_DENSE_SAMPLES = 1 << 16
# Step in the path parameter u for finite-difference tangents and curvature.
_DIFF_STEP = 1e-4

Curve = Callable[[np.ndarray], np.ndarray]  # u (N,) in [0, 1] -> points (N, 2); valid slightly outside too


# --------------------------------------------------------------------------------------------------
# Parameter declarations
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Param:
    """One documented parameter: default, seeded sampler and validity bounds."""

    name: str
    default: Any
    draw: Callable[[np.random.Generator], Any]
    doc: str
    kind: str = "real"  # "real" | "choice" (integer from `choices`) | "points" (list of [x, y])
    low: float | None = None
    low_open: bool = False  # True: value must be > low, else >= low
    high: float | None = None
    choices: tuple[int, ...] = ()


def _uniform(lo: float, hi: float) -> Callable[[np.random.Generator], float]:
    return lambda rng: float(rng.uniform(lo, hi))


def _fixed(value: float) -> Callable[[np.random.Generator], float]:
    return lambda rng: value


def _sign(rng: np.random.Generator) -> int:
    return 1 if rng.random() < 0.5 else -1


def _signed_uniform(lo: float, hi: float) -> Callable[[np.random.Generator], float]:
    def draw(rng: np.random.Generator) -> float:
        magnitude = float(rng.uniform(lo, hi))
        return magnitude * _sign(rng)

    return draw


def _angle_param(name: str, doc: str) -> _Param:
    return _Param(name, 0.0, _uniform(0.0, TWO_PI), doc + "; radians, sampled uniformly in [0, 2π)")


def _direction_param(doc: str = "+1 counter-clockwise (left turns), -1 clockwise") -> _Param:
    return _Param("direction", 1, _sign, doc + "; sampled ±1 with equal probability", kind="choice",
                  choices=(-1, 1))


def _resolve_value(owner: str, param: _Param, value: Any) -> Any:
    """Check one parameter value and convert it to plain JSON-serialisable Python types."""
    if param.kind == "points":
        return _resolve_points(owner, param, value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{owner}: param {param.name!r} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{owner}: param {param.name!r} must be finite, got {value!r}")
    if param.kind == "choice":
        if number not in param.choices:
            raise ValueError(f"{owner}: param {param.name!r} must be one of {list(param.choices)}, got {value!r}")
        return int(number)
    if param.low is not None:
        if param.low_open and not number > param.low:
            raise ValueError(f"{owner}: param {param.name!r} must be > {param.low}, got {value!r}")
        if not param.low_open and not number >= param.low:
            raise ValueError(f"{owner}: param {param.name!r} must be >= {param.low}, got {value!r}")
    if param.high is not None and not number <= param.high:
        raise ValueError(f"{owner}: param {param.name!r} must be <= {param.high}, got {value!r}")
    return number


def _resolve_points(owner: str, param: _Param, value: Any) -> list[list[float]]:
    try:
        points = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: param {param.name!r} must be a list of [x, y] pairs, got {value!r}") from None
    if points.ndim != 2 or points.shape[1] != 2 or len(points) < 2:
        raise ValueError(f"{owner}: param {param.name!r} must be a list of at least 2 [x, y] pairs, "
                         f"got shape {points.shape}")
    if not np.all(np.isfinite(points)):
        raise ValueError(f"{owner}: param {param.name!r} must hold finite numbers")
    if np.any(np.linalg.norm(np.diff(points, axis=0), axis=1) <= 1e-9):
        raise ValueError(f"{owner}: param {param.name!r} has two consecutive identical points")
    return [[float(x), float(y)] for x, y in points]


def _resolve_params(owner: str, declared: tuple[_Param, ...], given: dict) -> dict:
    """Fill defaults for missing keys, reject unknown keys, validate and normalise every value."""
    if not isinstance(given, dict):
        raise ValueError(f"{owner}: params must be a dict, got {type(given).__name__}")
    names = [p.name for p in declared]
    unknown = sorted(set(given) - set(names))
    if unknown:
        valid = ", ".join(names) if names else "(none)"
        raise ValueError(f"{owner}: unknown param {unknown[0]!r}; valid params: {valid}")
    resolved = {}
    for p in declared:
        resolved[p.name] = _resolve_value(owner, p, given.get(p.name, p.default))
    return resolved


# --------------------------------------------------------------------------------------------------
# Path families: each maps resolved params to a curve u -> (x, y), u in [0, 1]
# --------------------------------------------------------------------------------------------------


def _unit(angle: np.ndarray | float) -> np.ndarray:
    return np.stack([np.cos(angle), np.sin(angle)], axis=-1)


def _rotate_xy(points: np.ndarray, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return points @ np.array([[c, s], [-s, c]])


def _half_circle(p: dict) -> Curve:
    radius, start = p["radius"], p["start_angle"]
    return lambda u: radius * _unit(start + math.pi * u)


def _full_circle(p: dict) -> Curve:
    radius, start, direction = p["radius"], p["start_angle"], p["direction"]
    return lambda u: radius * _unit(start + direction * TWO_PI * u)


def _s_curve(p: dict) -> Curve:
    radius, start = p["radius"], p["start_angle"]
    centre2 = -2.0 * radius * _unit(start)

    def curve(u: np.ndarray) -> np.ndarray:
        first = radius * _unit(start + TWO_PI * u)  # CCW around the origin, a -> a+π on u in [0, 0.5]
        second = centre2 + radius * _unit(start - math.pi * (2.0 * u - 1.0))  # CW around c2, a -> a-π
        return np.where((u < 0.5)[:, None], first, second)

    return curve


def _line(p: dict) -> Curve:
    length, orientation = p["length"], p["orientation"]
    direction = _unit(orientation)
    return lambda u: (u - 0.5)[:, None] * length * direction[None, :]


def _u_turn(p: dict) -> Curve:
    radius, leg, orientation, turn = p["radius"], p["leg_length"], p["orientation"], p["direction"]
    arc = math.pi * radius
    total = 2.0 * leg + arc
    x0 = -0.5 * (leg + radius)  # centres the bounding box on the origin

    def curve(u: np.ndarray) -> np.ndarray:
        s = u * total
        phi = -0.5 * math.pi + (s - leg) / radius
        out = np.empty(s.shape + (2,))
        first, second = s < leg, s >= leg + arc
        middle = ~(first | second)
        out[first] = np.stack([x0 + s[first], np.full(first.sum(), -radius)], axis=-1)
        out[middle] = np.stack([x0 + leg + radius * np.cos(phi[middle]), radius * np.sin(phi[middle])], axis=-1)
        out[second] = np.stack([x0 + leg - (s[second] - leg - arc), np.full(second.sum(), radius)], axis=-1)
        out[:, 1] *= turn
        return _rotate_xy(out, orientation)

    return curve


def _figure_eight(p: dict) -> Curve:
    half_width, half_height = p["half_width"], p["half_height"]
    phase, direction, orientation = p["start_phase"], p["direction"], p["orientation"]

    def curve(u: np.ndarray) -> np.ndarray:
        phi = phase + direction * TWO_PI * u
        local = np.stack([half_width * np.sin(phi), half_height * np.sin(2.0 * phi)], axis=-1)
        return _rotate_xy(local, orientation)

    return curve


def _spiral(p: dict) -> Curve:
    inner, outer, turns = p["inner_radius"], p["outer_radius"], p["turns"]
    start, direction, inward = p["start_angle"], p["direction"], p["inward"]

    def curve(u: np.ndarray) -> np.ndarray:
        growth = 1.0 - u if inward else u
        radius = inner + (outer - inner) * growth
        return radius[:, None] * _unit(start + direction * TWO_PI * turns * u)

    return curve


def _slalom(p: dict) -> Curve:
    length, amplitude, gates, orientation = p["length"], p["amplitude"], p["gates"], p["orientation"]

    def curve(u: np.ndarray) -> np.ndarray:
        local = np.stack([(u - 0.5) * length, amplitude * np.sin(math.pi * gates * u)], axis=-1)
        return _rotate_xy(local, orientation)

    return curve


def _natural_cubic_spline(points: np.ndarray) -> Curve:
    """C2 natural cubic spline through `points`, parametrised by normalised chord length."""
    chords = np.linalg.norm(np.diff(points, axis=0), axis=1)
    knots = np.concatenate([[0.0], np.cumsum(chords)])
    knots /= knots[-1]
    h = np.diff(knots)
    n = len(points) - 1
    second = np.zeros_like(points)  # second derivatives at the knots, zero at both ends (natural)
    if n >= 2:
        system = np.zeros((n - 1, n - 1))
        slopes = np.diff(points, axis=0) / h[:, None]
        rhs = 6.0 * (slopes[1:] - slopes[:-1])
        for i in range(n - 1):
            system[i, i] = 2.0 * (h[i] + h[i + 1])
            if i > 0:
                system[i, i - 1] = h[i]
            if i < n - 2:
                system[i, i + 1] = h[i + 1]
        second[1:-1] = np.linalg.solve(system, rhs)

    def curve(u: np.ndarray) -> np.ndarray:
        seg = np.clip(np.searchsorted(knots, u, side="right") - 1, 0, n - 1)
        t0, t1, hs = knots[seg], knots[seg + 1], h[seg]
        a = ((t1 - u) / hs)[:, None]
        b = ((u - t0) / hs)[:, None]
        m0, m1 = second[seg], second[seg + 1]
        hh = (hs * hs / 6.0)[:, None]
        return (a * points[seg] + b * points[seg + 1]
                + (a ** 3 - a) * hh * m0 + (b ** 3 - b) * hh * m1)

    return curve


def _spline(p: dict) -> Curve:
    return _natural_cubic_spline(np.asarray(p["control_points"], dtype=np.float64))


# Limits that random splines must respect (checked on a dense sampling, resampled until they hold).
_SPLINE_MAX_RADIUS = 1.0
_SPLINE_MIN_TURN_RADIUS = 0.15


def _draw_control_points(rng: np.random.Generator) -> list[list[float]]:
    """Random walk of 4-6 points with bounded turns, centred, resampled until the spline stays in bounds."""
    u = np.linspace(0.0, 1.0, 2001)
    for _ in range(10_000):
        count = int(rng.integers(4, 7))
        heading = float(rng.uniform(0.0, TWO_PI))
        points = [np.zeros(2)]
        for _ in range(count - 1):
            heading += float(rng.uniform(-1.2, 1.2))
            points.append(points[-1] + float(rng.uniform(0.5, 0.8)) * _unit(heading))
        pts = np.array(points)
        pts -= 0.5 * (pts.min(axis=0) + pts.max(axis=0))
        curve = _natural_cubic_spline(pts)
        if np.linalg.norm(curve(u), axis=1).max() > _SPLINE_MAX_RADIUS:
            continue
        d1, d2 = _derivatives(curve, u)
        if np.abs(_signed_curvature(d1, d2)).max() > 1.0 / _SPLINE_MIN_TURN_RADIUS:
            continue
        return [[float(x), float(y)] for x, y in pts]
    raise RuntimeError("could not sample spline control points within bounds")  # pragma: no cover


@dataclass(frozen=True)
class _Family:
    name: str
    description: str
    params: tuple[_Param, ...]
    curve: Callable[[dict], Curve]
    check: Callable[[dict], str | None] | None = None  # cross-parameter constraint, returns a message


def _check_spiral(p: dict) -> str | None:
    if not p["outer_radius"] > p["inner_radius"]:
        return f"param 'outer_radius' ({p['outer_radius']}) must be > inner_radius ({p['inner_radius']})"
    return None


_FAMILY_LIST: tuple[_Family, ...] = (
    _Family(
        "half_circle", "PoseTraj-10k 'circle': half circle of radius 1.1 m, counter-clockwise around the origin",
        (_Param("radius", 1.1, _fixed(1.1), "metres; fixed at 1.1 as in PoseTraj-10k", low=0.0, low_open=True),
         _angle_param("start_angle", "polar angle of the first point")),
        _half_circle),
    _Family(
        "s_curve", "PoseTraj-10k 'S': two tangent half circles of radius 0.49 m (CCW then CW)",
        (_Param("radius", 0.49, _fixed(0.49), "metres; fixed at 0.49 as in PoseTraj-10k", low=0.0,
                low_open=True),
         _angle_param("start_angle", "polar angle a of the first point r·(cos a, sin a)")),
        _s_curve),
    _Family(
        "full_circle", "full circle around the origin, either direction",
        (_Param("radius", 1.0, _uniform(0.8, 1.1), "metres; sampled in [0.8, 1.1]", low=0.0, low_open=True),
         _angle_param("start_angle", "polar angle of the first point"),
         _direction_param()),
        _full_circle),
    _Family(
        "line", "straight line through the origin (translation only, constant heading)",
        (_Param("length", 1.8, _uniform(1.6, 2.0), "metres; sampled in [1.6, 2.0]", low=0.0, low_open=True),
         _angle_param("orientation", "direction of travel; the line is centred on the origin")),
        _line),
    _Family(
        "u_turn", "straight leg, half-circle turn, straight leg back",
        (_Param("radius", 0.5, _uniform(0.4, 0.6), "turn radius, metres; sampled in [0.4, 0.6]", low=0.0,
                low_open=True),
         _Param("leg_length", 0.8, _uniform(0.6, 1.0), "length of each straight leg, metres; sampled in "
                "[0.6, 1.0]", low=0.0),
         _angle_param("orientation", "direction of travel on the first leg"),
         _direction_param("+1 turns left (counter-clockwise), -1 turns right")),
        _u_turn),
    _Family(
        "figure_eight", "figure-eight (lemniscate of Gerono) crossing at the origin",
        (_Param("half_width", 1.0, _uniform(0.9, 1.1), "half the long axis, metres; sampled in [0.9, 1.1]",
                low=0.0, low_open=True),
         _Param("half_height", 0.4, _uniform(0.3, 0.45), "half the short axis, metres; sampled in [0.3, 0.45]",
                low=0.0, low_open=True),
         _angle_param("orientation", "direction of the long axis"),
         _angle_param("start_phase", "curve phase φ0 of the first point"),
         _direction_param("+1 or -1: the sense in which the phase advances")),
        _figure_eight),
    _Family(
        "spiral", "Archimedean spiral around the origin, outward or inward",
        (_Param("inner_radius", 0.3, _uniform(0.25, 0.4), "metres; sampled in [0.25, 0.4]", low=0.0),
         _Param("outer_radius", 1.05, _uniform(0.95, 1.1), "metres; sampled in [0.95, 1.1]", low=0.0,
                low_open=True),
         _Param("turns", 1.25, _uniform(1.0, 1.5), "number of revolutions; sampled in [1.0, 1.5]", low=0.0,
                low_open=True),
         _angle_param("start_angle", "polar angle of the first point"),
         _direction_param(),
         _Param("inward", 0, lambda rng: int(rng.random() < 0.5), "1 runs from the outer to the inner "
                "radius, 0 outward; sampled 0/1 with equal probability", kind="choice", choices=(0, 1))),
        _spiral, _check_spiral),
    _Family(
        "slalom", "sinusoidal weave along a straight line through the origin",
        (_Param("length", 1.9, _uniform(1.8, 2.0), "metres along the line; sampled in [1.8, 2.0]", low=0.0,
                low_open=True),
         _Param("amplitude", 0.25, _uniform(0.15, 0.3), "lateral amplitude, metres; sampled in [0.15, 0.3]",
                low=0.0),
         _Param("gates", 3, lambda rng: int(rng.integers(2, 4)), "number of half waves; sampled from {2, 3}",
                kind="choice", choices=(1, 2, 3, 4, 5, 6)),
         _angle_param("orientation", "direction of the line")),
        _slalom),
    _Family(
        "spline", "smooth (C2 natural cubic) spline through random control points",
        (_Param("control_points", [[-0.9, -0.3], [-0.3, 0.4], [0.4, -0.2], [0.9, 0.5]], _draw_control_points,
                "list of [x, y] metres; sampled as a centred random walk of 4-6 points, steps 0.5-0.8 m, "
                "turns up to ±1.2 rad, resampled until the curve stays within 1.0 m of the origin with turn "
                "radius >= 0.15 m", kind="points"),),
        _spline),
)
_FAMILIES: dict[str, _Family] = {f.name: f for f in _FAMILY_LIST}

TRAJECTORY_NAMES: tuple[str, ...] = tuple(f.name for f in _FAMILY_LIST)
TRANSLATION_ONLY: frozenset[str] = frozenset({"line"})
ROTATIONAL_FAMILIES: frozenset[str] = frozenset(TRAJECTORY_NAMES) - TRANSLATION_ONLY


# --------------------------------------------------------------------------------------------------
# Pose modes
# --------------------------------------------------------------------------------------------------

# Pitch bumps are sampled no steeper than this (the sampled height is capped to respect it).
_MAX_SAMPLED_BUMP_SLOPE_DEG = 30.0


@dataclass(frozen=True)
class _PoseMode:
    name: str
    description: str
    params: tuple[_Param, ...]


POSE_MODES: tuple[str, ...] = ("yaw", "spin", "bank", "pitch", "tumble")
_POSE_MODES: dict[str, _PoseMode] = {m.name: m for m in (
    _PoseMode("yaw", "heading only: object +X follows the path tangent", ()),
    _PoseMode("spin", "heading plus an extra spin about world Z growing with path progress", (
        _Param("spin_angle", TWO_PI, _signed_uniform(math.pi, 4.0 * math.pi),
               "total extra yaw over the clip, radians (+ = counter-clockwise); sampled ±[π, 4π]"),)),
    _PoseMode("bank", "roll into turns: angle = bank_gain·curvature·speed², clipped to ±max_bank", (
        _Param("bank_gain", 1.0, _uniform(0.5, 2.0), "radians per m/s² of lateral acceleration; sampled in "
               "[0.5, 2.0]", low=0.0),
        _Param("max_bank", 0.5, _uniform(math.radians(15.0), math.radians(35.0)),
               "largest roll, radians; sampled in [15°, 35°]", low=0.0, high=0.5 * math.pi))),
    _PoseMode("pitch", "drive over a raised-cosine bump: centre rises, pitch = slope angle", (
        _Param("bump_height", 0.2, _uniform(0.1, 0.3), "metres; sampled in [0.1, 0.3], capped so the "
               f"steepest slope is <= {_MAX_SAMPLED_BUMP_SLOPE_DEG:g}°", low=0.0),
        _Param("bump_center", 0.5, _uniform(0.35, 0.65), "position of the top as a fraction of the path "
               "length; sampled in [0.35, 0.65]", low=0.0, high=1.0),
        _Param("bump_width", 0.4, _uniform(0.3, 0.5), "full width as a fraction of the path length; sampled "
               "in [0.3, 0.5]", low=0.0, low_open=True, high=1.0))),
    _PoseMode("tumble", "heading plus rotation about a horizontal axis through the object centre", (
        _Param("tumble_angle", TWO_PI, _signed_uniform(0.5 * math.pi, 2.0 * math.pi),
               "total tumble rotation over the clip, radians (right-hand rule about the axis); sampled "
               "±[π/2, 2π]"),
        _Param("tumble_axis", 0.5 * math.pi, _uniform(0.0, math.pi),
               "axis direction in the heading frame, radians from the object's +X towards +Y "
               "(0 = roll over the front axis, π/2 = somersault about the left axis); sampled in [0, π)"))),
)}


# --------------------------------------------------------------------------------------------------
# Specs
# --------------------------------------------------------------------------------------------------


def _choice_error(what: str, value: Any, valid: tuple[str, ...]) -> ValueError:
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
        if not isinstance(self.name, str) or self.name not in _FAMILIES:
            raise _choice_error("trajectory", self.name, TRAJECTORY_NAMES)
        family = _FAMILIES[self.name]
        params = _resolve_params(f"trajectory {self.name!r}", family.params, self.params)
        if family.check is not None and (message := family.check(params)) is not None:
            raise ValueError(f"trajectory {self.name!r}: {message}")
        if (isinstance(self.num_frames, (bool, np.bool_)) or not isinstance(self.num_frames, (int, np.integer))
                or self.num_frames < 2):
            raise ValueError(f"num_frames must be an integer >= 2, got {self.num_frames!r}")
        if (isinstance(self.fps, (bool, np.bool_)) or not isinstance(self.fps, (int, float, np.integer, np.floating))
                or not math.isfinite(self.fps) or self.fps <= 0):
            raise ValueError(f"fps must be a finite number > 0, got {self.fps!r}")
        if not isinstance(self.speed_profile, str) or self.speed_profile not in SPEED_PROFILES:
            raise _choice_error("speed_profile", self.speed_profile, SPEED_PROFILES)
        if not isinstance(self.pose_mode, str) or self.pose_mode not in _POSE_MODES:
            raise _choice_error("pose_mode", self.pose_mode, POSE_MODES)
        pose_params = _resolve_params(f"pose mode {self.pose_mode!r}", _POSE_MODES[self.pose_mode].params,
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


def _copy_params(params: dict) -> dict:
    return {k: [list(p) for p in v] if isinstance(v, list) else v for k, v in params.items()}


def describe_trajectories() -> dict[str, str]:
    """Trajectory family name -> one-line description, in `TRAJECTORY_NAMES` order."""
    return {f.name: f.description for f in _FAMILY_LIST}


def describe_pose_modes() -> dict[str, str]:
    """Pose mode name -> one-line description, in `POSE_MODES` order."""
    return {name: _POSE_MODES[name].description for name in POSE_MODES}


def parameter_docs(name: str) -> dict[str, str]:
    """Parameter name -> documentation (units, default range) for a family or a pose mode."""
    if name in _FAMILIES:
        declared = _FAMILIES[name].params
    elif name in _POSE_MODES:
        declared = _POSE_MODES[name].params
    else:
        raise _choice_error("trajectory or pose mode", name, TRAJECTORY_NAMES + POSE_MODES)
    return {p.name: p.doc for p in declared}


def sample_trajectory_spec(name: str, seed: int, *, num_frames: int = 32, fps: float = 5.0,
                           speed_profile: str = "constant", pose_mode: str = "yaw",
                           overrides: dict | None = None) -> TrajectorySpec:
    """Draw a spec of family `name` from its documented ranges with `numpy.random.default_rng(seed)`.

    Deterministic: the same arguments give an identical spec. Path parameters come from
    `default_rng(seed)` and pose parameters from `default_rng([seed, 1])`, all drawn in a fixed order
    even when overridden, so fixing one parameter or changing the pose mode leaves the others unchanged.
    `overrides` maps path or pose parameter names to fixed values.
    """
    if not isinstance(name, str) or name not in _FAMILIES:
        raise _choice_error("trajectory", name, TRAJECTORY_NAMES)
    if not isinstance(pose_mode, str) or pose_mode not in _POSE_MODES:
        raise _choice_error("pose_mode", pose_mode, POSE_MODES)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    family, mode = _FAMILIES[name], _POSE_MODES[pose_mode]
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
        cap = math.tan(math.radians(_MAX_SAMPLED_BUMP_SLOPE_DEG)) * width / math.pi
        if spec.pose_params["bump_height"] > cap:
            spec = TrajectorySpec(**{**spec.to_dict(), "pose_params": {**spec.pose_params, "bump_height": cap}})
    return spec


# --------------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------------


def _derivatives(curve: Curve, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and second derivative of the curve w.r.t. u by central differences."""
    ahead, here, behind = curve(u + _DIFF_STEP), curve(u), curve(u - _DIFF_STEP)
    first = (ahead - behind) / (2.0 * _DIFF_STEP)
    second = (ahead - 2.0 * here + behind) / (_DIFF_STEP * _DIFF_STEP)
    return first, second


def _signed_curvature(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    cross = first[:, 0] * second[:, 1] - first[:, 1] * second[:, 0]
    return cross / np.linalg.norm(first, axis=1) ** 3


def _arc_length_table(curve: Curve) -> tuple[np.ndarray, np.ndarray]:
    """(u, s): cumulative arc length s at parameters u, from a dense polyline (error << 1e-6 m)."""
    u = np.linspace(0.0, 1.0, _DENSE_SAMPLES + 1)
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(curve(u), axis=0), axis=1))])
    return u, s


def path_length(spec: TrajectorySpec) -> float:
    """Length in metres of the spec's floor path."""
    return float(_arc_length_table(_FAMILIES[spec.name].curve(spec.params))[1][-1])


def _progress(spec: TrajectorySpec) -> tuple[np.ndarray, np.ndarray]:
    """Fraction of the path covered at each frame and its time derivative (1/s)."""
    x = np.arange(spec.num_frames) / (spec.num_frames - 1)
    if spec.speed_profile == "constant":
        return x, np.full_like(x, 1.0 / spec.duration)
    return x * x * (3.0 - 2.0 * x), 6.0 * x * (1.0 - x) / spec.duration  # smoothstep


def _rot_z(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    out = np.zeros(angle.shape + (3, 3))
    out[..., 0, 0], out[..., 0, 1], out[..., 1, 0], out[..., 1, 1], out[..., 2, 2] = c, -s, s, c, 1.0
    return out


def _rot_axis(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
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
    p, yaw = spec.pose_params, _rot_z(heading)
    lift = np.zeros_like(heading)
    if spec.pose_mode == "yaw":
        return yaw, lift
    if spec.pose_mode == "spin":
        return _rot_z(heading + p["spin_angle"] * progress), lift
    if spec.pose_mode == "bank":
        lean = np.clip(p["bank_gain"] * curvature * speed ** 2, -p["max_bank"], p["max_bank"])
        return yaw @ _rot_axis(_X_AXIS, -lean), lift  # left turn (curvature > 0): top tilts to +Y
    if spec.pose_mode == "pitch":
        lift, slope = _bump(spec, s, length)
        return yaw @ _rot_axis(_Y_AXIS, -np.arctan(slope)), lift  # climbing: nose (+X) up
    axis = np.array([math.cos(p["tumble_axis"]), math.sin(p["tumble_axis"]), 0.0])
    return yaw @ _rot_axis(axis, p["tumble_angle"] * progress), lift


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
    curve = _FAMILIES[spec.name].curve(spec.params)
    table_u, table_s = _arc_length_table(curve)
    length = float(table_s[-1])
    progress, rate = _progress(spec)
    s = progress * length
    u = np.interp(s, table_s, table_u)
    first, second = _derivatives(curve, u)
    heading = np.unwrap(np.arctan2(first[:, 1], first[:, 0]))
    curvature = _signed_curvature(first, second)
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
