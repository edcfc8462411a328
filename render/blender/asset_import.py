"""Import an asset file into an empty Blender scene and normalise it to the unit cube."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix

from render.errors import RenderError

IMPORTERS = {
    ".glb": lambda path: bpy.ops.import_scene.gltf(filepath=path, merge_vertices=True),
    ".gltf": lambda path: bpy.ops.import_scene.gltf(filepath=path, merge_vertices=True),
    ".obj": lambda path: bpy.ops.wm.obj_import(filepath=path),
    ".fbx": lambda path: bpy.ops.import_scene.fbx(filepath=path),
    ".ply": lambda path: bpy.ops.wm.ply_import(filepath=path),
    ".stl": lambda path: bpy.ops.wm.stl_import(filepath=path),
    ".usd": lambda path: bpy.ops.wm.usd_import(filepath=path),
    ".usda": lambda path: bpy.ops.wm.usd_import(filepath=path),
    ".usdc": lambda path: bpy.ops.wm.usd_import(filepath=path),
    ".usdz": lambda path: bpy.ops.wm.usd_import(filepath=path),
}

OBJECT_PASS_INDEX = 1


@dataclass
class ImportedObject:
    """The normalised object: ``pose_root`` carries the object frame; mesh data in object coordinates."""

    pose_root: bpy.types.Object
    mesh_objects: list
    extents: np.ndarray  # (3,) full side lengths after normalisation (max = 1)
    scale: float
    offset: np.ndarray  # raw AABB centre: p_object = (p_raw - offset) * scale
    vertices: np.ndarray  # (V,3) object-frame triangle vertices
    faces: np.ndarray  # (F,3)


def _mesh_triangles(objects: list) -> tuple[np.ndarray, np.ndarray]:
    """World-space triangles of the evaluated meshes (modifiers applied)."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    all_vertices, all_faces, base = [], [], 0
    for obj in objects:
        evaluated = obj.evaluated_get(depsgraph)
        mesh = evaluated.to_mesh()
        try:
            mesh.calc_loop_triangles()
            count = len(mesh.vertices)
            if count == 0 or len(mesh.loop_triangles) == 0:
                continue
            co = np.empty(count * 3, dtype=np.float64)
            mesh.vertices.foreach_get("co", co)
            co = co.reshape(-1, 3)
            tris = np.empty(len(mesh.loop_triangles) * 3, dtype=np.int64)
            mesh.loop_triangles.foreach_get("vertices", tris)
            matrix = np.array(evaluated.matrix_world)
            all_vertices.append(co @ matrix[:3, :3].T + matrix[:3, 3])
            all_faces.append(tris.reshape(-1, 3) + base)
            base += count
        finally:
            evaluated.to_mesh_clear()
    if not all_vertices:
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
    return np.concatenate(all_vertices), np.concatenate(all_faces)


def import_asset(path: Path, min_flatness: float) -> ImportedObject:
    """Import ``path``, parent it under a pose root and scale it into the unit cube (see conventions.md)."""
    path = Path(path)
    if not path.is_file():
        raise RenderError("asset_not_found", f"{path} does not exist")
    importer = IMPORTERS.get(path.suffix.lower())
    if importer is None:
        raise RenderError(
            "asset_unsupported", f"{path}: '{path.suffix}' is not one of {', '.join(sorted(IMPORTERS))}"
        )
    before = set(bpy.data.objects)
    try:
        result = importer(str(path))
    except Exception as exc:  # Blender raises RuntimeError with the importer's message
        first_line = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise RenderError("asset_corrupt", f"{path}: import failed ({first_line[:200]})") from None
    if "FINISHED" not in result:
        raise RenderError("asset_corrupt", f"{path}: importer returned {sorted(result)}")
    imported = [obj for obj in bpy.data.objects if obj not in before]
    for obj in imported:
        if obj.type in {"CAMERA", "LIGHT"}:
            bpy.data.objects.remove(obj, do_unlink=True)
    imported = [obj for obj in imported if obj.name in bpy.data.objects]
    for obj in imported:
        obj.animation_data_clear()  # assets are posed at rest; their own animations are not played
    meshes = [obj for obj in imported if obj.type == "MESH"]
    bpy.context.view_layer.update()
    vertices, faces = _mesh_triangles(meshes)
    if len(faces) == 0:
        raise RenderError("no_mesh", f"{path}: the file contains no mesh geometry")
    if not np.isfinite(vertices).all():
        raise RenderError("asset_corrupt", f"{path}: mesh has non-finite vertex coordinates")

    lower, upper = vertices.min(axis=0), vertices.max(axis=0)
    raw_extents = upper - lower
    largest = float(raw_extents.max())
    if largest <= 0:
        raise RenderError("no_mesh", f"{path}: mesh has zero size")
    scale = 1.0 / largest
    offset = (lower + upper) / 2.0
    extents = raw_extents * scale
    flatness = extents[2] / max(extents[0], extents[1])
    if flatness < min_flatness:
        raise RenderError(
            "flat_object", f"{path}: height/width = {flatness:.3f} is below the threshold {min_flatness}"
        )

    pose_root = bpy.data.objects.new("posetraj_object", None)
    normaliser = bpy.data.objects.new("posetraj_normalise", None)
    bpy.context.scene.collection.objects.link(pose_root)
    bpy.context.scene.collection.objects.link(normaliser)
    normaliser.parent = pose_root
    for obj in imported:
        if obj.parent is None:
            world = obj.matrix_world.copy()
            obj.parent = normaliser
            obj.matrix_parent_inverse = Matrix.Identity(4)
            obj.matrix_basis = world
    normalise = np.eye(4)
    normalise[:3, :3] *= scale
    normalise[:3, 3] = -offset * scale
    normaliser.matrix_basis = Matrix(normalise.tolist())
    for obj in meshes:
        obj.pass_index = OBJECT_PASS_INDEX
    return ImportedObject(
        pose_root=pose_root,
        mesh_objects=meshes,
        extents=extents,
        scale=scale,
        offset=offset,
        vertices=(vertices - offset) * scale,
        faces=faces,
    )
