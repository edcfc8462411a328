"""Path families: curve functions, the natural cubic spline, random control points and the registry."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from render.trajectories.geometry import Curve, derivatives, signed_curvature
from render.trajectories.params import TWO_PI, Param, angle_param, direction_param, fixed, uniform


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
        d1, d2 = derivatives(curve, u)
        if np.abs(signed_curvature(d1, d2)).max() > 1.0 / _SPLINE_MIN_TURN_RADIUS:
            continue
        return [[float(x), float(y)] for x, y in pts]
    raise RuntimeError("could not sample spline control points within bounds")  # pragma: no cover


@dataclass(frozen=True)
class _Family:
    name: str
    description: str
    params: tuple[Param, ...]
    curve: Callable[[dict], Curve]
    check: Callable[[dict], str | None] | None = None  # cross-parameter constraint, returns a message


def _check_spiral(p: dict) -> str | None:
    if not p["outer_radius"] > p["inner_radius"]:
        return f"param 'outer_radius' ({p['outer_radius']}) must be > inner_radius ({p['inner_radius']})"
    return None


FAMILY_LIST: tuple[_Family, ...] = (
    _Family(
        "half_circle", "PoseTraj-10k 'circle': half circle of radius 1.1 m, counter-clockwise around the origin",
        (Param("radius", 1.1, fixed(1.1), "metres; fixed at 1.1 as in PoseTraj-10k", low=0.0, low_open=True,
               length=True),
         angle_param("start_angle", "polar angle of the first point")),
        _half_circle),
    _Family(
        "s_curve", "PoseTraj-10k 'S': two tangent half circles of radius 0.49 m (CCW then CW)",
        (Param("radius", 0.49, fixed(0.49), "metres; fixed at 0.49 as in PoseTraj-10k", low=0.0,
               low_open=True, length=True),
         angle_param("start_angle", "polar angle a of the first point r·(cos a, sin a)")),
        _s_curve),
    _Family(
        "full_circle", "full circle around the origin, either direction",
        (Param("radius", 1.0, uniform(0.8, 1.1), "metres; sampled in [0.8, 1.1]", low=0.0, low_open=True,
               length=True),
         angle_param("start_angle", "polar angle of the first point"),
         direction_param()),
        _full_circle),
    _Family(
        "line", "straight line through the origin (translation only, constant heading)",
        (Param("length", 1.8, uniform(1.6, 2.0), "metres; sampled in [1.6, 2.0]", low=0.0, low_open=True,
               length=True),
         angle_param("orientation", "direction of travel; the line is centred on the origin")),
        _line),
    _Family(
        "u_turn", "straight leg, half-circle turn, straight leg back",
        (Param("radius", 0.5, uniform(0.4, 0.6), "turn radius, metres; sampled in [0.4, 0.6]", low=0.0,
               low_open=True, length=True),
         Param("leg_length", 0.8, uniform(0.6, 1.0), "length of each straight leg, metres; sampled in "
               "[0.6, 1.0]", low=0.0, length=True),
         angle_param("orientation", "direction of travel on the first leg"),
         direction_param("+1 turns left (counter-clockwise), -1 turns right")),
        _u_turn),
    _Family(
        "figure_eight", "figure-eight (lemniscate of Gerono) crossing at the origin",
        (Param("half_width", 1.0, uniform(0.9, 1.1), "half the long axis, metres; sampled in [0.9, 1.1]",
               low=0.0, low_open=True, length=True),
         Param("half_height", 0.4, uniform(0.3, 0.45), "half the short axis, metres; sampled in [0.3, 0.45]",
               low=0.0, low_open=True, length=True),
         angle_param("orientation", "direction of the long axis"),
         angle_param("start_phase", "curve phase φ0 of the first point"),
         direction_param("+1 or -1: the sense in which the phase advances")),
        _figure_eight),
    _Family(
        "spiral", "Archimedean spiral around the origin, outward or inward",
        (Param("inner_radius", 0.3, uniform(0.25, 0.4), "metres; sampled in [0.25, 0.4]", low=0.0, length=True),
         Param("outer_radius", 1.05, uniform(0.95, 1.1), "metres; sampled in [0.95, 1.1]", low=0.0,
               low_open=True, length=True),
         Param("turns", 1.25, uniform(1.0, 1.5), "number of revolutions; sampled in [1.0, 1.5]", low=0.0,
               low_open=True),
         angle_param("start_angle", "polar angle of the first point"),
         direction_param(),
         Param("inward", 0, lambda rng: int(rng.random() < 0.5), "1 runs from the outer to the inner "
               "radius, 0 outward; sampled 0/1 with equal probability", kind="choice", choices=(0, 1))),
        _spiral, _check_spiral),
    _Family(
        "slalom", "sinusoidal weave along a straight line through the origin",
        (Param("length", 1.9, uniform(1.8, 2.0), "metres along the line; sampled in [1.8, 2.0]", low=0.0,
               low_open=True, length=True),
         Param("amplitude", 0.25, uniform(0.15, 0.3), "lateral amplitude, metres; sampled in [0.15, 0.3]",
               low=0.0, length=True),
         Param("gates", 3, lambda rng: int(rng.integers(2, 4)), "number of half waves; sampled from {2, 3}",
               kind="choice", choices=(1, 2, 3, 4, 5, 6)),
         angle_param("orientation", "direction of the line")),
        _slalom),
    _Family(
        "spline", "smooth (C2 natural cubic) spline through random control points",
        (Param("control_points", [[-0.9, -0.3], [-0.3, 0.4], [0.4, -0.2], [0.9, 0.5]], _draw_control_points,
               "list of [x, y] metres; sampled as a centred random walk of 4-6 points, steps 0.5-0.8 m, "
               "turns up to ±1.2 rad, resampled until the curve stays within 1.0 m of the origin with turn "
               "radius >= 0.15 m", kind="points", length=True),),
        _spline),
)
FAMILIES: dict[str, _Family] = {f.name: f for f in FAMILY_LIST}

TRAJECTORY_NAMES: tuple[str, ...] = tuple(f.name for f in FAMILY_LIST)
TRANSLATION_ONLY: frozenset[str] = frozenset({"line"})
ROTATIONAL_FAMILIES: frozenset[str] = frozenset(TRAJECTORY_NAMES) - TRANSLATION_ONLY
