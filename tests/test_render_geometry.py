"""Camera and ground-truth math (pure numpy, no Blender)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from render.camera import (
    CameraPlacementError,
    RandomCameraRanges,
    blender_camera_matrix_world,
    default_camera,
    in_frame,
    intrinsics_matrix,
    look_at_w2c,
    moving_camera,
    project_points,
    random_camera,
    w2c_from_blender_matrix_world,
)
from render.groundtruth import (
    BOX_EDGES,
    ORIGINAL_BBOX_ORDER,
    box_corners_object,
    sample_surface_points,
    transform_points,
    visibility_from_depth,
)


def test_intrinsics_use_integer_pixel_centres():
    # 35 mm lens on a 36 mm sensor at 256x256: f = 248.889 px; the image centre is pixel 127.5.
    K = intrinsics_matrix(256, 256, 35.0)
    assert K[0, 0] == pytest.approx(248.8889, abs=1e-3)
    assert K[0, 2] == 127.5 and K[1, 2] == 127.5
    # PoseTraj-10k: 50 mm at 720x480 -> f = 1000 px.
    K = intrinsics_matrix(720, 480, 50.0)
    assert K[0, 0] == pytest.approx(1000.0) and K[1, 1] == pytest.approx(1000.0)
    assert (K[0, 2], K[1, 2]) == (359.5, 239.5)
    with pytest.raises(ValueError, match="size"):
        intrinsics_matrix(0, 10, 50.0)


def test_look_at_is_opencv():
    w2c = look_at_w2c(np.array([0.0, -5.0, 0.0]), np.zeros(3))
    # The target lies straight ahead (+z), world up projects upwards in the image (-y).
    target_cam = w2c[:3, :3] @ np.zeros(3) + w2c[:3, 3]
    assert np.allclose(target_cam, [0, 0, 5])
    up_cam = w2c[:3, :3] @ np.array([0.0, 0.0, 1.0])
    assert up_cam[1] < -0.99
    right_cam = w2c[:3, :3] @ np.array([1.0, 0.0, 0.0])
    assert right_cam[0] > 0.99
    assert np.allclose(w2c[:3, :3] @ w2c[:3, :3].T, np.eye(3))


def test_blender_matrix_round_trip():
    w2c = look_at_w2c(np.array([1.0, -3.0, 2.0]), np.array([0.2, 0.1, 0.0]))
    matrix_world = blender_camera_matrix_world(w2c)
    # A Blender camera looks down its local -Z.
    forward_world = matrix_world[:3, :3] @ np.array([0.0, 0.0, -1.0])
    assert np.allclose(forward_world, w2c[2, :3])
    assert np.allclose(w2c_from_blender_matrix_world(matrix_world), w2c)


def test_default_camera_matches_posetraj10k():
    camera = default_camera(720, 480, num_frames=3)
    assert camera.w2c.shape == (3, 4, 4) and camera.is_static
    c2w = np.linalg.inv(camera.w2c[0])
    assert np.allclose(c2w[:3, 3], [0.0, -4.7, 2.3])
    # Tilted 67 degrees from looking straight down: the optical axis is 23 degrees below the horizon.
    forward = c2w[:3, 2]
    assert math.degrees(math.asin(-forward[2])) == pytest.approx(23.0)
    assert forward[0] == pytest.approx(0.0, abs=1e-12)


def test_projection_of_per_frame_cameras_matches_loop():
    rng = np.random.default_rng(0)
    K = intrinsics_matrix(96, 64, 40.0)
    w2c = np.stack([look_at_w2c(np.array([x, -4.0, 2.0]), np.zeros(3)) for x in (-1.0, 0.0, 1.0)])
    points = rng.uniform(-0.5, 0.5, size=(3, 5, 3))
    pixels, depth = project_points(K, w2c, points)
    for t in range(3):
        cam = points[t] @ w2c[t, :3, :3].T + w2c[t, :3, 3]
        uv = (K @ cam.T).T
        assert np.allclose(pixels[t], uv[:, :2] / uv[:, 2:3])
        assert np.allclose(depth[t], cam[:, 2])


def _corners_on_circle(num_frames: int, radius: float = 1.0) -> np.ndarray:
    angles = np.linspace(0, np.pi, num_frames)
    centres = np.stack([radius * np.cos(angles), radius * np.sin(angles), np.full(num_frames, 0.25)], axis=1)
    return centres[:, None, :] + box_corners_object(np.array([0.5, 0.5, 0.5]))[None]


def test_random_camera_keeps_object_in_frame():
    corners = _corners_on_circle(12)
    for seed in range(5):
        camera = random_camera(np.random.default_rng(seed), 128, 96, corners)
        pixels, depth = project_points(camera.K, camera.w2c, corners)
        assert in_frame(pixels, depth, 128, 96).all()
        assert camera.mode == "random" and camera.is_static


def test_random_camera_gives_up_with_a_clear_error():
    corners = _corners_on_circle(6, radius=50.0)
    tight = RandomCameraRanges(distance_m=(3.0, 3.5), max_tries=5)
    with pytest.raises(CameraPlacementError, match="5 tries"):
        random_camera(np.random.default_rng(0), 64, 64, corners, tight)


@pytest.mark.parametrize("mode", ["orbit", "pan"])
def test_moving_cameras_move_and_keep_the_object_in_frame(mode):
    corners = _corners_on_circle(10)
    camera = moving_camera(np.random.default_rng(1), mode, 128, 96, corners)
    assert not camera.is_static
    pixels, depth = project_points(camera.K, camera.w2c, corners)
    assert in_frame(pixels, depth, 128, 96).all()
    centres = np.linalg.inv(camera.w2c)[:, :3, 3]
    if mode == "orbit":
        assert np.ptp(centres, axis=0).max() > 0.5
    else:
        assert np.allclose(centres, centres[0])


def test_box_corner_order_and_edges():
    corners = box_corners_object(np.array([2.0, 4.0, 6.0]))
    assert np.allclose(corners[0], [-1, -2, -3]) and np.allclose(corners[7], [1, 2, 3])
    assert np.allclose(corners[4], [1, -2, -3]) and np.allclose(corners[1], [-1, -2, 3])
    assert len(BOX_EDGES) == 12 and len(set(BOX_EDGES)) == 12
    lengths = sorted(round(float(np.linalg.norm(corners[a] - corners[b])), 6) for a, b in BOX_EDGES)
    assert lengths == [2.0] * 4 + [4.0] * 4 + [6.0] * 4
    # Original layout: bottom face as two diagonal pairs, then the top face.
    original = corners[list(ORIGINAL_BBOX_ORDER)]
    assert (original[:4, 2] < 0).all() and (original[4:, 2] > 0).all()
    assert np.allclose(original[0, :2], -original[1, :2])
    assert np.allclose(original[2, :2], -original[3, :2])


def test_surface_samples_lie_on_the_mesh_and_are_deterministic():
    import trimesh

    box = trimesh.creation.box(extents=(1.0, 2.0, 0.5))
    points = sample_surface_points(box.vertices, box.faces, 500, seed=3)
    assert np.array_equal(points, sample_surface_points(box.vertices, box.faces, 500, seed=3))
    assert not np.array_equal(points, sample_surface_points(box.vertices, box.faces, 500, seed=4))
    half = np.array([0.5, 1.0, 0.25])
    on_a_face = np.isclose(np.abs(points), half, atol=1e-9).any(axis=1)
    assert on_a_face.all() and (np.abs(points) <= half + 1e-9).all()
    with pytest.raises(ValueError, match="faces"):
        sample_surface_points(box.vertices, np.zeros((0, 3), dtype=int), 10, seed=0)


def test_visibility_from_depth():
    depth = np.full((1, 4, 6), 2.0, dtype=np.float32)
    depth[0, :, 3:] = 0.0  # nothing rendered on the right half
    pixels = np.array([[[1.0, 1.0], [1.2, 2.4], [4.0, 1.0], [1.0, 1.0], [9.0, 1.0]]])
    z = np.array([[2.005, 2.0, 2.0, 2.5, 2.0]])
    visible = visibility_from_depth(pixels, z, depth, tolerance_m=0.01, relative_tolerance=0.0)
    assert visible.tolist() == [[True, True, False, False, False]]


def test_transform_points():
    matrices = np.stack([np.eye(4), np.eye(4)])
    matrices[1, :3, 3] = [1, 2, 3]
    out = transform_points(matrices, np.array([[1.0, 0.0, 0.0]]))
    assert np.allclose(out, [[[1, 0, 0]], [[2, 2, 3]]])


def test_clip_spec_ids_round_trip_and_validation():
    import json

    from render.errors import RenderError
    from render.spec import ClipSpec, make_clip_spec

    spec = make_clip_spec("builtin:car", "s_curve", preset="draft", seed=4, pose_mode="bank")
    assert spec.clip_id.startswith("car_s_curve_s4_")
    assert make_clip_spec("builtin:car", "s_curve", preset="draft", seed=4, pose_mode="bank").clip_id == spec.clip_id
    assert make_clip_spec("builtin:car", "s_curve", preset="draft", seed=5).clip_id != spec.clip_id
    again = ClipSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    paper = make_clip_spec("builtin:car", "line", preset="paper")
    assert (paper.settings.width, paper.settings.height, paper.settings.samples) == (720, 480, 128)
    assert (paper.trajectory.num_frames, paper.trajectory.fps) == (32, 5.0)
    for kwargs, message in [
        (dict(width=101), "even"),
        (dict(camera_mode="drone"), "camera mode"),
        (dict(preset="ultra"), "unknown preset"),
        (dict(trajectory="zigzag"), "zigzag"),
        (dict(clip_id="../escape"), "clip id"),
    ]:
        trajectory = kwargs.pop("trajectory", "line")
        with pytest.raises(RenderError, match=message) as info:
            make_clip_spec("builtin:car", trajectory, **kwargs)
        assert info.value.code == "invalid_spec"


def test_scene_sampling_is_deterministic_and_honours_files():
    from render.scene import FLOOR_KINDS, sample_scene

    first = sample_scene(np.random.default_rng(7))
    assert first == sample_scene(np.random.default_rng(7))
    assert first.floor.kind in FLOOR_KINDS and first.world.hdri_path is None
    assert first.lights[0].kind == "SUN" and 35 <= first.lights[0].elevation_deg <= 80
    kinds = {sample_scene(np.random.default_rng(seed)).floor.kind for seed in range(40)}
    assert kinds == set(FLOOR_KINDS)
    with_files = sample_scene(np.random.default_rng(7), floor_texture="floor.png", hdri="sky.exr")
    assert with_files.floor.kind == "image" and with_files.floor.image_path == "floor.png"
    assert with_files.world.hdri_path == "sky.exr"
    with pytest.raises(ValueError, match="floor kind"):
        sample_scene(np.random.default_rng(0), floor_kind="marble")
