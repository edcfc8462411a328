"""Projected 3D-box wireframes drawn into video frames (stage-1 supervision targets).

Corner order and edges follow docs/conventions.md (corner ``k = 4 ix + 2 iy + iz``). Every edge gets
the colour of one face so that the box orientation is unambiguous in a single frame:

* front (+X) face edges: red; back (-X) face edges: blue;
* the four edges along x: green on the top (+Z) face, yellow on the bottom (-Z) face.

Left and right then follow from handedness. Edges are drawn back-face first and front face last,
anti-aliased (common.drawing).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.drawing import draw_segment

BOX_EDGES: tuple[tuple[int, int], ...] = (
    (0, 4), (1, 5), (2, 6), (3, 7),  # along x
    (0, 2), (1, 3), (4, 6), (5, 7),  # along y
    (0, 1), (2, 3), (4, 5), (6, 7),  # along z
)
FACES: dict[str, tuple[int, int, int, int]] = {
    "front": (4, 5, 6, 7), "back": (0, 1, 2, 3), "left": (2, 3, 6, 7),
    "right": (0, 1, 4, 5), "top": (1, 3, 5, 7), "bottom": (0, 2, 4, 6),
}
FACE_COLORS: dict[str, tuple[int, int, int]] = {
    "front": (255, 0, 0), "back": (0, 0, 255), "top": (0, 255, 0), "bottom": (255, 255, 0),
}
_DRAW_ORDER = ("bottom", "top", "back", "front")


def edge_face(edge: tuple[int, int]) -> str:
    """The face whose colour an edge takes: front/back for edges on those faces, else top/bottom."""
    a, b = edge
    for face in ("front", "back", "top", "bottom"):
        if a in FACES[face] and b in FACES[face]:
            return face
    raise ValueError(f"{edge} is not a box edge")


def draw_box_wireframe(
    frames: np.ndarray, corners_2d: np.ndarray, line_width: float = 2.0,
    corner_in_front: np.ndarray | None = None,
) -> np.ndarray:
    """Draw the 12-edge wireframe of ``corners_2d`` (T, 8, 2) into ``frames`` (T, H, W, 3) uint8.

    ``corner_in_front`` (T, 8) bool, optional: corners behind the camera; edges touching one are
    skipped (their projection is meaningless). Returns new uint8 frames.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must have shape (T, H, W, 3), got {frames.shape}")
    corners = np.asarray(corners_2d, dtype=np.float64)
    if corners.shape != (frames.shape[0], 8, 2):
        raise ValueError(f"corners must have shape ({frames.shape[0]}, 8, 2), got {corners.shape}")
    out = frames.astype(np.float32)
    edges_by_face = {face: [e for e in BOX_EDGES if edge_face(e) == face] for face in _DRAW_ORDER}
    for t in range(frames.shape[0]):
        for face in _DRAW_ORDER:
            for a, b in edges_by_face[face]:
                if corner_in_front is not None and not (corner_in_front[t, a] and corner_in_front[t, b]):
                    continue
                draw_segment(out[t], tuple(corners[t, a]), tuple(corners[t, b]), line_width, FACE_COLORS[face])
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def draw_clip_boxes(clip_dir: str | Path, frames: np.ndarray | None = None, line_width: float = 2.0) -> np.ndarray:
    """A clip's stage-1 frames: its ``bbox_corners_2d`` drawn into ``frames`` (default: the clip's own).

    The clip is read through the clip reader (docs/clip_format.md; a clip still being assembled, without
    its marker, is accepted). Edges with a corner behind the camera are skipped. Returns (T, H, W, 3) uint8.
    """
    from common.clip_format import load_clip

    clip = load_clip(Path(clip_dir), require_marker=False)
    if frames is None:
        frames = clip.frames()
    ann = clip.arrays("bbox_corners_2d", "bbox_corners_world", "cam_w2c")
    corners, world, w2c = ann["bbox_corners_2d"], ann["bbox_corners_world"], ann["cam_w2c"]
    in_front = np.einsum("tij,tkj->tki", w2c[:, :3, :3], world)[..., 2] + w2c[:, None, 2, 3] > 0
    if corners.shape[0] < frames.shape[0]:
        raise ValueError(f"{clip.annotations_path}: {corners.shape[0]} box frames for {frames.shape[0]} video frames")
    count = frames.shape[0]
    return draw_box_wireframe(frames, corners[:count], line_width, in_front[:count])
