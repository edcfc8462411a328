"""3D-box wireframes: the 12 edges of docs/conventions.md, coloured by face."""

from __future__ import annotations

import numpy as np
import pytest

from posetraj.boxes import BOX_EDGES, FACE_COLORS, FACES, draw_box_wireframe, draw_clip_boxes, edge_face
from common.video import write_mp4


def _oblique_corners(origin=(30.0, 70.0)) -> np.ndarray:
    """Corners k = 4ix + 2iy + iz projected with x -> (40, 8), y -> (-14, -12), z -> (0, -30) pixels."""
    axes = np.array([[40.0, 8.0], [-14.0, -12.0], [0.0, -30.0]])
    corners = [np.array(origin) + ix * axes[0] + iy * axes[1] + iz * axes[2]
               for ix in (0, 1) for iy in (0, 1) for iz in (0, 1)]
    return np.array(corners)


def _segment_distance(p, a, b) -> float:
    ab = b - a
    t = np.clip(np.dot(p - a, ab) / np.dot(ab, ab), 0, 1)
    return float(np.linalg.norm(p - (a + t * ab)))


def test_edges_follow_the_corner_convention():
    assert len(BOX_EDGES) == 12 and len(set(BOX_EDGES)) == 12
    for a, b in BOX_EDGES:
        assert bin(a ^ b).count("1") == 1  # neighbours differ in exactly one index bit
    assert {edge_face(e) for e in BOX_EDGES} == {"front", "back", "top", "bottom"}
    assert sum(edge_face(e) == "front" for e in BOX_EDGES) == 4
    assert sum(edge_face(e) == "back" for e in BOX_EDGES) == 4
    assert FACES["front"] == (4, 5, 6, 7) and FACES["top"] == (1, 3, 5, 7)


def test_every_edge_is_drawn_in_its_face_colour():
    corners = _oblique_corners()
    frames = draw_box_wireframe(np.zeros((1, 100, 100, 3), np.uint8), corners[None], line_width=2.0)
    drawn = 0
    for edge in BOX_EDGES:
        a, b = corners[edge[0]], corners[edge[1]]
        mid = (a + b) / 2
        others = [e for e in BOX_EDGES if e != edge]
        assert min(_segment_distance(mid, corners[o[0]], corners[o[1]]) for o in others) > 3.0
        pixel = frames[0, int(round(mid[1])), int(round(mid[0]))]
        np.testing.assert_array_equal(pixel, FACE_COLORS[edge_face(edge)])
        drawn += 1
    assert drawn == 12
    # nothing is drawn far from the box
    assert frames[0, :5].max() == 0 and frames[0, 95:].max() == 0


def test_orientation_is_visible_front_and_back_differ():
    corners = _oblique_corners()
    flipped = corners[[4, 5, 6, 7, 0, 1, 2, 3]]  # the box turned by 180 degrees about z
    a = draw_box_wireframe(np.zeros((1, 100, 100, 3), np.uint8), corners[None])
    b = draw_box_wireframe(np.zeros((1, 100, 100, 3), np.uint8), flipped[None])
    assert (a != b).any()


def test_corners_behind_the_camera_skip_their_edges():
    corners = _oblique_corners()
    in_front = np.ones((1, 8), bool)
    in_front[0, 7] = False
    frames = draw_box_wireframe(np.zeros((1, 100, 100, 3), np.uint8), corners[None], corner_in_front=in_front)
    for edge in BOX_EDGES:
        mid = (corners[edge[0]] + corners[edge[1]]) / 2
        pixel = frames[0, int(round(mid[1])), int(round(mid[0]))]
        assert (pixel.max() == 0) == (7 in edge)


def test_clip_annotations_are_drawn(tmp_path):
    corners = np.repeat(_oblique_corners()[None], 2, axis=0)
    world = np.zeros((2, 8, 3))
    world[..., 2] = 5.0
    np.savez(tmp_path / "annotations.npz", schema_version=np.int64(1), bbox_corners_2d=corners,
             bbox_corners_world=world, cam_w2c=np.repeat(np.eye(4)[None], 2, axis=0))
    frames = draw_clip_boxes(tmp_path, np.zeros((2, 100, 100, 3), np.uint8))
    assert frames.shape == (2, 100, 100, 3) and frames.max() == 255
    write_mp4(tmp_path / "rgb.mp4", np.full((2, 100, 100, 3), 128, np.uint8), fps=5)
    from_video = draw_clip_boxes(tmp_path)
    assert from_video.shape == (2, 100, 100, 3)
    mid = (corners[0, 4] + corners[0, 6]) / 2  # a front-face edge: red over the grey video
    pixel = from_video[1, int(round(mid[1])), int(round(mid[0]))].astype(int)
    assert pixel[0] > 200 and pixel[1] < 60 and pixel[2] < 60
    np.savez(tmp_path / "annotations.npz", schema_version=np.int64(2), bbox_corners_2d=corners)
    with pytest.raises(ValueError, match="schema_version"):
        draw_clip_boxes(tmp_path, np.zeros((2, 100, 100, 3), np.uint8))


def test_shape_errors():
    with pytest.raises(ValueError, match="corners"):
        draw_box_wireframe(np.zeros((2, 10, 10, 3), np.uint8), np.zeros((1, 8, 2)))
