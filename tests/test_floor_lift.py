"""Lifting image points onto the floor plane and back (render/floor_lift.py), and user-path clip specs
(render/user_path.py): round trips within 0.01 px and one-line errors for points that cannot be used."""

from __future__ import annotations

import math

import numpy as np
import pytest

from render.camera import default_camera, intrinsics_matrix, look_at_w2c, project_points
from render.errors import RenderError
from render.floor_lift import FloorPathError, floor_to_pixels, lift_to_floor
from render.trajectories import build_trajectory
from render.user_path import floor_control_points, lift_image_path, project_floor_path, user_clip_spec


def _horizon_row(K: np.ndarray, w2c: np.ndarray) -> float:
    """Image row of the horizon of a camera without roll: the camera ray (x, y, 1) has world height
    R[0, 2] x + R[1, 2] y + R[2, 2], and R[0, 2] = 0 (the x axis is level)."""
    rotation = w2c[:3, :3]
    return K[1, 2] - K[1, 1] * rotation[2, 2] / rotation[1, 2]


@pytest.mark.parametrize("size", [(288, 192), (576, 320), (64, 48), (97, 203)])
def test_default_camera_lift_then_project_agrees_to_0_01_px(size):
    width, height = size
    camera = default_camera(width, height, 1)
    rng = np.random.default_rng(sum(size))
    pixels = np.stack([rng.uniform(-0.5, width - 0.5, 500), rng.uniform(-0.5, height - 0.5, 500)], axis=1)
    pixels[:4] = [[-0.5, -0.5], [width - 0.5, height - 0.5], [0, height - 1], [(width - 1) / 2, (height - 1) / 2]]
    floor = lift_to_floor(pixels, camera.K, camera.w2c[0], width, height)
    assert floor.shape == (500, 3) and np.all(floor[:, 2] == 0.0)
    back = floor_to_pixels(floor, camera.K, camera.w2c[0], width, height)
    assert np.abs(back - pixels).max() < 0.01
    # the same through the project's own projection, and through the 2D (x, y) form
    projected, depth = project_points(camera.K, camera.w2c[0], floor)
    assert np.abs(projected - pixels).max() < 0.01 and np.all(depth > 0)
    assert np.abs(project_floor_path(floor[:, :2], size) - pixels).max() < 0.01


def test_random_cameras_round_trip_below_the_horizon():
    rng = np.random.default_rng(11)
    checked = 0
    for _ in range(40):
        width, height = int(rng.integers(32, 800)), int(rng.integers(32, 600))
        distance, elevation, azimuth = rng.uniform(2, 10), math.radians(rng.uniform(10, 80)), rng.uniform(0, 2 * math.pi)
        eye = np.array([distance * math.cos(elevation) * math.sin(azimuth),
                        -distance * math.cos(elevation) * math.cos(azimuth), distance * math.sin(elevation)])
        K = intrinsics_matrix(width, height, rng.uniform(20, 80))
        w2c = look_at_w2c(eye, np.append(rng.uniform(-1, 1, 2), 0.0))
        horizon = _horizon_row(K, w2c)
        top = max(-0.5, horizon + 5.0)  # keep clear of the horizon, where points run off to infinity
        if top >= height - 0.5:
            continue
        pixels = np.stack([rng.uniform(-0.5, width - 0.5, 200), rng.uniform(top, height - 0.5, 200)], axis=1)
        floor = lift_to_floor(pixels, K, w2c, width, height, max_distance_m=1e6)
        assert np.abs(floor_to_pixels(floor, K, w2c, width, height) - pixels).max() < 0.01
        checked += 1
    assert checked >= 30


def test_lift_errors_name_the_point_and_the_reason():
    width, height = 320, 240
    K = intrinsics_matrix(width, height, 35.0)
    level = look_at_w2c(np.array([0.0, -5.0, 1.5]), np.array([0.0, 0.0, 1.5]))  # looks level: horizon mid-image
    with pytest.raises(FloorPathError, match=r"image point 1 \(160\.0, 20\.0\) px is at or above the horizon"):
        lift_to_floor(np.array([[160.0, 200.0], [160.0, 20.0]]), K, level, width, height)
    with pytest.raises(FloorPathError, match=r"lands \d+ m from the camera .*too close to the horizon"):
        lift_to_floor(np.array([[160.0, 120.2]]), K, level, width, height)
    with pytest.raises(FloorPathError, match=r"image point 0 \(400\.0, 10\.0\) px lies outside the 320x240 image"):
        lift_to_floor(np.array([[400.0, 10.0]]), K, level, width, height)
    below = look_at_w2c(np.array([0.0, -5.0, -1.0]), np.array([0.0, 0.0, 0.0]))
    with pytest.raises(FloorPathError, match=r"camera is at height -1\.000 m, not above the floor"):
        lift_to_floor(np.array([[160.0, 120.0]]), K, below, width, height)
    with pytest.raises(FloorPathError, match=r"point 0 is not finite"):
        lift_to_floor(np.array([[np.nan, 1.0]]), K, level, width, height)
    with pytest.raises(FloorPathError, match=r"shape \(N, 2\)"):
        lift_to_floor(np.zeros((0, 2)), K, level, width, height)


def test_projection_errors_off_the_floor_behind_the_camera_and_out_of_frame():
    camera = default_camera(288, 192, 1)
    K, w2c = camera.K, camera.w2c[0]
    with pytest.raises(FloorPathError, match=r"floor point 1 \(0\.000, 0\.000, 0\.300\) m is not on the floor plane"):
        floor_to_pixels(np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.3]]), K, w2c, 288, 192)
    with pytest.raises(FloorPathError, match=r"floor point 0 \(0\.000, -10\.000, 0\.000\) m is behind the camera"):
        floor_to_pixels(np.array([[0.0, -10.0]]), K, w2c, 288, 192)  # the camera stands at y = -4.7
    with pytest.raises(FloorPathError, match=r"floor point 0 \(5\.000, 0\.000, 0\.000\) m leaves the 288x192 frame"):
        floor_to_pixels(np.array([[5.0, 0.0]]), K, w2c, 288, 192)


def test_user_clip_spec_carries_the_lifted_path_through_the_renderers_spline():
    size = (288, 192)
    clicks = np.array([[60.0, 150.0], [140.0, 90.0], [230.0, 140.0]])
    spec = user_clip_spec("builtin:car", image_points=clicks, preset="draft", num_frames=12, seed=4)
    assert spec.trajectory.name == "spline" and spec.trajectory.num_frames == 12
    control = np.array(spec.trajectory.params["control_points"])
    assert np.abs(project_floor_path(control, size) - clicks).max() < 0.01
    traj = build_trajectory(spec.trajectory)  # starts at the first click, ends at the last, passes the middle
    path_pixels = project_floor_path(traj.path_xy, size)
    assert np.abs(path_pixels[0] - clicks[0]).max() < 0.01 and np.abs(path_pixels[-1] - clicks[-1]).max() < 0.01
    dense = project_floor_path(build_trajectory(spec.trajectory.__class__(**{**spec.trajectory.to_dict(),
                                                                             "num_frames": 2001})).path_xy, size)
    assert np.linalg.norm(dense - clicks[1], axis=1).min() < 0.5
    # floor points give the same spec; a spec round-trips through its dict (as plans store it)
    same = user_clip_spec("builtin:car", floor_points=lift_image_path(clicks, size), preset="draft", num_frames=12,
                          seed=4)
    assert np.allclose(same.trajectory.params["control_points"], control)
    assert spec.trajectory.__class__.from_dict(spec.trajectory.to_dict()) == spec.trajectory
    # points drawn on a larger image of the same aspect lift to the same floor points
    scaled = user_clip_spec("builtin:car", image_points=(clicks + 0.5) * 2 - 0.5, image_size=(576, 384),
                            preset="draft", num_frames=12, seed=4)
    assert np.allclose(scaled.trajectory.params["control_points"], control, atol=1e-9)


def test_user_clip_spec_errors_are_one_line_invalid_spec():
    def error(**kwargs) -> str:
        with pytest.raises(RenderError) as info:
            user_clip_spec("builtin:car", preset="draft", **kwargs)
        assert info.value.code == "invalid_spec" and "\n" not in str(info.value)
        return info.value.message

    assert "exactly one" in error()
    assert "at least two distinct points, got 1 point(s)" in error(image_points=np.array([[100.0, 100.0]]))
    assert "2 point(s) (1 distinct)" in error(image_points=np.array([[100.0, 100.0], [100.0, 100.0]]))
    assert "outside the 288x192 image" in error(image_points=np.array([[10.0, 10.0], [300.0, 10.0]]))
    assert "not on the floor plane (z = 0.2 m" in error(floor_points=np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.2]]))
    assert "leaves the 288x192 frame" in error(floor_points=np.array([[0.0, 0.0], [4.0, 0.0]]))
    assert "behind the camera" in error(floor_points=np.array([[0.0, 0.0], [0.0, -9.0]]))
    assert "camera mode is 'random'" in error(image_points=np.array([[10.0, 100.0], [200.0, 100.0]]),
                                              camera_mode="random")
    # floor points with a random camera are fine: that camera is placed to keep the object in frame
    spec = user_clip_spec("builtin:car", floor_points=np.array([[0.0, 0.0], [4.0, 0.0]]), camera_mode="random")
    assert spec.trajectory.params["control_points"] == [[0.0, 0.0], [4.0, 0.0]]


def test_double_clicks_merge_into_one_control_point():
    assert floor_control_points(np.array([[0.0, 0.0], [0.0, 0.0004], [0.5, 0.0], [0.5, 0.0]])) == [[0.0, 0.0],
                                                                                                  [0.5, 0.0]]
