"""Per-file mesh statistics for the catalog, computed with trimesh (one call per file, no bpy).

Geometry is measured in Blender's frame, Z up: glTF and OBJ files are Y-up, so their points
``(x, y, z)`` are read as ``(x, -z, y)`` exactly as Blender's importers convert them; PLY and STL are
taken as Z-up. FBX and USD files cannot be read by trimesh: they get a failed row with reason
``stats_unsupported_format`` (the renderer can still import them by path).

A file that cannot be measured never raises: :func:`compute_stats` returns ``status="failed"`` with a
reason code and a one-line detail.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

STATS_VERSION = 1  # bump when the numbers below change meaning; cached stats of another version are recomputed
TRIMESH_FORMATS = ("glb", "gltf", "obj", "ply", "stl")
_Y_UP_FORMATS = ("glb", "gltf", "obj")

# reason codes of failed rows
TRUNCATED = "truncated_file"
UNREADABLE = "unreadable_file"
LOAD_ERROR = "load_error"
NO_MESH = "no_mesh"
UNSUPPORTED = "stats_unsupported_format"

STAT_COLUMNS = (
    "face_count", "vertex_count", "geometry_count", "animation_count", "armature_count",
    "ext_x", "ext_y", "ext_z", "flatness", "components", "watertight",
    "pa_extent_0", "pa_extent_1", "pa_extent_2",
)


def _failed(reason: str, detail: str) -> dict:
    return {"status": "failed", "failure_reason": reason, "failure_detail": detail[:300]}


def _gltf_json(path: Path, fmt: str) -> dict:
    """The glTF JSON document of a .glb or .gltf file; ValueError on truncated or malformed files."""
    data = path.read_bytes()
    if fmt == "gltf":
        return json.loads(data.decode("utf-8"))
    if len(data) < 20 or data[:4] != b"glTF":
        raise ValueError("not a GLB file (bad magic or shorter than a header)")
    _, _, total = struct.unpack_from("<4sII", data, 0)
    if total != len(data):
        raise EOFError(f"GLB header says {total} bytes, file has {len(data)}")
    chunk_length, chunk_type = struct.unpack_from("<I4s", data, 12)
    if chunk_type != b"JSON" or 20 + chunk_length > len(data):
        raise ValueError("GLB has no complete JSON chunk")
    return json.loads(data[20:20 + chunk_length].decode("utf-8"))


def _rig_counts(path: Path, fmt: str) -> tuple[int, int]:
    """(animation count, armature count) from the glTF JSON (skins are armatures); 0, 0 otherwise."""
    if fmt not in ("glb", "gltf"):
        return 0, 0
    doc = _gltf_json(path, fmt)
    return len(doc.get("animations", []) or []), len(doc.get("skins", []) or [])


def _merge_vertices(vertices, faces):
    """Weld vertices of a unit-cube-normalised mesh that fall in the same 1e-6 cell.

    Returns (welded vertices, remapped faces). Each coordinate in [0, 1] becomes a 21-bit integer, so a
    vertex is one int64 key and welding is a 1-D ``np.unique``.
    """
    import numpy as np

    cells = np.clip(np.round(vertices * 1e6), 0, (1 << 21) - 1).astype(np.int64)
    keys = (cells[:, 0] << 42) | (cells[:, 1] << 21) | cells[:, 2]
    unique, inverse = np.unique(keys, return_inverse=True)
    merged = np.zeros((len(unique), 3))
    merged[inverse] = vertices
    return merged, inverse[faces]


def _components_and_watertight(faces, vertex_count: int) -> tuple[int, bool]:
    """Connected components (through shared welded vertices) and whether every edge has exactly two faces."""
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges.sort(axis=1)
    graph = coo_matrix((np.ones(len(edges), dtype=np.int8), (edges[:, 0], edges[:, 1])),
                       shape=(vertex_count, vertex_count))
    count, labels = connected_components(graph, directed=False)
    used = np.zeros(vertex_count, dtype=bool)
    used[faces.reshape(-1)] = True
    components = len(np.unique(labels[used]))
    edge_keys = edges[:, 0].astype(np.int64) * vertex_count + edges[:, 1]
    _, uses = np.unique(edge_keys, return_counts=True)
    return int(components), bool(len(uses) > 0 and (uses == 2).all())


def _geometry(vertices, faces) -> dict:
    """Shape statistics of one triangle soup (vertices already Z-up)."""
    import numpy as np

    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    extents = hi - lo
    size = float(extents.max())
    if not np.isfinite(size) or size <= 0.0:
        raise ValueError("degenerate geometry (zero or non-finite extent)")
    normalised = extents / size
    width = float(max(normalised[0], normalised[1]))
    welded, welded_faces = _merge_vertices((vertices - lo) / size, faces)
    components, watertight = _components_and_watertight(welded_faces, len(welded))
    triangles = welded[welded_faces]
    areas = 0.5 * np.linalg.norm(np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0]),
                                 axis=1)
    weights = areas / areas.sum() if areas.sum() > 0 else np.full(len(areas), 1.0 / len(areas))
    centroids = triangles.mean(axis=1)
    mean = weights @ centroids
    centred = centroids - mean
    _, axes = np.linalg.eigh((centred * weights[:, None]).T @ centred)
    projected = (welded - mean) @ axes
    pa = np.sort(projected.max(axis=0) - projected.min(axis=0))[::-1]
    return {
        "ext_x": float(normalised[0]), "ext_y": float(normalised[1]), "ext_z": float(normalised[2]),
        "flatness": float(normalised[2] / width) if width > 0 else float("inf"),
        "components": components, "watertight": watertight,
        "pa_extent_0": float(pa[0]), "pa_extent_1": float(pa[1]), "pa_extent_2": float(pa[2]),
    }


def _flatten(scene) -> tuple:
    """All triangle-mesh instances of a trimesh scene in world coordinates: (vertices, faces, count)."""
    import numpy as np
    import trimesh

    vertices, faces, offset = [], [], 0
    for node in scene.graph.nodes_geometry:
        transform, geom_name = scene.graph[node]
        geom = scene.geometry.get(geom_name)
        if not isinstance(geom, trimesh.Trimesh) or len(geom.faces) == 0:
            continue
        vertices.append(trimesh.transform_points(np.asarray(geom.vertices, dtype=np.float64), transform))
        faces.append(np.asarray(geom.faces, dtype=np.int64) + offset)
        offset += len(geom.vertices)
    if not vertices:
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64), 0
    return np.concatenate(vertices), np.concatenate(faces), len(vertices)


def compute_stats(path: str | Path, fmt: str) -> dict:
    """Statistics of one mesh file: the ``STAT_COLUMNS`` plus ``status`` / ``failure_reason`` / ``failure_detail``.

    Extents are the AABB side lengths after scaling the largest to 1 (``ext_*``); ``flatness`` is the
    height over the larger horizontal extent (``ext_z / max(ext_x, ext_y)``); ``pa_extent_*`` are the
    extents along the area-weighted principal axes, largest first, in the same normalised units.
    """
    import numpy as np

    path = Path(path)
    if fmt not in TRIMESH_FORMATS:
        return _failed(UNSUPPORTED, f".{fmt} files are not readable by trimesh; no geometry statistics")
    try:
        animations, armatures = _rig_counts(path, fmt)
    except EOFError as exc:
        return _failed(TRUNCATED, str(exc))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return _failed(UNREADABLE, f"{type(exc).__name__}: {exc}")
    try:
        import trimesh

        scene = trimesh.load_scene(str(path), file_type=fmt)
        vertices, faces, instances = _flatten(scene)
        if instances == 0:
            return _failed(NO_MESH, "the file holds no triangle mesh")
        if fmt in _Y_UP_FORMATS:
            vertices = np.stack([vertices[:, 0], -vertices[:, 2], vertices[:, 1]], axis=1)
        row = {
            "face_count": int(len(faces)), "vertex_count": int(len(vertices)),
            "geometry_count": instances, "animation_count": animations, "armature_count": armatures,
        }
        row.update(_geometry(vertices, faces))
    except Exception as exc:  # any loader failure becomes a failed row, never a crashed build
        return _failed(LOAD_ERROR, f"{type(exc).__name__}: {exc}")
    row.update(status="ok", failure_reason="", failure_detail="")
    return row
