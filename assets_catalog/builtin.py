"""Built-in procedural assets: licence-free objects with an unmistakable front and top.

Every model is assembled from trimesh primitives, one PBR material per part (glTF-native, needs no
scipy on export). Each part carries a deterministic grey noise texture (``baseColorTexture``, planar
UVs per triangle) that modulates its colour (``baseColorFactor``), so point trackers have surface
detail to follow; on flat-coloured faces Lucas-Kanade sees only silhouettes (aperture problem).
Models are built in the object frame of ``docs/conventions.md``: Z up, ``+X`` is the front, ``+Y``
the left side; the lowest point is at ``z = 0``, the footprint is centred on the Z axis and the
largest extent is 1. The part that carries the front (a bumper, a bow, a nose cone,
the chair's front rail, the animal's head) has its own colour, so the heading is obvious in renders.

glTF is Y-up, so :func:`export_builtin` rotates by -90 degrees about X before writing; Blender's glTF
importer converts back and yields the Z-up, +X-front object.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from common.atomic import write_atomic

if TYPE_CHECKING:  # numpy and trimesh are imported lazily: `import assets_catalog` stays light
    import numpy as np
    import trimesh

BUILTIN_SCHEME = "builtin:"
#: ``benchmark``: the models benchmark suites are built from (and the default everywhere else);
#: ``train``: models reserved for training data, never in a benchmark suite, so a model trained on them
#: is scored on objects it has not seen.
BUILTIN_ROLES = ("benchmark", "train")


@dataclass(frozen=True)
class BuiltinAsset:
    """Metadata of one built-in model."""

    name: str
    description: str
    category: str
    license: str = "cc0"
    author: str = "posetraj"
    url: str = ""
    role: str = "benchmark"  # one of BUILTIN_ROLES


@dataclass(frozen=True)
class _Part:
    """One coloured part of a model: a trimesh mesh in model units and an RGBA colour (0-1)."""

    name: str
    mesh: "trimesh.Trimesh"
    color: tuple[float, float, float, float]


# Colours shared by the models. FRONT is reserved for the part that marks the front.
FRONT = (1.0, 0.82, 0.05, 1.0)  # yellow
_RED = (0.78, 0.12, 0.12, 1.0)
_BLUE = (0.12, 0.32, 0.78, 1.0)
_WHITE = (0.92, 0.92, 0.90, 1.0)
_DARK = (0.08, 0.08, 0.09, 1.0)
_GLASS = (0.35, 0.62, 0.85, 1.0)
_BROWN = (0.45, 0.27, 0.12, 1.0)
_WOOD = (0.62, 0.42, 0.22, 1.0)
_GREEN = (0.15, 0.55, 0.25, 1.0)
_GREY = (0.55, 0.56, 0.58, 1.0)

_ASSETS: dict[str, BuiltinAsset] = {
    a.name: a
    for a in (
        BuiltinAsset("car", "red car; yellow front bumper with headlights at +X, blue cabin on top", "car"),
        BuiltinAsset("boat", "white motor boat; yellow pointed bow at +X, cabin and mast", "boat"),
        BuiltinAsset("plane", "blue propeller plane; yellow nose cone at +X, wings along Y, tail fin up", "airplane"),
        BuiltinAsset("chair", "wooden chair facing +X; yellow front rail and front legs, backrest at -X", "chair"),
        BuiltinAsset("animal", "brown four-legged animal; yellow head at +X, tail at -X", "dog"),
        BuiltinAsset("duck", "white duck; yellow beak at +X, green head, dark tail at -X", "duck", role="train"),
        BuiltinAsset("robot", "grey robot; yellow visor on the head's +X face, arms along Y", "robot", role="train"),
        BuiltinAsset("truck", "blue truck; yellow front bumper at +X, white cab, red cargo box at -X", "truck",
                     role="train"),
    )
}


def builtin_names(role: str | None = "benchmark") -> tuple[str, ...]:
    """Names of the built-in models of ``role`` (``None``: every role), sorted.

    The default is the benchmark models, the set the catalog, ``posetraj dataset plan --builtins`` and
    benchmark suites use; the ``train`` models are reserved for training data."""
    if role is not None and role not in BUILTIN_ROLES:
        raise ValueError(f"unknown built-in role {role!r}; choices: {', '.join(BUILTIN_ROLES)}")
    return tuple(sorted(n for n, a in _ASSETS.items() if role is None or a.role == role))


def describe_builtins(role: str | None = "benchmark") -> dict[str, str]:
    """``{name: one-line description}`` for every built-in model of ``role`` (``None``: all)."""
    return {name: _ASSETS[name].description for name in builtin_names(role)}


def get_builtin(name: str) -> BuiltinAsset:
    """Metadata of the built-in model ``name``; ``ValueError`` listing the choices if unknown."""
    if name.startswith(BUILTIN_SCHEME):
        name = name[len(BUILTIN_SCHEME):]
    try:
        return _ASSETS[name]
    except KeyError:
        raise ValueError(f"unknown built-in asset {name!r}; choices: {', '.join(builtin_names(None))}") from None


def builtin_uri(name: str) -> str:
    """The asset reference ``builtin:<name>`` used on the command line and in clip metadata."""
    return BUILTIN_SCHEME + get_builtin(name).name


def front_part_names(name: str) -> tuple[str, ...]:
    """Names of the parts (scene geometry names) that carry the front colour of model ``name``."""
    return tuple(p.name for p in _build_parts(get_builtin(name).name) if p.color == FRONT)


# --------------------------------------------------------------------------------------------
# Geometry helpers (model units, Z up, +X front)


def _box(extents: tuple[float, float, float], center: tuple[float, float, float]) -> "trimesh.Trimesh":
    import trimesh

    return trimesh.creation.box(extents=extents, transform=trimesh.transformations.translation_matrix(center))


def _cylinder(radius: float, height: float, center: tuple[float, float, float], axis: str = "z",
              sections: int = 24) -> "trimesh.Trimesh":
    """A cylinder along ``axis`` ('x', 'y' or 'z') centred at ``center``."""
    import numpy as np
    import trimesh

    mesh = trimesh.creation.cylinder(radius=radius, height=height, sections=sections)
    rotations = {"x": ([0, 1, 0], np.pi / 2), "y": ([1, 0, 0], np.pi / 2), "z": ([0, 0, 1], 0.0)}
    direction, angle = rotations[axis]
    mesh.apply_transform(trimesh.transformations.rotation_matrix(angle, direction))
    mesh.apply_translation(center)
    return mesh


def _ellipsoid(radii: tuple[float, float, float], center: tuple[float, float, float]) -> "trimesh.Trimesh":
    import numpy as np
    import trimesh

    mesh = trimesh.creation.icosphere(subdivisions=2, radius=1.0)
    mesh.apply_scale(np.asarray(radii, dtype=float))
    mesh.apply_translation(center)
    return mesh


def _hull(points: list[tuple[float, float, float]]) -> "trimesh.Trimesh":
    """Convex hull of a few points (used for wedges such as a bow or a hull)."""
    import numpy as np
    import trimesh

    return trimesh.convex.convex_hull(np.asarray(points, dtype=float))


def _merge(*meshes: "trimesh.Trimesh") -> "trimesh.Trimesh":
    import trimesh

    return trimesh.util.concatenate(list(meshes))


# --------------------------------------------------------------------------------------------
# The models


def _car() -> list[_Part]:
    wheels = [_cylinder(0.1, 0.06, (x, y, 0.1), axis="y") for x in (-0.26, 0.26) for y in (-0.2, 0.2)]
    headlights = [_box((0.02, 0.06, 0.04), (0.465, y, 0.22)) for y in (-0.13, 0.13)]
    return [
        _Part("body", _box((0.8, 0.4, 0.15), (0.0, 0.0, 0.175)), _RED),
        _Part("cabin", _box((0.38, 0.34, 0.14), (-0.06, 0.0, 0.32)), _BLUE),
        _Part("wheels", _merge(*wheels), _DARK),
        _Part("front_bumper", _merge(_box((0.06, 0.42, 0.08), (0.425, 0.0, 0.14)), *headlights), FRONT),
    ]


def _boat() -> list[_Part]:
    hull = _hull([(x, y, z) for x in (-0.5, 0.2) for y in (-0.18, 0.18) for z in (0.08, 0.25)]
                 + [(x, y, 0.0) for x in (-0.45, 0.2) for y in (-0.1, 0.1)])
    bow = _hull([(0.2, y, z) for y in (-0.18, 0.18) for z in (0.08, 0.25)]
                + [(0.2, y, 0.0) for y in (-0.1, 0.1)] + [(0.55, 0.0, 0.28), (0.5, 0.0, 0.1)])
    return [
        _Part("hull", hull, _WHITE),
        _Part("bow", bow, FRONT),
        _Part("cabin", _box((0.28, 0.26, 0.16), (-0.18, 0.0, 0.33)), _BLUE),
        _Part("windscreen", _box((0.02, 0.24, 0.08), (-0.03, 0.0, 0.37)), _GLASS),
        _Part("mast", _cylinder(0.012, 0.3, (-0.22, 0.0, 0.56)), _GREY),
    ]


def _plane() -> list[_Part]:
    import numpy as np
    import trimesh

    nose = trimesh.creation.cone(radius=0.07, height=0.14, sections=24)
    nose.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [0, 1, 0]))  # tip to +X
    nose.apply_translation((0.35, 0.0, 0.18))
    propeller = _box((0.015, 0.02, 0.22), (0.495, 0.0, 0.18))
    gear = [_cylinder(0.03, 0.02, (0.12, y, 0.03), axis="y") for y in (-0.12, 0.12)]
    struts = [_box((0.015, 0.015, 0.12), (0.12, y, 0.09)) for y in (-0.12, 0.12)]
    return [
        _Part("fuselage", _cylinder(0.07, 0.7, (0.0, 0.0, 0.18), axis="x"), _BLUE),
        _Part("nose", _merge(nose, propeller), FRONT),
        _Part("wings", _box((0.2, 1.0, 0.025), (0.08, 0.0, 0.17)), _WHITE),
        _Part("tail", _merge(_box((0.12, 0.34, 0.02), (-0.3, 0.0, 0.2)),
                             _box((0.12, 0.02, 0.16), (-0.3, 0.0, 0.3))), _RED),
        _Part("landing_gear", _merge(*gear, *struts), _DARK),
    ]


def _chair() -> list[_Part]:
    back_legs = [_box((0.05, 0.05, 0.45), (-0.2, y, 0.225)) for y in (-0.2, 0.2)]
    front_legs = [_box((0.05, 0.05, 0.45), (0.2, y, 0.225)) for y in (-0.2, 0.2)]
    front_rail = _box((0.05, 0.45, 0.06), (0.2, 0.0, 0.38))
    return [
        _Part("seat", _box((0.42, 0.46, 0.05), (-0.01, 0.0, 0.475)), _WOOD),
        _Part("back_legs", _merge(*back_legs), _BROWN),
        _Part("front", _merge(*front_legs, front_rail), FRONT),
        _Part("backrest", _box((0.05, 0.45, 0.5), (-0.2, 0.0, 0.75)), _GREEN),
    ]


def _animal() -> list[_Part]:
    legs = [_cylinder(0.04, 0.3, (x, y, 0.15), sections=16) for x in (-0.22, 0.22) for y in (-0.1, 0.1)]
    tail = _cylinder(0.02, 0.25, (0.0, 0.0, 0.0), axis="x", sections=12)
    import trimesh

    tail.apply_transform(trimesh.transformations.rotation_matrix(-0.6, [0, 1, 0]))  # rises towards the back
    tail.apply_translation((-0.42, 0.0, 0.48))
    ears = [_box((0.04, 0.04, 0.08), (0.38, y, 0.64)) for y in (-0.05, 0.05)]
    return [
        _Part("body", _ellipsoid((0.33, 0.14, 0.13), (0.0, 0.0, 0.4)), _BROWN),
        _Part("legs", _merge(*legs), _DARK),
        _Part("tail", tail, _DARK),
        _Part("head", _merge(_ellipsoid((0.1, 0.09, 0.09), (0.4, 0.0, 0.55)),
                             _ellipsoid((0.07, 0.05, 0.045), (0.5, 0.0, 0.52)), *ears), FRONT),
    ]


def _duck() -> list[_Part]:
    import trimesh

    beak = _hull([(0.34, y, z) for y in (-0.04, 0.04) for z in (0.5, 0.56)] + [(0.48, 0.0, 0.52)])
    tail = _hull([(-0.3, y, z) for y in (-0.06, 0.06) for z in (0.2, 0.3)] + [(-0.46, 0.0, 0.36)])
    feet = [_box((0.1, 0.06, 0.02), (0.02, y, 0.01)) for y in (-0.08, 0.08)]
    neck = _cylinder(0.05, 0.2, (0.0, 0.0, 0.0), sections=16)
    neck.apply_transform(trimesh.transformations.rotation_matrix(0.35, [0, 1, 0]))
    neck.apply_translation((0.2, 0.0, 0.38))
    return [
        _Part("body", _ellipsoid((0.3, 0.17, 0.14), (0.0, 0.0, 0.2)), _WHITE),
        _Part("neck_head", _merge(neck, _ellipsoid((0.1, 0.08, 0.08), (0.27, 0.0, 0.52))), _GREEN),
        _Part("tail", tail, _DARK),
        _Part("feet", _merge(*feet), _BROWN),
        _Part("beak", beak, FRONT),
    ]


def _robot() -> list[_Part]:
    legs = [_box((0.1, 0.08, 0.3), (0.0, y, 0.15)) for y in (-0.08, 0.08)]
    arms = [_box((0.07, 0.06, 0.28), (0.0, y, 0.5)) for y in (-0.2, 0.2)]
    return [
        _Part("legs", _merge(*legs), _DARK),
        _Part("torso", _box((0.18, 0.32, 0.32), (0.0, 0.0, 0.46)), _GREY),
        _Part("arms", _merge(*arms), _BLUE),
        _Part("head", _box((0.16, 0.18, 0.14), (0.0, 0.0, 0.69)), _WHITE),
        _Part("antenna", _cylinder(0.01, 0.12, (0.0, 0.0, 0.82)), _RED),
        _Part("visor", _box((0.03, 0.14, 0.05), (0.09, 0.0, 0.7)), FRONT),
    ]


def _truck() -> list[_Part]:
    wheels = [_cylinder(0.08, 0.05, (x, y, 0.08), axis="y") for x in (-0.3, 0.0, 0.3) for y in (-0.17, 0.17)]
    return [
        _Part("chassis", _box((0.9, 0.32, 0.06), (0.0, 0.0, 0.12)), _BLUE),
        _Part("cab", _box((0.22, 0.32, 0.24), (0.31, 0.0, 0.27)), _WHITE),
        _Part("windscreen", _box((0.02, 0.26, 0.09), (0.425, 0.0, 0.32)), _GLASS),
        _Part("cargo", _box((0.58, 0.34, 0.3), (-0.15, 0.0, 0.3)), _RED),
        _Part("wheels", _merge(*wheels), _DARK),
        _Part("front_bumper", _box((0.04, 0.36, 0.06), (0.46, 0.0, 0.13)), FRONT),
    ]


_BUILDERS: dict[str, Callable[[], list[_Part]]] = {
    "car": _car, "boat": _boat, "plane": _plane, "chair": _chair, "animal": _animal,
    "duck": _duck, "robot": _robot, "truck": _truck,
}


def _build_parts(name: str) -> list[_Part]:
    """Parts of model ``name``, normalised: largest extent 1, footprint centred, lowest point z = 0."""
    import numpy as np

    parts = _BUILDERS[name]()
    vertices = np.concatenate([p.mesh.vertices for p in parts])
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    scale = 1.0 / float((hi - lo).max())
    offset = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]])
    for part in parts:
        part.mesh.apply_translation(-offset)
        part.mesh.apply_scale(scale)
    return parts


# --------------------------------------------------------------------------------------------
# Surface texture: planar UVs and a tileable noise pattern

TEXTURE_PX = 128  # side of each part's texture image
TEXTURE_PERIOD = 1.0  # model units covered by one texture tile (the model's largest extent is 1)
TEXTURE_WAVELENGTHS_PX = (48.0, 24.0, 12.0)  # noise octaves, texels per cycle (coarse blotches to fine grain)
TEXTURE_OCTAVE_WEIGHTS = (1.0, 0.8, 0.6)
TEXTURE_RANGE = (0.2, 1.0)  # linear brightness factor; sRGB-encoded 0.48-1.0, about ±35% around its middle


def _seed(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


def noise_texture(seed_text: str, size: int = TEXTURE_PX) -> "np.ndarray":
    """A tileable (periodic) multi-octave noise image, (size, size) uint8, sRGB-encoded brightness.

    White noise seeded from ``seed_text`` is low-pass filtered in the Fourier domain (so the pattern
    wraps around seamlessly) at each of ``TEXTURE_WAVELENGTHS_PX``; the octaves are normalised, summed,
    sharpened into blotches with ``tanh`` and mapped to linear brightness in ``TEXTURE_RANGE``.
    """
    import numpy as np

    rng = np.random.default_rng(_seed(seed_text))
    freq = np.hypot(*np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size), indexing="ij"))  # cycles / texel
    total = np.zeros((size, size))
    for wavelength, weight in zip(TEXTURE_WAVELENGTHS_PX, TEXTURE_OCTAVE_WEIGHTS):
        spectrum = np.fft.fft2(rng.standard_normal((size, size))) * np.exp(-0.5 * (freq * wavelength * 1.5) ** 2)
        octave = np.fft.ifft2(spectrum).real
        total += weight * (octave - octave.mean()) / octave.std()
    pattern = np.tanh(1.5 * total / total.std())  # in (-1, 1), blotchy with sharp-ish edges
    lo, hi = TEXTURE_RANGE
    linear = lo + (hi - lo) * (pattern + 1.0) / 2.0
    srgb = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return np.clip(np.rint(srgb * 255.0), 0, 255).astype(np.uint8)


def planar_uv(mesh: "trimesh.Trimesh") -> "np.ndarray":
    """Per-vertex UVs of an un-merged mesh: each triangle is projected along its dominant normal axis.

    UV = the two other coordinates divided by ``TEXTURE_PERIOD`` (the sampler repeats the texture), so
    the texel density is the same on every face. Every face must own its three vertices.
    """
    import numpy as np

    keep = ((1, 2), (0, 2), (0, 1))  # axes kept when projecting along x, y, z
    axis = np.abs(mesh.face_normals).argmax(axis=1)
    uv = np.zeros((len(mesh.vertices), 2))
    for a, kept in enumerate(keep):
        corners = mesh.faces[axis == a].ravel()
        uv[corners] = mesh.vertices[corners][:, kept] / TEXTURE_PERIOD
    return uv


def build_builtin_mesh(name: str) -> "trimesh.Scene":
    """The model ``name`` as a trimesh scene in the Z-up, +X-front object frame (one node per part).

    Each part has un-merged vertices with planar UVs and a PBR material: ``baseColorFactor`` is the
    part's colour, ``baseColorTexture`` its noise pattern (seeded from the asset and part names).
    """
    import numpy as np
    import trimesh
    from PIL import Image
    from trimesh.visual.material import PBRMaterial

    asset = get_builtin(name)
    scene = trimesh.Scene()
    for part in _build_parts(asset.name):
        mesh = part.mesh
        mesh.unmerge_vertices()
        grey = noise_texture(f"{asset.name}/{part.name}")
        image = Image.fromarray(np.repeat(grey[:, :, None], 3, axis=2))
        material = PBRMaterial(name=f"{asset.name}_{part.name}", baseColorFactor=list(part.color),
                               baseColorTexture=image, metallicFactor=0.0, roughnessFactor=0.6)
        mesh.visual = trimesh.visual.TextureVisuals(uv=planar_uv(mesh), material=material)
        scene.add_geometry(mesh, geom_name=part.name, node_name=part.name)
    return scene


@functools.lru_cache(maxsize=None)
def builtin_glb_bytes(name: str) -> bytes:
    """The GLB file of model ``name`` (Y-up as glTF requires); the same bytes on every call.

    Built once per process: a render farm worker resolves the same built-ins for every clip."""
    import numpy as np
    import trimesh

    scene = build_builtin_mesh(name)
    scene.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0]))
    return scene.export(file_type="glb")


def export_builtin(name: str, out_dir: Path) -> Path:
    """Write ``<out_dir>/<name>.glb`` atomically (temp file + rename) and return its path.

    The bytes are deterministic; an existing file with the same content is left untouched.
    """
    asset = get_builtin(name)
    data = builtin_glb_bytes(asset.name)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{asset.name}.glb"
    if path.is_file() and path.read_bytes() == data:
        return path
    return write_atomic(path, lambda tmp: tmp.write_bytes(data), suffix=".glb.tmp")
