"""A small z-buffer rasterizer for triangle meshes: which face, at what depth and where on it each pixel
centre sees, for an object posed in front of a pinhole camera (the loop is compiled:
benchmark.fit_kernels.rasterize_faces).

Pixel centres are at integer coordinates (docs/conventions.md): pixel (x, y) is covered by a triangle
when the point (x, y) lies inside its projection, which is the rule the renderer's ground-truth masks
follow. Each triangle visits the pixels of its bounding box and the nearest one per pixel is kept (the
first in face order on a tie), so the cost grows with the object's projected area, not the image size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Raster:
    """What each pixel sees: ``face`` (H, W) int64, -1 where no triangle covers the pixel centre;
    ``depth`` (H, W) camera z (0 where empty); ``bary`` (H, W, 3) perspective-correct barycentric
    coordinates of the visible point on its face."""

    face: np.ndarray
    depth: np.ndarray
    bary: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        return self.face >= 0

    def object_points(self, vertices: np.ndarray, faces: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """(N, 3) object-frame points seen at pixels (rows, cols) (all must be covered)."""
        return np.einsum("nk,nkj->nj", self.bary[rows, cols], vertices[faces[self.face[rows, cols]]])


def rasterize(vertices: np.ndarray, faces: np.ndarray, rotation: np.ndarray, translation: np.ndarray,
              K: np.ndarray, width: int, height: int, near: float = 1e-3, cull_back_faces: bool = False) -> Raster:
    """Rasterize the mesh (object-frame ``vertices`` (V, 3), ``faces`` (F, 3)) posed by the object-to-camera
    ``rotation``/``translation`` with intrinsics ``K`` into a ``width`` x ``height`` image.
    Triangles with a vertex closer than ``near`` to the camera plane are skipped, and with
    ``cull_back_faces`` those turned away from the camera (right only for closed, outward-wound meshes)."""
    from benchmark.fit_kernels import rasterize_faces

    cam = vertices @ rotation.T + translation
    z = np.ascontiguousarray(cam[:, 2])
    uv = np.ascontiguousarray((cam @ K.T)[:, :2] / np.maximum(z, near)[:, None])
    face = np.full((height, width), -1, np.int64)
    depth = np.zeros((height, width))
    bary = np.zeros((height, width, 3))
    rasterize_faces(uv, z, np.ascontiguousarray(faces, np.int64), int(width), int(height), float(near),
                    bool(cull_back_faces), face, depth, bary)
    return Raster(face, depth, bary)
