"""Parameter declarations of path families and pose modes: defaults, seeded samplers, validation."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

TWO_PI = 2.0 * math.pi


# --------------------------------------------------------------------------------------------------
# Parameter declarations
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
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
    length: bool = False  # metres on the floor (a "points" param: every coordinate); scale_path scales it


def uniform(lo: float, hi: float) -> Callable[[np.random.Generator], float]:
    return lambda rng: float(rng.uniform(lo, hi))


def fixed(value: float) -> Callable[[np.random.Generator], float]:
    return lambda rng: value


def _sign(rng: np.random.Generator) -> int:
    return 1 if rng.random() < 0.5 else -1


def signed_uniform(lo: float, hi: float) -> Callable[[np.random.Generator], float]:
    def draw(rng: np.random.Generator) -> float:
        magnitude = float(rng.uniform(lo, hi))
        return magnitude * _sign(rng)

    return draw


def angle_param(name: str, doc: str) -> Param:
    return Param(name, 0.0, uniform(0.0, TWO_PI), doc + "; radians, sampled uniformly in [0, 2π)")


def direction_param(doc: str = "+1 counter-clockwise (left turns), -1 clockwise") -> Param:
    return Param("direction", 1, _sign, doc + "; sampled ±1 with equal probability", kind="choice",
                 choices=(-1, 1))


def _resolve_value(owner: str, param: Param, value: Any) -> Any:
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


def _resolve_points(owner: str, param: Param, value: Any) -> list[list[float]]:
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


def resolve_params(owner: str, declared: tuple[Param, ...], given: dict) -> dict:
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
