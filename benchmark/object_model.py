"""The object's triangle mesh in its object frame: what the pose metric fits to every frame.

A posetraj-synth suite stores the mesh of each sample (``samples/<id>/object_mesh.npz``, written when
the suite is built, :func:`write_object_mesh`). It is derived from the clip's asset exactly as the
renderer placed it: built-in models are rebuilt (``assets_catalog.builtin``), mesh files are read with
trimesh in Blender's axis convention (glTF / OBJ are Y-up and turned Z-up, PLY / STL are taken as
they are), the synthetic box of ``benchmark.synthetic_clips`` is its box, and every one is normalised
by the clip's recorded ``normalization`` (``p_object = (p_raw - offset) * scale``). The result is
checked against the clip's frame-0 ground truth: rasterized at the frame-0 pose it must cover the
frame-0 object mask (IoU >= 0.9; the
synthetic box is drawn with OpenCV polygons, whose edge pixels differ slightly). Static data only: nothing of later frames is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

OBJECT_MESH_FILE = "object_mesh.npz"
OBJECT_MESH_SCHEMA_VERSION = 1
MIN_FRAME0_IOU = 0.9
Y_UP_SUFFIXES = (".glb", ".gltf", ".obj")  # Blender's importers turn these Y-up files Z-up
Z_UP_SUFFIXES = (".ply", ".stl")


class ObjectModelError(ValueError):
    """The object's mesh cannot be obtained or does not match the clip."""


@dataclass(frozen=True)
class ObjectModel:
    """Object-frame triangle mesh (units of the normalised object: largest extent 1)."""

    vertices: np.ndarray  # (V, 3) float64
    faces: np.ndarray  # (F, 3) int64

    def __post_init__(self) -> None:
        if self.vertices.ndim != 2 or self.vertices.shape[1] != 3 or not np.isfinite(self.vertices).all():
            raise ObjectModelError(f"mesh vertices must be a finite (V, 3) array, got {self.vertices.shape}")
        if (self.faces.ndim != 2 or self.faces.shape[1] != 3 or len(self.faces) == 0
                or self.faces.min() < 0 or self.faces.max() >= len(self.vertices)):
            raise ObjectModelError(f"mesh faces must be a non-empty (F, 3) index array into {len(self.vertices)} "
                                   f"vertices, got {self.faces.shape}")

    @cached_property
    def cull_back_faces(self) -> bool:
        """Whether triangles facing away from the camera can be skipped when rasterizing: the winding is
        consistent (no edge, with vertices merged by position, is traversed twice in the same direction)
        and the mesh encloses a positive volume (its normals point outwards)."""
        _, merged = np.unique(np.round(self.vertices, 6), axis=0, return_inverse=True)
        faces = merged.reshape(-1)[self.faces]
        edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
        edges = edges[edges[:, 0] != edges[:, 1]]
        consistent = len(np.unique(edges, axis=0)) == len(edges)
        tri = self.vertices[self.faces]
        volume = float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0)
        return bool(consistent and volume > 0)

    def surface_samples(self, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``count`` points spread uniformly over the surface: (points (N, 3), unit normals (N, 3), face
        index (N,)); deterministic for ``seed``."""
        tri = self.vertices[self.faces]
        cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        area = 0.5 * np.linalg.norm(cross, axis=1)
        if area.sum() <= 0:
            raise ObjectModelError("mesh has no surface area")
        rng = np.random.default_rng(seed)
        face = rng.choice(len(self.faces), size=count, p=area / area.sum())
        r1, r2 = np.sqrt(rng.random(count)), rng.random(count)
        weights = np.stack([1.0 - r1, r1 * (1.0 - r2), r1 * r2], axis=1)
        points = np.einsum("nk,nkj->nj", weights, tri[face])
        normals = cross[face] / np.maximum(np.linalg.norm(cross[face], axis=1, keepdims=True), 1e-12)
        return points, normals, face


def box_model(extents: np.ndarray) -> ObjectModel:
    """A box of full side lengths ``extents`` centred at the origin (12 triangles, outward winding)."""
    half = np.asarray(extents, dtype=np.float64) / 2.0
    vertices = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], float) * half
    quads = ((4, 6, 7, 5), (0, 1, 3, 2), (2, 3, 7, 6), (0, 4, 5, 1), (1, 5, 7, 3), (0, 2, 6, 4))
    faces = np.array([tri for a, b, c, d in quads for tri in ((a, b, c), (a, c, d))], dtype=np.int64)
    return ObjectModel(vertices, faces)


def write_object_mesh(path: Path, model: ObjectModel) -> None:
    """Store the mesh as ``.npz`` (schema version, vertices, faces), atomically."""
    from common.atomic import write_atomic

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, schema_version=np.int64(OBJECT_MESH_SCHEMA_VERSION),
                     vertices=model.vertices.astype(np.float64), faces=model.faces.astype(np.int64))

    write_atomic(Path(path), write, suffix=".npz")


def read_object_mesh(path: Path) -> ObjectModel:
    """Read a mesh written by :func:`write_object_mesh`; a one-line error names the file on any problem."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            version = int(data["schema_version"])
            if version != OBJECT_MESH_SCHEMA_VERSION:
                raise ObjectModelError(f"{path}: object mesh schema version {version} is not supported "
                                       f"(this reader knows {OBJECT_MESH_SCHEMA_VERSION})")
            return ObjectModel(np.asarray(data["vertices"], np.float64), np.asarray(data["faces"], np.int64))
    except ObjectModelError as exc:
        raise ObjectModelError(str(exc) if str(path) in str(exc) else f"{path}: {exc}") from None
    except (OSError, KeyError, ValueError) as exc:
        raise ObjectModelError(f"{path}: not a readable object mesh ({exc})") from None


def _raw_mesh(meta: dict, extents: np.ndarray) -> tuple[list[tuple[np.ndarray, np.ndarray]], bool]:
    """Candidate raw (vertices, faces) of the clip's asset before normalisation, and whether the
    normalisation still has to be applied (False for the synthetic box, made in object units)."""
    asset = meta.get("asset") or {}
    if asset.get("source") == "synthetic":
        box = box_model(extents)
        return [(box.vertices, box.faces)], False
    if asset.get("source") == "builtin":
        from assets_catalog.builtin import build_builtin_mesh

        name = str(asset.get("uid", "")).removeprefix("builtin-")
        try:
            mesh = build_builtin_mesh(name).to_geometry()
        except (KeyError, ValueError) as exc:
            raise ObjectModelError(f"unknown built-in asset {asset.get('uid')!r} ({exc})") from None
        return [(np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64))], True
    path = Path(str(asset.get("path") or ""))
    if not path.is_file():
        raise ObjectModelError(f"the clip's asset file {asset.get('path')!r} is not available to read its mesh")
    import trimesh

    try:
        loaded = trimesh.load(path, force="scene")
        mesh = loaded.to_geometry() if hasattr(loaded, "to_geometry") else loaded
        vertices, faces = np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64)
    except Exception as exc:  # noqa: BLE001 - trimesh raises many kinds of errors on bad files
        raise ObjectModelError(f"{path}: cannot read the mesh ({type(exc).__name__}: {exc})") from None
    y_up = np.c_[vertices[:, 0], -vertices[:, 2], vertices[:, 1]]
    first = y_up if path.suffix.lower() in Y_UP_SUFFIXES else vertices
    second = vertices if first is y_up else y_up
    return [(first, faces), (second, faces)], True


def object_model_from_clip(clip) -> ObjectModel:
    """The clip's object mesh in its object frame, checked against the frame-0 mask (module docstring)."""
    from benchmark.rasterize import rasterize

    meta = clip.meta
    ann = clip.arrays("K", "cam_w2c", "obj_to_world", "bbox_extents", "mask")
    norm = meta.get("normalization") or {}
    candidates, normalise = _raw_mesh(meta, ann["bbox_extents"])
    o2c = ann["cam_w2c"][0] @ ann["obj_to_world"][0]
    target = ann["mask"][0] == 1
    width, height = clip.size
    best = 0.0
    for vertices, faces in candidates:
        if normalise:
            vertices = (vertices - np.asarray(norm.get("offset", [0, 0, 0]), float)) * float(norm.get("scale", 1.0))
        model = ObjectModel(vertices, faces)
        covered = rasterize(model.vertices, model.faces, o2c[:3, :3], o2c[:3, 3], ann["K"], width, height).mask
        iou = float((covered & target).sum() / max((covered | target).sum(), 1))
        if iou >= MIN_FRAME0_IOU:
            return model
        best = max(best, iou)
    raise ObjectModelError(f"{clip.path}: the asset's mesh does not match the clip's frame-0 object mask "
                           f"(best IoU {best:.3f} < {MIN_FRAME0_IOU})")
