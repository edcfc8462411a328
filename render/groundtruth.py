"""Ground truth from poses, camera and rendered passes (pure numpy).

Everything here is computed from the clip's own numbers (object poses, camera, mesh triangles, depth),
never read back from Blender, so the tests can compare it with Blender's own projection independently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from render.camera import CameraTrack, in_frame, project_points

#: Corner signs in the documented order k = 4*ix + 2*iy + iz (itertools.product over x, y, z).
BOX_CORNER_SIGNS = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64)

#: The 12 box edges: corner pairs whose indices differ in exactly one bit.
BOX_EDGES = tuple((a, a | bit) for bit in (4, 2, 1) for a in range(8) if not a & bit)

#: Depth and mask record a surface only where its alpha is at least this (Cycles' pass alpha threshold): an
#: alpha-blended part counts where it is opaque enough and is seen through elsewhere (docs/rendering.md).
MASK_ALPHA_THRESHOLD = 0.5

#: Our corner indices in the order of the original PoseTraj ``bbox.npy`` (see docs/clip_format.md).
ORIGINAL_BBOX_ORDER = (0, 6, 4, 2, 1, 7, 5, 3)


def box_corners_object(extents: np.ndarray) -> np.ndarray:
    """(8,3) corners of the object-frame box with full side lengths ``extents``, centred at the origin."""
    return BOX_CORNER_SIGNS * (np.asarray(extents, dtype=np.float64) / 2.0)


def transform_points(matrices: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply (T,4,4) transforms to (N,3) points -> (T,N,3)."""
    return np.einsum("tij,nj->tni", matrices[:, :3, :3], points) + matrices[:, None, :3, 3]


def sample_surface_points(vertices: np.ndarray, faces: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` points uniformly distributed over a triangle mesh's area, deterministic for ``seed``."""
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    if faces.ndim != 2 or faces.shape[1] != 3 or len(faces) == 0:
        raise ValueError(f"faces must be a non-empty (F,3) index array, got shape {faces.shape}")
    tri = vertices[faces]
    areas = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    total = areas.sum()
    if not np.isfinite(total) or total <= 0:
        raise ValueError("mesh has no surface area")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(faces), size=count, p=areas / total)
    r1, r2 = rng.random(count), rng.random(count)
    sqrt_r1 = np.sqrt(r1)
    weights = np.stack([1.0 - sqrt_r1, sqrt_r1 * (1.0 - r2), sqrt_r1 * r2], axis=1)
    return np.einsum("nk,nkj->nj", weights, tri[chosen])


def visibility_from_depth(
    pixels: np.ndarray, z: np.ndarray, depth: np.ndarray, tolerance_m: float, relative_tolerance: float,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """(T,N) visibility of projected points by comparing their camera z with the rendered depth.

    A point is visible when it projects inside the image in front of the camera and the planar depth at
    its nearest pixel is within ``tolerance_m + relative_tolerance * z`` of the point's own depth (and,
    with ``mask`` (T,H,W), that pixel shows the object: a point on a see-through part where the object
    touches the floor has the floor's depth but is not what the pixel shows).
    """
    num_frames, height, width = depth.shape
    inside = in_frame(pixels, z, width, height)
    cols = np.clip(np.rint(pixels[..., 0]), 0, width - 1).astype(np.int64)
    rows = np.clip(np.rint(pixels[..., 1]), 0, height - 1).astype(np.int64)
    frame_index = np.arange(num_frames)[:, None]
    seen = depth[frame_index, rows, cols]
    close = np.abs(seen - z) <= tolerance_m + relative_tolerance * np.abs(z)
    shown = True if mask is None else mask[frame_index, rows, cols] > 0
    return inside & close & (seen > 0) & shown


@dataclass(frozen=True)
class GroundTruthSettings:
    num_track_points: int = 256
    depth_tolerance_m: float = 0.01
    depth_relative_tolerance: float = 0.01


def compute_ground_truth(
    *,
    camera: CameraTrack,
    obj_to_world: np.ndarray,
    extents: np.ndarray,
    path_xy: np.ndarray,
    lift: np.ndarray,
    surface_vertices: np.ndarray,
    surface_faces: np.ndarray,
    depth: np.ndarray,
    mask: np.ndarray,
    seed: int,
    settings: GroundTruthSettings = GroundTruthSettings(),
) -> dict[str, np.ndarray]:
    """All arrays of ``annotations.npz`` (see docs/clip_format.md) for one clip."""
    num_frames = obj_to_world.shape[0]
    if camera.w2c.shape[0] != num_frames or depth.shape[0] != num_frames or mask.shape[0] != num_frames:
        raise ValueError(
            f"frame counts disagree: poses {num_frames}, camera {camera.w2c.shape[0]}, depth {depth.shape[0]}, mask {mask.shape[0]}"
        )
    K, w2c = camera.K, camera.w2c
    corners_world = transform_points(obj_to_world, box_corners_object(extents))
    corners_2d, _ = project_points(K, w2c, corners_world)
    centre_world = obj_to_world[:, None, :3, 3]
    centre_2d, centre_z = project_points(K, w2c, centre_world)
    centre_2d, centre_z = centre_2d[:, 0], centre_z[:, 0]
    ground_world = np.concatenate([path_xy, lift[:, None]], axis=1)[:, None]
    ground_2d = project_points(K, w2c, ground_world)[0][:, 0]

    tracks_xyz = sample_surface_points(surface_vertices, surface_faces, settings.num_track_points, seed)
    tracks_world = transform_points(obj_to_world, tracks_xyz)
    tracks_2d, tracks_z = project_points(K, w2c, tracks_world)
    tracks_visible = visibility_from_depth(
        tracks_2d, tracks_z, depth, settings.depth_tolerance_m, settings.depth_relative_tolerance, mask
    )
    return {
        "schema_version": np.int64(1),
        "K": K.astype(np.float64),
        "cam_w2c": w2c.astype(np.float64),
        "obj_to_world": obj_to_world.astype(np.float64),
        "bbox_extents": np.asarray(extents, dtype=np.float64),
        "bbox_corners_world": corners_world,
        "bbox_corners_2d": corners_2d,
        "center_2d": centre_2d,
        "center_visible": in_frame(centre_2d, centre_z, camera.width, camera.height),
        "ground_2d": ground_2d,
        "depth": depth.astype(np.float32),
        "mask": mask.astype(np.uint16),
        "tracks_xyz": tracks_xyz.astype(np.float32),
        "tracks_2d": tracks_2d.astype(np.float32),
        "tracks_visible": tracks_visible,
        "path_xy": np.asarray(path_xy, dtype=np.float64),
    }


def original_layout(annotations: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``traj.npy`` (T,2) and ``bbox.npy`` (T,8,2) in the original PoseTraj layout."""
    traj = np.asarray(annotations["ground_2d"], dtype=np.float64)
    bbox = np.asarray(annotations["bbox_corners_2d"], dtype=np.float64)[:, list(ORIGINAL_BBOX_ORDER)]
    return traj, bbox
