"""Import an asset file into an empty Blender scene, freeze it and normalise it to the unit cube.

What real files hold and what becomes of it (docs/rendering.md, "Asset files"):

- **What is shown**: objects the file shows in Blender's view layer. For glTF that is the default scene
  (``scene``, else scene 0); nodes of other scenes and nodes outside every scene are left out (a file
  without scenes, or with an empty one, shows all its nodes). Objects hidden for rendering are left out.
- **Pose**: animations are frozen, at the rest pose by default (armatures in their rest position, i.e. the
  bind pose; glTF nodes at their static transforms; shape keys at their stored weights) or at a chosen
  frame of the file's animation (``asset_frame``, Blender frames at the importer's 24 fps: glTF time
  ``frame / 24`` s).
- **Geometry**: every shown mesh instance (shared meshes, nested nodes, collection instances; modifiers
  such as skinning applied) becomes a mesh of its own whose world transform and the normalisation are
  baked into its vertices in float64, so large or small units, far-off origins and negative scales
  (faces flipped back outward) end up in the same unit cube as a plain file.
- Cameras, lights, empties, armatures and everything else imported are then removed.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix

from assets_catalog.validate import ZERO_AREA_FRACTION
from render.errors import RenderError

GLTF_OPTIONS = {"merge_vertices": True, "import_scene_as_collection": False, "disable_bone_shape": True}
IMPORTERS = {
    ".glb": lambda path: bpy.ops.import_scene.gltf(filepath=path, **GLTF_OPTIONS),
    ".gltf": lambda path: bpy.ops.import_scene.gltf(filepath=path, **GLTF_OPTIONS),
    ".obj": lambda path: bpy.ops.wm.obj_import(filepath=path),
    ".fbx": lambda path: bpy.ops.import_scene.fbx(filepath=path),
    ".ply": lambda path: bpy.ops.wm.ply_import(filepath=path),
    ".stl": lambda path: bpy.ops.wm.stl_import(filepath=path),
    ".usd": lambda path: bpy.ops.wm.usd_import(filepath=path),
    ".usda": lambda path: bpy.ops.wm.usd_import(filepath=path),
    ".usdc": lambda path: bpy.ops.wm.usd_import(filepath=path),
    ".usdz": lambda path: bpy.ops.wm.usd_import(filepath=path),
}
GEOMETRY_TYPES = frozenset({"MESH", "CURVE", "SURFACE", "META", "FONT"})  # what Blender renders as surfaces

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
    record: dict = field(default_factory=dict)  # meta.json "asset_import": what the file held, what was done


@dataclass
class _Part:
    """One shown mesh instance: its evaluated mesh (a new datablock) and world matrix (float64)."""

    mesh: bpy.types.Mesh
    matrix: np.ndarray
    instanced: bool
    object_materials: dict  # slot index -> material linked to the source object rather than its mesh
    name: str  # the source object's name (Blender adds .001 ... to the copies of an instanced one)


def import_asset(path: Path, min_flatness: float, asset_frame: int | None = None) -> ImportedObject:
    """Import ``path``, freeze it (rest pose, or ``asset_frame``), bake it into the unit cube under a pose
    root (see the module docstring and conventions.md). Raises :class:`RenderError` with a reason code."""
    path = Path(path)
    if not path.is_file():
        raise RenderError("asset_not_found", f"{path} does not exist")
    importer = IMPORTERS.get(path.suffix.lower())
    if importer is None:
        raise RenderError(
            "asset_unsupported", f"{path}: '{path.suffix}' is not one of {', '.join(sorted(IMPORTERS))}"
        )
    is_gltf = path.suffix.lower() in (".glb", ".gltf")
    if is_gltf:
        _keep_gltf_rest_transforms()
    objects_before, scenes_before = set(bpy.data.objects), set(bpy.data.scenes)
    _run_importer(importer, path, is_gltf)
    imported = [obj for obj in bpy.data.objects if obj not in objects_before]
    shown = _shown_objects(imported, is_gltf)
    record = {"format": path.suffix.lower().lstrip("."),
              "objects_in_file": dict(sorted(Counter(obj.type.lower() for obj in imported).items())),
              "objects_left_out": len(imported) - len(shown), **_freeze_pose(imported, asset_frame)}
    parts = _evaluated_parts(shown)
    bpy.data.batch_remove(imported)
    for scene in set(bpy.data.scenes) - scenes_before:  # the importer's scenes for a glTF's other scenes
        bpy.data.scenes.remove(scene)

    world = [_world_vertices(part) for part in parts]
    if not parts or sum(len(part.mesh.polygons) for part in parts) == 0:
        raise RenderError("no_mesh", f"{path}: the file contains no mesh geometry")
    stacked = np.concatenate(world)
    if not np.isfinite(stacked).all():
        raise RenderError("asset_corrupt", f"{path}: mesh has non-finite vertex coordinates")
    lower, upper = stacked.min(axis=0), stacked.max(axis=0)
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
    bpy.context.scene.collection.objects.link(pose_root)
    mesh_objects = [_baked_object(part, offset, scale, pose_root) for part in parts]
    vertices, faces = _triangles(mesh_objects)
    tri = vertices[faces]
    areas = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    if not areas.max() > ZERO_AREA_FRACTION * 3.0:  # the unit cube's squared diagonal is at most 3
        raise RenderError("no_mesh", f"{path}: all {len(faces)} triangles have zero area")
    record.update({"mesh_parts": len(parts), "instanced_parts": sum(part.instanced for part in parts),
                   "mirrored_parts": int(sum(np.linalg.det(part.matrix[:3, :3]) < 0 for part in parts)),
                   "triangles": int(len(faces))})
    return ImportedObject(pose_root=pose_root, mesh_objects=mesh_objects, extents=extents, scale=scale,
                          offset=offset, vertices=vertices, faces=faces, record=record)


def _keep_gltf_rest_transforms() -> None:
    """Have the glTF importer store each node's static transform (``Object.gltf2_animation_rest``) before
    it applies an animation: the add-on does so when its "Animation UI" preference is on."""
    addon = bpy.context.preferences.addons.get("io_scene_gltf2")
    if addon is not None and not addon.preferences.animation_ui:
        addon.preferences.animation_ui = True


def _run_importer(importer, path: Path, is_gltf: bool) -> None:
    try:
        result = importer(str(path))
    except Exception as exc:  # Blender raises RuntimeError with the importer's message (or its traceback)
        reason = _importer_reason(str(exc)) or type(exc).__name__
        if is_gltf:
            _raise_unsupported_gltf(path, reason)
        raise RenderError("asset_corrupt", f"{path}: import failed ({reason[:200]})") from None
    if "FINISHED" not in result:
        raise RenderError("asset_corrupt", f"{path}: importer returned {sorted(result)}")


def _importer_reason(text: str) -> str:
    """The informative line of an importer failure: the last ``SomethingError: ...`` line of a Python
    traceback, else the last line that is not Blender's ``Location:`` trailer."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[A-Za-z_.]*(Error|Exception)\b", line)
              and not line.startswith("Error: Python")]
    if errors:
        return errors[-1]
    lines = [line for line in lines if not line.startswith("Location:")]
    return lines[-1] if lines else ""


def _raise_unsupported_gltf(path: Path, reason: str) -> None:
    """A glTF import failure that comes from a compression or an extension the importer lacks."""
    from assets_catalog.files import AssetFileError, gltf_document

    try:
        used = set(gltf_document(path).get("extensionsUsed") or [])
    except AssetFileError:
        return
    if "KHR_draco_mesh_compression" in used and "draco" in reason.lower():
        raise RenderError("asset_unsupported", f"{path}: Draco-compressed geometry (KHR_draco_mesh_compression) "
                                               f"could not be decoded by Blender's glTF importer ({reason[:200]})")
    missing = re.search(r"Extension (\S+) is not available", reason)
    if missing:
        raise RenderError("asset_unsupported", f"{path}: requires the glTF extension {missing.group(1)}, which "
                                               "Blender's glTF importer does not support")


def _render_hidden_collections(root: bpy.types.Collection, hidden: bool = False, out: set | None = None) -> set:
    out = set() if out is None else out
    for child in root.children:
        child_hidden = hidden or child.hide_render
        if child_hidden:
            out.add(child)
        _render_hidden_collections(child, child_hidden, out)
    return out


def _shown_objects(imported: list, is_gltf: bool) -> list:
    """The imported objects a render shows (see the module docstring)."""
    scene = bpy.context.scene
    in_layer = set(bpy.context.view_layer.objects)
    hidden = _render_hidden_collections(scene.collection)
    shown = [obj for obj in imported if obj in in_layer and not obj.hide_render
             and not (obj.users_collection and all(c in hidden for c in obj.users_collection))]
    if is_gltf:  # the default scene's nodes are linked to the scene itself; nodes in no scene go elsewhere
        in_scene = [obj for obj in shown if scene.collection in obj.users_collection]
        shown = in_scene or shown
    return shown


def _freeze_pose(imported: list, asset_frame: int | None) -> dict:
    """Pose the file at rest or at ``asset_frame``; returns what was done for the record."""
    animated = [obj for obj in imported if obj.animation_data is not None]
    shape_animated = [obj for obj in imported if obj.type == "MESH" and obj.data.shape_keys is not None
                      and obj.data.shape_keys.animation_data is not None]
    armatures = [obj for obj in imported if obj.type == "ARMATURE"]
    facts = {"animated_objects": len(animated) + len(shape_animated), "armatures": len(armatures)}
    if asset_frame is not None:
        bpy.context.scene.frame_set(asset_frame)
        return {"pose": "frame", "frame": asset_frame, **facts}
    static = 0
    for obj in animated:
        rest = np.array(getattr(obj, "gltf2_animation_rest", np.zeros((4, 4))), dtype=np.float64)
        obj.animation_data_clear()
        if rest.shape == (4, 4) and rest[3, 3] == 1.0:  # stored by the glTF importer (zero when unset)
            obj.matrix_basis = Matrix(rest.tolist())
            static += 1
    for obj in shape_animated:
        obj.data.shape_keys.animation_data_clear()
        rest_weights = getattr(obj, "gltf2_animation_weight_rest", [])
        for block, weight in zip(obj.data.shape_keys.key_blocks[1:], rest_weights):
            block.value = weight.val
    for armature in armatures:
        armature.data.pose_position = "REST"
    return {"pose": "rest", "frame": None, **facts, "static_transforms_restored": static}


def _evaluated_parts(shown: list) -> list[_Part]:
    """Every shown geometry instance as a new mesh datablock (modifiers applied) with its world matrix."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    owners = set(shown)
    entries = []
    for instance in depsgraph.object_instances:  # read first: instance data is only valid while iterating
        owner = instance.parent.original if instance.is_instance else instance.object.original
        if owner in owners and instance.object.type in GEOMETRY_TYPES:
            entries.append((instance.object.original, np.array(instance.matrix_world, dtype=np.float64),
                            bool(instance.is_instance)))
    order = {obj: index for index, obj in enumerate(shown)}  # bpy.data order (by name), not the depsgraph's
    entries.sort(key=lambda entry: order.get(entry[0], len(order)))
    meshes: dict = {}
    parts = []
    for source, matrix, instanced in entries:
        if source not in meshes:
            meshes[source] = bpy.data.meshes.new_from_object(
                source.evaluated_get(depsgraph), preserve_all_data_layers=True, depsgraph=depsgraph)
            mesh = meshes[source]
        else:
            mesh = meshes[source].copy()
        if len(mesh.polygons):
            linked = {i: slot.material for i, slot in enumerate(source.material_slots) if slot.link == "OBJECT"}
            parts.append(_Part(mesh, matrix, instanced, linked, source.name))
    return parts


def _world_vertices(part: _Part) -> np.ndarray:
    co = np.empty(len(part.mesh.vertices) * 3, dtype=np.float32)
    part.mesh.vertices.foreach_get("co", co)
    return co.reshape(-1, 3).astype(np.float64) @ part.matrix[:3, :3].T + part.matrix[:3, 3]


def _baked_object(part: _Part, offset: np.ndarray, scale: float, pose_root: bpy.types.Object) -> bpy.types.Object:
    """A mesh object under ``pose_root`` with identity transform whose vertices are the part's normalised
    object-frame coordinates: the linear part through ``Mesh.transform`` (which also turns custom normals),
    the translation added in float64 (no float32 cancellation of a far-off origin)."""
    mesh = part.mesh
    linear = np.eye(4)
    linear[:3, :3] = part.matrix[:3, :3] * scale
    mesh.transform(Matrix(linear.tolist()))
    if np.linalg.det(linear[:3, :3]) < 0:
        mesh.flip_normals()  # a mirror turned the faces inside out; wind them outward again
    co = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    mesh.vertices.foreach_get("co", co)
    shifted = co.reshape(-1, 3).astype(np.float64) + (part.matrix[:3, 3] - offset) * scale
    mesh.vertices.foreach_set("co", shifted.astype(np.float32).reshape(-1))
    mesh.update()
    obj = bpy.data.objects.new(part.name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    obj.parent = pose_root
    obj.matrix_parent_inverse = Matrix.Identity(4)
    obj.matrix_basis = Matrix.Identity(4)
    for index, material in part.object_materials.items():  # else lost with the source object
        if index < len(obj.material_slots):
            obj.material_slots[index].link = "OBJECT"
            obj.material_slots[index].material = material
    obj.pass_index = OBJECT_PASS_INDEX
    return obj


def _triangles(objects: list) -> tuple[np.ndarray, np.ndarray]:
    """Object-frame triangles of the baked meshes (their vertices are object coordinates)."""
    all_vertices, all_faces, base = [], [], 0
    for obj in objects:
        mesh = obj.data
        mesh.calc_loop_triangles()
        co = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
        mesh.vertices.foreach_get("co", co)
        tris = np.empty(len(mesh.loop_triangles) * 3, dtype=np.int64)
        mesh.loop_triangles.foreach_get("vertices", tris)
        all_vertices.append(co.reshape(-1, 3).astype(np.float64))
        all_faces.append(tris.reshape(-1, 3) + base)
        base += len(mesh.vertices)
    return np.concatenate(all_vertices), np.concatenate(all_faces)
