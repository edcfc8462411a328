"""Check a mesh file before Blender imports it.

Blender's importers repair some broken files silently: the OBJ and PLY importers turn ``nan`` coordinates
into 0 and drop faces whose indices are out of range, the glTF importer turns NaN into 0 and stops with a
traceback on an out-of-range index. So the file is read first with trimesh (``process=False``: nothing
merged or repaired, materials skipped) and refused with one line when it holds

- vertices that are not finite (NaN, infinity) or a node transform that is not: ``asset_corrupt``;
- a face index outside its mesh's vertices: ``asset_corrupt``;
- no triangles at all (a point cloud, only lines, nothing) or only zero-area triangles: ``no_mesh``.

Formats trimesh reads here: glb, gltf, obj, ply, stl. FBX and USD, Draco- or meshopt-compressed glTF, and
files trimesh cannot parse are left to Blender's importer and the checks after import
(:mod:`render.blender.asset_import`); the report says so (``checked`` False and the reason).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from assets_catalog.files import AssetFileError, gltf_document, mesh_format

VALIDATED_FORMATS = ("glb", "gltf", "obj", "ply", "stl")
COMPRESSION_EXTENSIONS = ("KHR_draco_mesh_compression", "EXT_meshopt_compression")
#: Triangles count as zero-area when even the largest is below this fraction of the squared box diagonal
#: (float32 rounding leaves ~1e-7 on collinear triangles; real meshes' largest triangles are far above).
ZERO_AREA_FRACTION = 1e-8


class AssetValidationError(ValueError):
    """The file is unusable; ``code`` is a render reason code (``asset_corrupt`` or ``no_mesh``)."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ValidationReport:
    """What the check found; ``checked`` is False when the geometry was left to Blender (``note`` says why)."""

    format: str
    checked: bool
    note: str = ""
    meshes: int = 0
    vertices: int = 0
    triangles: int = 0
    gltf: dict = field(default_factory=dict)  # counts of what a glTF holds (see gltf_summary)

    def to_dict(self) -> dict:
        return asdict(self)


def gltf_summary(document: dict) -> dict:
    """Counts of what a glTF document holds that the importer has to deal with."""
    def count(key: str) -> int:
        value = document.get(key)
        return len(value) if isinstance(value, list) else 0

    materials = [m for m in document.get("materials") or [] if isinstance(m, dict)]
    lights = ((document.get("extensions") or {}).get("KHR_lights_punctual") or {}).get("lights") or []
    return {
        "scenes": count("scenes"), "default_scene": document.get("scene"), "nodes": count("nodes"),
        "meshes": count("meshes"), "cameras": count("cameras"), "lights": len(lights), "skins": count("skins"),
        "animations": count("animations"), "extensions_used": sorted(document.get("extensionsUsed") or []),
        "blended_materials": sum(m.get("alphaMode") == "BLEND" for m in materials),
        "masked_materials": sum(m.get("alphaMode") == "MASK" for m in materials),
        "emissive_materials": sum(any(m.get("emissiveFactor") or [0.0]) for m in materials),
    }


def validate_mesh_file(path: Path) -> ValidationReport:
    """Check ``path`` (see the module docstring); :class:`AssetValidationError` with one line naming the
    file and what is wrong, else a :class:`ValidationReport`."""
    path = Path(path)
    fmt = mesh_format(path)
    if fmt not in VALIDATED_FORMATS:
        return ValidationReport(fmt, False, f"no reader for .{fmt} before import; checked after Blender's import")
    summary: dict = {}
    if fmt in ("glb", "gltf"):
        try:
            summary = gltf_summary(gltf_document(path))
        except AssetFileError as exc:
            raise AssetValidationError("asset_corrupt", str(exc)) from None
        compressed = sorted(set(summary["extensions_used"]) & set(COMPRESSION_EXTENSIONS))
        if compressed:
            return ValidationReport(fmt, False, f"geometry compressed with {', '.join(compressed)}: decoded and "
                                                "checked by Blender's importer", gltf=summary)
    scene = _load(path, fmt)
    if scene is None:
        return ValidationReport(fmt, False, "trimesh could not parse it; left to Blender's importer", gltf=summary)
    return _check_scene(path, scene, fmt, summary)


def _load(path: Path, fmt: str):
    """The file as a trimesh Scene, None when trimesh fails on it for a reason of its own."""
    import trimesh

    logging.getLogger("trimesh").setLevel(logging.ERROR)
    try:
        return trimesh.load(str(path), file_type=fmt, force="scene", process=False, skip_materials=True)
    except IndexError as exc:
        if fmt == "obj":  # trimesh's OBJ reader indexes the vertex array with the face indices
            raise AssetValidationError("asset_corrupt", f"{path}: a face index is out of range ({exc})") from None
        return None
    except Exception:  # noqa: BLE001 - any parser failure: Blender's importer gets the last word
        return None


def _check_scene(path: Path, scene, fmt: str, summary: dict) -> ValidationReport:
    import trimesh

    meshes, vertices, triangles, points, line_sets = 0, 0, 0, 0, 0
    checked: set[str] = set()
    instances = []
    for node in scene.graph.nodes_geometry:
        transform, name = scene.graph[node]
        geometry = scene.geometry[name]
        if not np.isfinite(transform).all():
            raise AssetValidationError("asset_corrupt", f"{path}: node {node!r} has a non-finite transform")
        if isinstance(geometry, trimesh.PointCloud):
            points += len(geometry.vertices)
            continue
        if not isinstance(geometry, trimesh.Trimesh):
            line_sets += 1
            continue
        if name not in checked:
            checked.add(name)
            _check_mesh(path, name, np.asarray(geometry.vertices), np.asarray(geometry.faces))
            meshes, vertices, triangles = meshes + 1, vertices + len(geometry.vertices), triangles + len(geometry.faces)
        if len(geometry.faces):
            instances.append((transform, geometry))
    if not instances:
        what = (f"a point cloud ({points} points)" if points else f"only lines ({line_sets} line sets)" if line_sets
                else "no geometry")
        raise AssetValidationError("no_mesh", f"{path}: the file holds {what} and no triangles")
    if not _has_area(instances):
        raise AssetValidationError("no_mesh", f"{path}: all {triangles} triangles have zero area")
    return ValidationReport(fmt, True, "", meshes, vertices, triangles, summary)


def _check_mesh(path: Path, name: str, vertices: np.ndarray, faces: np.ndarray) -> None:
    finite = np.isfinite(vertices).all(axis=1)
    if not finite.all():
        first = int(np.flatnonzero(~finite)[0])
        raise AssetValidationError(
            "asset_corrupt", f"{path}: {int((~finite).sum())} of {len(vertices)} vertices of mesh {name!r} are not "
                             f"finite (NaN or infinity), first: vertex {first} = {vertices[first].tolist()}")
    if len(faces) and (faces.min() < 0 or faces.max() >= len(vertices)):
        bad = int(faces.max()) if faces.max() >= len(vertices) else int(faces.min())
        row = int(np.flatnonzero(((faces < 0) | (faces >= len(vertices))).any(axis=1))[0])
        raise AssetValidationError(
            "asset_corrupt", f"{path}: face {row} of mesh {name!r} refers to vertex {bad}, but the mesh has "
                             f"{len(vertices)} vertices (indices 0..{len(vertices) - 1})")


def _has_area(instances: list) -> bool:
    """True as soon as one placed mesh has a triangle of non-negligible area (world coordinates)."""
    for transform, geometry in instances:
        world = np.asarray(geometry.vertices, dtype=np.float64) @ transform[:3, :3].T + transform[:3, 3]
        diagonal = float(np.linalg.norm(world.max(axis=0) - world.min(axis=0)))
        if diagonal == 0.0:
            continue
        tri = world[np.asarray(geometry.faces)]
        areas = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
        if areas.max() > ZERO_AREA_FRACTION * diagonal ** 2:
            return True
    return False
