"""Scene description: floor, lights and world, sampled from a seed (pure data, no bpy).

The Blender backend realises a :class:`SceneDescription` exactly; ``meta.json`` records it, so a clip's
look can be reproduced or analysed without Blender. Ranges are documented in ``docs/rendering.md``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

FLOOR_KINDS = ("checker", "noise", "voronoi", "brick", "wave")
FLOOR_SIZE_M = 30.0


@dataclass(frozen=True)
class FloorDescription:
    kind: str  # one of FLOOR_KINDS, or "image"
    color_a: tuple[float, float, float]
    color_b: tuple[float, float, float]
    scale: float  # texture repetitions per metre
    roughness: float
    image_path: str | None = None


@dataclass(frozen=True)
class LightDescription:
    kind: str  # "SUN" | "AREA"
    strength: float  # W/m^2 for suns, W for area lights
    elevation_deg: float
    azimuth_deg: float
    angle_deg: float = 0.0  # sun disc angle
    distance_m: float = 0.0  # area lights: distance from the origin
    size_m: float = 0.0  # area lights: square side
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def direction(self) -> np.ndarray:
        """Unit vector from the scene towards the light."""
        el, az = math.radians(self.elevation_deg), math.radians(self.azimuth_deg)
        return np.array([math.cos(el) * math.sin(az), -math.cos(el) * math.cos(az), math.sin(el)])


@dataclass(frozen=True)
class WorldDescription:
    color: tuple[float, float, float]
    strength: float
    hdri_path: str | None = None
    hdri_rotation_deg: float = 0.0


@dataclass(frozen=True)
class SceneDescription:
    floor: FloorDescription
    lights: tuple[LightDescription, ...]
    world: WorldDescription
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class LightingRanges:
    """Uniform ranges for the randomised lighting."""

    sun_strength: tuple[float, float] = (2.0, 4.0)
    sun_elevation_deg: tuple[float, float] = (35.0, 80.0)
    sun_angle_deg: tuple[float, float] = (1.0, 10.0)
    fill_sun_strength: tuple[float, float] = (0.3, 1.2)
    area_light_probability: float = 0.5
    area_power_w: tuple[float, float] = (200.0, 800.0)
    area_distance_m: tuple[float, float] = (3.0, 5.0)
    area_elevation_deg: tuple[float, float] = (30.0, 70.0)
    area_size_m: tuple[float, float] = (1.0, 3.0)
    world_strength: tuple[float, float] = (0.2, 0.8)
    hdri_strength: tuple[float, float] = (0.5, 1.5)


def _color(rng: np.random.Generator, low: float, high: float) -> tuple[float, float, float]:
    base = rng.uniform(low, high)
    tint = rng.uniform(-0.08, 0.08, size=3)
    return tuple(float(np.clip(base + t, 0.0, 1.0)) for t in tint)


def sample_scene(
    rng: np.random.Generator,
    floor_kind: str | None = None,
    floor_texture: str | None = None,
    hdri: str | None = None,
    ranges: LightingRanges = LightingRanges(),
) -> SceneDescription:
    """Draw floor, lights and world from ``rng``. Files, when given, replace the procedural parts."""
    if floor_kind is not None and floor_kind not in FLOOR_KINDS:
        raise ValueError(f"floor kind {floor_kind!r} is not one of {', '.join(FLOOR_KINDS)}")
    kind = floor_kind or FLOOR_KINDS[int(rng.integers(len(FLOOR_KINDS)))]
    floor = FloorDescription(
        kind="image" if floor_texture else kind,
        color_a=_color(rng, 0.15, 0.45),
        color_b=_color(rng, 0.5, 0.85),
        scale=float(rng.uniform(1.0, 4.0)),
        roughness=float(rng.uniform(0.4, 0.9)),
        image_path=floor_texture,
    )
    key_azimuth = float(rng.uniform(-180.0, 180.0))
    lights = [
        LightDescription(
            "SUN",
            strength=float(rng.uniform(*ranges.sun_strength)),
            elevation_deg=float(rng.uniform(*ranges.sun_elevation_deg)),
            azimuth_deg=key_azimuth,
            angle_deg=float(rng.uniform(*ranges.sun_angle_deg)),
        ),
        LightDescription(
            "SUN",
            strength=float(rng.uniform(*ranges.fill_sun_strength)),
            elevation_deg=float(rng.uniform(*ranges.sun_elevation_deg)),
            azimuth_deg=key_azimuth + 180.0 + float(rng.uniform(-45.0, 45.0)),
            angle_deg=float(rng.uniform(*ranges.sun_angle_deg)),
        ),
    ]
    if rng.uniform() < ranges.area_light_probability:
        lights.append(
            LightDescription(
                "AREA",
                strength=float(rng.uniform(*ranges.area_power_w)),
                elevation_deg=float(rng.uniform(*ranges.area_elevation_deg)),
                azimuth_deg=float(rng.uniform(-180.0, 180.0)),
                distance_m=float(rng.uniform(*ranges.area_distance_m)),
                size_m=float(rng.uniform(*ranges.area_size_m)),
            )
        )
    world = WorldDescription(
        color=_color(rng, 0.7, 1.0),
        strength=float(rng.uniform(*(ranges.hdri_strength if hdri else ranges.world_strength))),
        hdri_path=hdri,
        hdri_rotation_deg=float(rng.uniform(0.0, 360.0)),
    )
    return SceneDescription(floor=floor, lights=tuple(lights), world=world)
