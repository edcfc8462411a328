"""A small z-buffer rasterizer for triangle meshes (pure numpy): which face, at what depth and where on
it each pixel centre sees, for an object posed in front of a pinhole camera.

Pixel centres are at integer coordinates (docs/conventions.md): pixel (x, y) is covered by a triangle
when the point (x, y) lies inside its projection, which is the rule the renderer's ground-truth masks
follow. All covering (triangle, pixel) pairs are enumerated from the triangles' bounding boxes and the
nearest one per pixel is kept, so the cost grows with the object's projected area, not the image size.
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
    cam = vertices @ rotation.T + translation
    z = cam[:, 2]
    uv = (cam @ K.T)[:, :2] / np.maximum(z, near)[:, None]
    tri, tz = uv[faces], z[faces]
    x0 = np.maximum(np.floor(tri[..., 0].min(1)), 0).astype(np.int64)
    x1 = np.minimum(np.ceil(tri[..., 0].max(1)), width - 1).astype(np.int64)
    y0 = np.maximum(np.floor(tri[..., 1].min(1)), 0).astype(np.int64)
    y1 = np.minimum(np.ceil(tri[..., 1].max(1)), height - 1).astype(np.int64)
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    usable = (tz > near).all(1) & (x1 >= x0) & (y1 >= y0) & (np.abs(area) > 1e-12)
    if cull_back_faces:
        usable &= area < 0  # outward (counter-clockwise) triangles project clockwise in image coordinates (y down)
    keep = np.flatnonzero(usable)
    face = np.full((height, width), -1, np.int64)
    depth = np.zeros((height, width))
    bary = np.zeros((height, width, 3))
    if keep.size == 0:
        return Raster(face, depth, bary)
    # the barycentric weights of the first two vertices are affine in the pixel: w = (px, py, 1) . coef
    a, b, c, area = a[keep], b[keep], c[keep], area[keep]
    coef = np.empty((keep.size, 6))
    coef[:, 0], coef[:, 1] = (b[:, 1] - c[:, 1]) / area, (c[:, 0] - b[:, 0]) / area
    coef[:, 2] = (b[:, 0] * c[:, 1] - b[:, 1] * c[:, 0]) / area
    coef[:, 3], coef[:, 4] = (c[:, 1] - a[:, 1]) / area, (a[:, 0] - c[:, 0]) / area
    coef[:, 5] = (c[:, 0] * a[:, 1] - c[:, 1] * a[:, 0]) / area
    box_w = (x1 - x0 + 1)[keep]
    counts = box_w * (y1 - y0 + 1)[keep]
    slot = np.repeat(np.arange(keep.size), counts)
    local = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    widths = box_w[slot]
    px = x0[keep][slot] + local % widths
    py = y0[keep][slot] + local // widths
    k = coef[slot]
    w0 = k[:, 0] * px + k[:, 1] * py + k[:, 2]
    w1 = k[:, 3] * px + k[:, 4] * py + k[:, 5]
    w2 = 1.0 - w0 - w1
    inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
    tri_of, px, py = keep[slot[inside]], px[inside], py[inside]
    persp = np.stack([w0[inside], w1[inside], w2[inside]], 1) / tz[tri_of]
    inv_depth = persp.sum(1)
    d = 1.0 / inv_depth
    pixel = py * width + px
    # nearest first within each pixel: one sort on pixel + depth scaled into [0, 1)
    order = np.argsort(pixel + d / (d.max() * 1.000001 + 1e-12), kind="stable") if d.size else np.zeros(0, np.int64)
    first = np.ones(order.size, bool)
    first[1:] = pixel[order][1:] != pixel[order][:-1]
    sel = order[first]
    face.ravel()[pixel[sel]] = tri_of[sel]
    depth.ravel()[pixel[sel]] = d[sel]
    bary.reshape(-1, 3)[pixel[sel]] = persp[sel] * d[sel, None]
    return Raster(face, depth, bary)
