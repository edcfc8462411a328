"""Mesh files that real asset corpora contain, made here (numpy, trimesh, tests/gltf_builder.py and, for
Draco, Blender's own exporter): cameras and lights in glTF, skinned and animated meshes, several scenes,
nested instanced nodes, alpha-blended and emissive materials, other units, far-off origins, mirrors, NaN
vertices, point clouds, zero-area and out-of-range faces. Used by tests/test_asset_files.py and by
bench/asset_corpus.py (``make_corpus``).

Geometry is given in Blender's axes (Z up, metres); glTF and OBJ files are Y-up, so they are written with
:func:`to_y_up` and Blender's importers turn them back.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from gltf_builder import GltfBuilder, box

#: An object with a front and a top: a body and a nub on its top, at +X and +Y (Blender axes).
REFERENCE_PARTS = (((1.0, 0.6, 0.4), (0.0, 0.0, 0.2)), ((0.3, 0.3, 0.3), (0.3, 0.1, 0.55)))


def to_y_up(vertices: np.ndarray) -> np.ndarray:
    """Blender (x, y, z) -> glTF/OBJ (x, z, -y)."""
    vertices = np.asarray(vertices, dtype=np.float64)
    return np.stack([vertices[:, 0], vertices[:, 2], -vertices[:, 1]], axis=1)


def reference_mesh() -> tuple[np.ndarray, np.ndarray]:
    """(vertices, faces) of the reference object in Blender axes."""
    parts = [box(extents, centre) for extents, centre in REFERENCE_PARTS]
    return np.concatenate([v for v, _ in parts]), np.concatenate([f + 8 * i for i, (_, f) in enumerate(parts)])


def reference_glb(path: Path, *, vertex_scale: float = 1.0, mirrored: bool = False, node: dict | None = None) -> Path:
    """The reference object as a GLB: vertices times ``vertex_scale`` (other units), optionally mirrored in
    its data and under a node with scale (-1, 1, 1) (same world geometry), under a node with ``node``'s
    glTF transform (translation, rotation, scale)."""
    vertices, faces = reference_mesh()
    vertices = vertices * vertex_scale
    node = dict(node or {})
    if mirrored:
        vertices = vertices * np.array([-1.0, 1.0, 1.0])
        faces = faces[:, ::-1]  # outward in the mirrored data
        node["scale"] = tuple(np.array(node.get("scale", (1.0, 1.0, 1.0))) * np.array([-1.0, 1.0, 1.0]))
    builder = GltfBuilder()
    mesh = builder.mesh(to_y_up(vertices), faces, material=builder.material((0.7, 0.3, 0.2, 1.0)))
    builder.scene([builder.node(mesh=mesh, name="reference", **node)])
    return builder.write(Path(path))


def camera_light_glb(path: Path) -> Path:
    """The reference object under an empty parent node, with a camera and a point light beside it (as in the
    Khronos sample Duck.glb, which carries a camera)."""
    builder = GltfBuilder()
    vertices, faces = reference_mesh()
    mesh = builder.mesh(to_y_up(vertices), faces, material=builder.material())
    body = builder.node(mesh=mesh, name="body")
    camera = builder.node(camera=builder.camera(), translation=(0.0, 1.0, 6.0), name="camera")
    light = builder.node(light=builder.light(), translation=(3.0, 4.0, 2.0), name="lamp")
    root = builder.node(children=[body, camera, light], name="root")
    builder.scene([root])
    return builder.write(Path(path))


#: The skinned bar: two 1 x 0.4 x 0.4 segments along +X; its second joint turns 90 degrees in 1 s.
BAR_REST_EXTENTS = np.array([1.0, 0.2, 0.2])  # normalised: 2 x 0.4 x 0.4
BAR_BENT_EXTENTS = np.array([1.0, 1.0 / 3.0, 1.0])  # at 1 s: 1.2 x 0.4 x 1.2 (second segment upright)


def skinned_glb(path: Path) -> Path:
    """A skinned bar (two joints) whose second joint is animated from straight to a right angle over
    1 s (frame 24 of Blender's importer), plus a box with an animated node whose static translation
    differs from its animation: the rest pose keeps the static one."""
    builder = GltfBuilder()
    v1, f1 = box((1.0, 0.4, 0.4), (0.5, 0.0, 0.0))
    v2, f2 = box((1.0, 0.4, 0.4), (1.5, 0.0, 0.0))
    joints = np.zeros((16, 4), dtype=np.uint8)
    joints[8:, 0] = 1
    weights = np.zeros((16, 4))
    weights[:, 0] = 1.0
    mesh = builder.mesh(to_y_up(np.concatenate([v1, v2])), np.concatenate([f1, f2 + 8]),
                        material=builder.material(), joints=joints, weights=weights)
    tip = builder.node(translation=(1.0, 0.0, 0.0), name="tip_joint")
    base = builder.node(children=[tip], name="base_joint")
    inverse_bind = [np.eye(4), np.eye(4)]
    inverse_bind[1][0, 3] = -1.0
    skinned = builder.node(mesh=mesh, skin=builder.skin([base, tip], inverse_bind), name="bar")
    builder.scene([skinned, base])
    turn = [0.0, 0.0, math.sin(math.pi / 4), math.cos(math.pi / 4)]  # 90 deg about glTF +Z (Blender -Y)
    builder.animation([(tip, "rotation", np.array([0.0, 1.0]), np.array([[0.0, 0.0, 0.0, 1.0], turn]))])
    return builder.write(Path(path))


def node_animation_glb(path: Path) -> Path:
    """A static box at the origin and a box whose node sits at x = 2 but is animated from x = 5 to 8:
    rest pose x extent 3 m, frame 0 (the animation's start) 6 m."""
    builder = GltfBuilder()
    vertices, faces = box()
    mesh = builder.mesh(to_y_up(vertices), faces, material=builder.material())
    still = builder.node(mesh=mesh, name="still")
    moving = builder.node(mesh=mesh, translation=(2.0, 0.0, 0.0), name="moving")
    builder.scene([still, moving])
    builder.animation([(moving, "translation", np.array([0.0, 1.0]), np.array([[5.0, 0.0, 0.0], [8.0, 0.0, 0.0]]))])
    return builder.write(Path(path))


def two_scenes_glb(path: Path) -> Path:
    """Scene 1 (the default) holds the reference object; scene 0 a large box far away; a third node is in
    no scene. Only the default scene is rendered."""
    builder = GltfBuilder()
    vertices, faces = reference_mesh()
    reference = builder.mesh(to_y_up(vertices), faces, material=builder.material())
    big_vertices, big_faces = box((5.0, 5.0, 5.0))
    big = builder.mesh(to_y_up(big_vertices), big_faces, material=builder.material())
    shown = builder.node(mesh=reference, name="shown")
    other = builder.node(mesh=big, translation=(30.0, 0.0, 0.0), name="other_scene")
    builder.node(mesh=big, translation=(-30.0, 0.0, 0.0), name="orphan")
    builder.scene([other], name="other")
    builder.scene([shown], name="main", default=True)
    return builder.write(Path(path))


def nested_instances_glb(path: Path) -> tuple[Path, np.ndarray]:
    """One box mesh used by four nodes in a three-level hierarchy with rotations and scales; returns the
    path and the expected world vertices (Blender axes) of all four instances."""
    builder = GltfBuilder()
    vertices, faces = box((0.4, 0.4, 0.4))
    mesh = builder.mesh(to_y_up(vertices), faces, material=builder.material((0.2, 0.5, 0.8, 1.0)))
    quarter = [0.0, math.sin(math.pi / 8), 0.0, math.cos(math.pi / 8)]  # 45 deg about glTF +Y (Blender +Z)
    leaf = builder.node(mesh=mesh, translation=(0.0, 0.6, 0.0), scale=(0.5, 0.5, 0.5), name="leaf")
    middle = builder.node(mesh=mesh, children=[leaf], translation=(0.8, 0.0, 0.0), rotation=quarter, name="middle")
    side = builder.node(mesh=mesh, translation=(0.0, 0.0, -0.7), name="side")
    root = builder.node(mesh=mesh, children=[middle, side], scale=(1.5, 1.0, 1.0), name="root")
    builder.scene([root])
    builder.write(Path(path))

    def trs(translation=(0, 0, 0), rotation=(0, 0, 0, 1), scale=(1, 1, 1)) -> np.ndarray:
        x, y, z, w = rotation
        rot = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
        out = np.eye(4)
        out[:3, :3] = rot * np.asarray(scale, dtype=np.float64)
        out[:3, 3] = translation
        return out

    root_m = trs(scale=(1.5, 1.0, 1.0))
    middle_m = root_m @ trs((0.8, 0.0, 0.0), quarter)
    placements = [root_m, middle_m, middle_m @ trs((0.0, 0.6, 0.0), scale=(0.5, 0.5, 0.5)),
                  root_m @ trs((0.0, 0.0, -0.7))]
    y_up = to_y_up(vertices)
    world_y_up = np.concatenate([y_up @ m[:3, :3].T + m[:3, 3] for m in placements])
    world = np.stack([world_y_up[:, 0], -world_y_up[:, 2], world_y_up[:, 1]], axis=1)  # back to Blender axes
    return Path(path), world


#: Parts of the alpha/emissive object (Blender axes): an opaque body, an alpha-blended wing, a glowing lamp.
ALPHA_PARTS = {"body": ((0.5, 0.6, 0.5), (-0.35, 0.0, 0.25)), "wing": ((0.5, 0.6, 0.5), (0.35, 0.0, 0.25)),
               "lamp": ((0.2, 0.2, 0.2), (-0.35, 0.0, 0.6))}


def alpha_emissive_glb(path: Path, wing_alpha: float = 0.1) -> Path:
    """An opaque body, an alpha-blended wing (alpha ``wing_alpha``) and an emissive red lamp."""
    builder = GltfBuilder()
    materials = {"body": builder.material((0.2, 0.6, 0.3, 1.0)),
                 "wing": builder.material((0.3, 0.3, 0.9, wing_alpha), alpha_mode="BLEND", double_sided=True),
                 "lamp": builder.material((1.0, 0.1, 0.1, 1.0), emissive=(1.0, 0.0, 0.0), emissive_strength=8.0)}
    nodes = []
    for name, (extents, centre) in ALPHA_PARTS.items():
        vertices, faces = box(extents, centre)
        nodes.append(builder.node(mesh=builder.mesh(to_y_up(vertices), faces, material=materials[name]), name=name))
    builder.scene(nodes)
    return builder.write(Path(path))


def unit_cube_glb(path: Path) -> Path:
    import trimesh

    trimesh.creation.box(extents=(1.0, 1.0, 1.0)).export(path)
    return Path(path)


def sphere_obj(path: Path) -> Path:
    import trimesh

    Path(path).write_text(trimesh.exchange.obj.export_obj(trimesh.creation.icosphere(subdivisions=2, radius=0.5)))
    return Path(path)


def nan_obj(path: Path) -> Path:
    """An OBJ box with one ``nan`` coordinate (Blender's OBJ importer reads it as 0)."""
    vertices, faces = box()
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in to_y_up(vertices)]
    lines[5] = "v nan 0.5 0.5"
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
    Path(path).write_text("\n".join(lines) + "\n")
    return Path(path)


def nan_ply(path: Path) -> Path:
    """A binary PLY box with one NaN coordinate (Blender's PLY importer reads it as 0)."""
    import trimesh

    vertices, faces = box()
    vertices[3, 2] = np.nan
    Path(path).write_bytes(trimesh.exchange.ply.export_ply(trimesh.Trimesh(vertices, faces, process=False)))
    return Path(path)


def point_cloud_ply(path: Path) -> Path:
    import trimesh

    points = np.random.default_rng(7).random((200, 3))
    Path(path).write_bytes(trimesh.exchange.ply.export_ply(trimesh.PointCloud(points)))
    return Path(path)


def zero_area_obj(path: Path) -> Path:
    """Triangles whose corners lie on one line (every face has zero area, the box of the points does not)."""
    Path(path).write_text("v 0 0 0\nv 1 0 0\nv 2 0 0\nv 0 1 1\nv 0 2 2\nf 1 2 3\nf 1 4 5\n")
    return Path(path)


def bad_index_glb(path: Path) -> Path:
    """A box whose index buffer points past its 8 vertices (Blender's glTF importer stops with a traceback)."""
    builder = GltfBuilder()
    vertices, faces = box()
    faces = faces.copy()
    faces[4, 2] = 40
    builder.scene([builder.node(mesh=builder.mesh(to_y_up(vertices), faces))])
    return builder.write(Path(path))


def bad_index_obj(path: Path) -> Path:
    """An OBJ face refers to vertex 9 of 8 (Blender's OBJ importer drops that face)."""
    vertices, faces = box()
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in to_y_up(vertices)]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces] + ["f 1 2 9"]
    Path(path).write_text("\n".join(lines) + "\n")
    return Path(path)


def gltf_points(path: Path) -> Path:
    builder = GltfBuilder()
    vertices, _ = box()
    builder.scene([builder.node(mesh=builder.mesh(to_y_up(vertices), None, mode=0))])
    return builder.write(Path(path))


def draco_glb(path: Path) -> Path:
    """The reference object written by Blender's glTF exporter with Draco compression (needs bpy; resets
    Blender's scene)."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    vertices, faces = reference_mesh()
    mesh = bpy.data.meshes.new("reference")
    mesh.from_pydata(vertices.tolist(), [], faces.tolist())
    obj = bpy.data.objects.new("reference", mesh)
    bpy.context.scene.collection.objects.link(obj)
    result = bpy.ops.export_scene.gltf(filepath=str(path), export_format="GLB",
                                       export_draco_mesh_compression_enable=True)
    if "FINISHED" not in result:
        raise RuntimeError(f"Blender's glTF exporter returned {result}")
    return Path(path)


def make_corpus(folder: Path, *, draco: bool = True) -> dict[str, Path]:
    """Every file above in ``folder`` (name -> path)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "camera_light": camera_light_glb(folder / "camera_light.glb"),
        "skinned": skinned_glb(folder / "skinned_animated.glb"),
        "node_animation": node_animation_glb(folder / "node_animation.glb"),
        "two_scenes": two_scenes_glb(folder / "two_scenes.glb"),
        "nested": nested_instances_glb(folder / "nested_instances.glb")[0],
        "alpha_emissive": alpha_emissive_glb(folder / "alpha_emissive.glb"),
        "reference": reference_glb(folder / "reference.glb"),
        "millimetres": reference_glb(folder / "reference_mm.glb", vertex_scale=1000.0),
        "kilometres": reference_glb(folder / "reference_km.glb", vertex_scale=0.001),
        "far_origin": reference_glb(folder / "reference_far_origin.glb", node={"translation": (12345.5, -3000.25, 8000.0)}),
        "mirrored": reference_glb(folder / "reference_mirrored.glb", mirrored=True),
        "unit_cube": unit_cube_glb(folder / "unit_cube.glb"),
        "sphere": sphere_obj(folder / "sphere.obj"),
        "nan_obj": nan_obj(folder / "nan_vertex.obj"),
        "nan_ply": nan_ply(folder / "nan_vertex.ply"),
        "point_cloud": point_cloud_ply(folder / "point_cloud.ply"),
        "gltf_points": gltf_points(folder / "points.glb"),
        "zero_area": zero_area_obj(folder / "zero_area.obj"),
        "bad_index_glb": bad_index_glb(folder / "bad_index.glb"),
        "bad_index_obj": bad_index_obj(folder / "bad_index.obj"),
    }
    if draco:
        files["draco"] = draco_glb(folder / "draco.glb")
    return files
