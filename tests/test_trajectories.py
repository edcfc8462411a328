"""Trajectory families and pose modes (render/trajectories/): specs, sampling, kinematics."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from render.trajectories import (
    POSE_MODES,
    ROTATIONAL_FAMILIES,
    TRAJECTORY_NAMES,
    TRANSLATION_ONLY,
    TrajectorySpec,
    build_trajectory,
    describe_pose_modes,
    describe_trajectories,
    object_to_world,
    parameter_docs,
    path_length,
    sample_trajectory_spec,
)

def _wrap(angle: np.ndarray) -> np.ndarray:
    return (angle + np.pi) % (2 * np.pi) - np.pi


def _box_corners(extents: np.ndarray) -> np.ndarray:
    return np.array(list(itertools.product(*[(-e / 2, e / 2) for e in extents])))


def test_registry_names_and_descriptions():
    assert TRAJECTORY_NAMES == ("half_circle", "s_curve", "full_circle", "line", "u_turn", "figure_eight",
                                "spiral", "slalom", "spline")
    assert POSE_MODES == ("yaw", "spin", "bank", "pitch", "tumble")
    assert TRANSLATION_ONLY == {"line"}
    assert ROTATIONAL_FAMILIES | TRANSLATION_ONLY == set(TRAJECTORY_NAMES)
    assert not ROTATIONAL_FAMILIES & TRANSLATION_ONLY
    descriptions = describe_trajectories()
    assert tuple(descriptions) == TRAJECTORY_NAMES
    assert all(isinstance(d, str) and d and "\n" not in d for d in descriptions.values())
    assert tuple(describe_pose_modes()) == POSE_MODES
    assert set(parameter_docs("half_circle")) == {"radius", "start_angle"}
    assert set(parameter_docs("bank")) == {"bank_gain", "max_bank"}


@pytest.mark.parametrize("name", TRAJECTORY_NAMES)
@pytest.mark.parametrize("pose_mode", POSE_MODES)
def test_sampling_is_deterministic_and_orthonormal(name, pose_mode):
    a = sample_trajectory_spec(name, 7, pose_mode=pose_mode, speed_profile="ease")
    b = sample_trajectory_spec(name, 7, pose_mode=pose_mode, speed_profile="ease")
    assert a == b and a.to_dict() == b.to_dict()
    ta, tb = build_trajectory(a), build_trajectory(b)
    for field in ("path_xy", "arc_length", "heading", "rotation", "lift", "curvature", "speed"):
        assert np.array_equal(getattr(ta, field), getattr(tb, field)), field
    t = a.num_frames
    assert ta.path_xy.shape == (t, 2) and ta.rotation.shape == (t, 3, 3) and ta.lift.shape == (t,)
    r = ta.rotation
    assert np.allclose(r @ np.swapaxes(r, 1, 2), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(r), 1.0, atol=1e-12)
    assert np.all(np.isfinite(ta.path_xy)) and np.all(ta.lift >= 0)


@pytest.mark.parametrize("name", TRAJECTORY_NAMES)  # every family has a sampled parameter
def test_different_seeds_differ(name):
    specs = [sample_trajectory_spec(name, seed) for seed in range(5)]
    assert len({json.dumps(s.params, sort_keys=True) for s in specs}) == 5
    paths = [build_trajectory(s).path_xy for s in specs]
    assert not np.allclose(paths[0], paths[1])


@pytest.mark.parametrize("name", TRAJECTORY_NAMES)
def test_constant_speed_gives_equal_spacing(name):
    spec = sample_trajectory_spec(name, 3, num_frames=1 + 31 * 40)
    traj = build_trajectory(spec)
    steps = np.linalg.norm(np.diff(traj.path_xy, axis=0), axis=1)  # chords ~ arc at this density
    assert steps.max() - steps.min() <= 1e-4 * traj.length
    assert abs(steps.sum() - traj.length) <= 1e-4
    assert np.allclose(np.diff(traj.arc_length), traj.length / (spec.num_frames - 1))
    assert np.allclose(traj.speed, traj.length / spec.duration)
    # The default 32-frame clip hits every 40th point of the dense one.
    coarse = build_trajectory(sample_trajectory_spec(name, 3))
    assert np.allclose(coarse.path_xy, traj.path_xy[::40], atol=1e-7)


@pytest.mark.parametrize("name", TRAJECTORY_NAMES)
def test_ease_is_slower_at_both_ends(name):
    traj = build_trajectory(sample_trajectory_spec(name, 4, speed_profile="ease"))
    steps = np.diff(traj.arc_length)
    middle = steps[len(steps) // 2]
    assert steps[0] < 0.2 * middle and steps[-1] < 0.2 * middle
    assert np.all(steps > 0)
    assert np.allclose(steps, steps[::-1])
    assert traj.arc_length[0] == 0 and math.isclose(traj.arc_length[-1], path_length(traj.spec))
    assert traj.speed[0] == 0 and traj.speed[-1] == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize("name", TRAJECTORY_NAMES)
@pytest.mark.parametrize("speed_profile", ["constant", "ease"])
def test_heading_follows_tangent(name, speed_profile):
    traj = build_trajectory(sample_trajectory_spec(name, 5, num_frames=2001, speed_profile=speed_profile))
    d = traj.path_xy[2:] - traj.path_xy[:-2]
    tangent = np.arctan2(d[:, 1], d[:, 0])
    assert np.abs(_wrap(traj.heading[1:-1] - tangent)).max() < 3e-3  # chord vs tangent at junctions
    assert np.abs(np.diff(traj.heading)).max() < 0.2  # unwrapped: no 2π jumps
    x_axis = traj.rotation[:, :, 0]
    assert np.allclose(x_axis, np.stack([np.cos(traj.heading), np.sin(traj.heading), 0 * traj.heading], 1),
                       atol=1e-12)
    assert np.allclose(traj.rotation[:, :, 2], [0, 0, 1])


def _posetraj_default_view(points: np.ndarray) -> np.ndarray:
    """Pixels of world points in the PoseTraj-10k camera: (0, -4.7, 2.3), tilted 67°, fx = 1000 at 720x480."""
    tilt = math.radians(67.0)
    rows = np.array([[1, 0, 0], [0, -math.cos(tilt), -math.sin(tilt)], [0, math.sin(tilt), -math.cos(tilt)]])
    cam = (points - np.array([0.0, -4.7, 2.3])) @ rows.T
    assert np.all(cam[..., 2] > 0)
    return 1000.0 * cam[..., :2] / cam[..., 2:] + np.array([359.5, 239.5])


@pytest.mark.parametrize("name", TRAJECTORY_NAMES)
def test_default_extent_stays_in_view(name):
    extents = np.array([1.0, 0.6, 0.5])
    corners = _box_corners(extents)
    for seed in range(20):
        traj = build_trajectory(sample_trajectory_spec(name, seed))
        radius = np.linalg.norm(traj.path_xy, axis=1).max()
        ground = _posetraj_default_view(np.c_[traj.path_xy, traj.lift])
        assert np.all((ground >= -0.5) & (ground <= [719.5, 479.5])), (name, seed)
        if name == "s_curve":  # the original geometry reaches 1.47 m towards the camera side
            assert radius <= 1.47 + 1e-9
            continue
        assert radius <= 1.1 + 1e-9, (name, seed)
        m = object_to_world(traj, extents)
        pixels = _posetraj_default_view(np.einsum("tij,kj->tki", m[:, :3, :3], corners) + m[:, None, :3, 3])
        assert np.all((pixels >= -0.5) & (pixels <= [719.5, 479.5])), (name, seed)


@pytest.mark.parametrize("name,expected", [
    ("half_circle", lambda p: math.pi * p["radius"]),
    ("full_circle", lambda p: 2 * math.pi * p["radius"]),
    ("s_curve", lambda p: 2 * math.pi * p["radius"]),
    ("line", lambda p: p["length"]),
    ("u_turn", lambda p: 2 * p["leg_length"] + math.pi * p["radius"]),
])
def test_arc_length_matches_closed_form(name, expected):
    for seed in range(3):
        spec = sample_trajectory_spec(name, seed)
        assert abs(build_trajectory(spec).length - expected(spec.params)) < 1e-6


def test_spiral_arc_length_matches_quadrature():
    spec = sample_trajectory_spec("spiral", 2)
    p = spec.params
    b = (p["outer_radius"] - p["inner_radius"]) / (2 * math.pi * p["turns"])
    phi = np.linspace(0.0, 2 * math.pi * p["turns"], 2_000_001)
    integrand = np.sqrt((p["inner_radius"] + b * phi) ** 2 + b * b)
    exact = float(np.sum((integrand[1:] + integrand[:-1]) / 2 * np.diff(phi)))
    assert abs(build_trajectory(spec).length - exact) < 1e-6


def test_half_circle_geometry():
    spec = sample_trajectory_spec("half_circle", 11)
    traj = build_trajectory(spec)
    a = spec.params["start_angle"]
    assert spec.params["radius"] == 1.1
    assert np.allclose(np.linalg.norm(traj.path_xy, axis=1), 1.1, atol=1e-9)
    polar = np.unwrap(np.arctan2(traj.path_xy[:, 1], traj.path_xy[:, 0]))
    polar += a - polar[0]
    assert np.allclose(polar, a + np.linspace(0.0, math.pi, 32), atol=1e-7)  # CCW, π total, even steps
    assert np.allclose(_wrap(traj.heading - polar - math.pi / 2), 0, atol=1e-7)


def test_s_curve_matches_original_geometry():
    spec = sample_trajectory_spec("s_curve", 12, num_frames=33)
    traj = build_trajectory(spec)
    a = spec.params["start_angle"]
    e = np.array([math.cos(a), math.sin(a)])
    xy = traj.path_xy
    assert spec.params["radius"] == 0.49
    assert np.allclose(xy[0], 0.49 * e, atol=1e-9)
    assert np.allclose(xy[16], -0.49 * e, atol=1e-7)  # junction at half the length
    assert np.allclose(xy[-1], -1.47 * e, atol=1e-9)
    assert np.allclose(np.linalg.norm(xy[:17], axis=1), 0.49, atol=1e-9)
    assert np.allclose(np.linalg.norm(xy[16:] + 0.98 * e, axis=1), 0.49, atol=1e-9)
    # first half CCW (left turns), second half CW (right turns), G1 at the junction
    assert np.all(traj.curvature[:15] > 0) and np.all(traj.curvature[18:] < 0)
    assert np.allclose(np.abs(traj.curvature[[0, 8, 24, 32]]), 1 / 0.49, rtol=1e-5)
    steps = np.linalg.norm(np.diff(xy, axis=0), axis=1)
    assert steps.min() > 0.95 * steps.max()  # no zero-length junction segment
    assert np.abs(np.diff(traj.heading)).max() < 0.2


def test_start_angle_is_uniform_radians():
    angles = np.array([sample_trajectory_spec("half_circle", s).params["start_angle"] for s in range(400)])
    assert np.all((angles >= 0) & (angles < 2 * math.pi))
    assert angles.min() < 0.1 and angles.max() > 2 * math.pi - 0.1
    assert np.all(angles != np.round(angles))  # not integer degrees used as radians
    counts = np.histogram(angles, bins=4, range=(0, 2 * math.pi))[0]
    assert counts.min() > 60


def test_line_is_translation_only():
    spec = sample_trajectory_spec("line", 5)
    traj = build_trajectory(spec)
    assert np.allclose(_wrap(traj.heading - spec.params["orientation"]), 0, atol=1e-12)
    assert np.ptp(traj.heading) < 1e-12
    assert np.allclose(traj.curvature, 0, atol=1e-8)
    assert np.allclose(traj.rotation, traj.rotation[0])
    assert np.allclose(traj.path_xy[0] + traj.path_xy[-1], 0, atol=1e-12)  # centred on the origin
    assert math.isclose(np.linalg.norm(traj.path_xy[-1] - traj.path_xy[0]), spec.params["length"])


@pytest.mark.parametrize("direction", [1, -1])
def test_bank_leans_into_the_turn(direction):
    spec = sample_trajectory_spec("full_circle", 1, pose_mode="bank",
                                  overrides={"direction": direction, "max_bank": 1.0, "bank_gain": 0.5})
    traj = build_trajectory(spec)
    left = np.stack([-np.sin(traj.heading), np.cos(traj.heading)], 1)
    up = traj.rotation[:, :, 2]
    tilt = np.einsum("ij,ij->i", up[:, :2], left)  # > 0: top leans to the object's left
    assert np.all(np.sign(tilt) == direction)
    expected = min(0.5 * traj.speed[0] ** 2 / spec.params["radius"], 1.0)
    assert np.allclose(np.arcsin(np.abs(tilt)), expected, atol=1e-6)
    assert np.allclose(traj.rotation[:, :, 0], np.stack([np.cos(traj.heading), np.sin(traj.heading),
                                                         0 * traj.heading], 1), atol=1e-12)


def test_bank_is_clipped_and_zero_on_straights():
    spec = sample_trajectory_spec("u_turn", 2, pose_mode="bank", num_frames=200,
                                  overrides={"bank_gain": 100.0, "max_bank": 0.3})
    traj = build_trajectory(spec)
    roll = np.arcsin(np.clip(-traj.rotation[:, 2, 1], -1, 1))  # lean towards +Y
    straight = np.abs(traj.curvature) < 1e-6
    assert straight.sum() > 50 and np.allclose(roll[straight], 0, atol=1e-8)
    turning = np.abs(traj.curvature) > 1
    assert np.allclose(np.abs(roll[turning]), 0.3)
    line = build_trajectory(sample_trajectory_spec("line", 2, pose_mode="bank"))
    yaw = build_trajectory(sample_trajectory_spec("line", 2))
    assert np.allclose(line.rotation, yaw.rotation, atol=1e-8)


def test_pitch_follows_bump_slope():
    spec = sample_trajectory_spec("half_circle", 3, pose_mode="pitch", num_frames=801,
                                  overrides={"bump_height": 0.25, "bump_center": 0.5, "bump_width": 0.4})
    traj = build_trajectory(spec)
    assert np.all(traj.lift >= 0)
    assert traj.lift.max() == pytest.approx(0.25, abs=1e-12)  # frame 400 is the top
    assert traj.lift[0] == 0 and traj.lift[-1] == 0
    inside = np.abs(traj.arc_length - 0.5 * traj.length) < 0.2 * traj.length
    assert inside.sum() > 300 and np.all(traj.lift[~inside] == 0)
    pitch = np.arcsin(traj.rotation[:, 2, 0])  # nose (+X) elevation
    assert np.abs(pitch - np.arctan(np.gradient(traj.lift, traj.arc_length))).max() < 5e-3
    width = 0.4 * traj.length
    phase = 2 * math.pi * (traj.arc_length - 0.5 * traj.length) / width
    slope = np.where(np.abs(phase) < math.pi, -math.pi * 0.25 / width * np.sin(phase), 0.0)
    assert np.allclose(pitch, np.arctan(slope), atol=1e-12)
    assert np.allclose(traj.lift, np.where(np.abs(phase) < math.pi, 0.125 * (1 + np.cos(phase)), 0), atol=1e-12)
    assert pitch[300] > 0.1 and pitch[500] < -0.1  # nose up climbing, down descending
    heading_dir = np.stack([np.cos(traj.heading), np.sin(traj.heading)], 1)
    assert np.allclose(np.einsum("ij,ij->i", traj.rotation[:, :2, 0], heading_dir), np.cos(pitch))
    assert np.allclose(traj.rotation[:, 2, 1], 0, atol=1e-12)  # no roll


def test_sampled_pitch_bump_is_not_too_steep():
    for seed in range(10):
        traj = build_trajectory(sample_trajectory_spec("line", seed, pose_mode="pitch"))
        p = traj.spec.pose_params
        assert math.pi * p["bump_height"] / (p["bump_width"] * traj.length) <= math.tan(math.radians(30)) + 1e-12


def test_spin_total_angle():
    spec = sample_trajectory_spec("half_circle", 0, pose_mode="spin", overrides={"spin_angle": -3.5 * math.pi})
    traj = build_trajectory(spec)
    yaw = np.unwrap(np.arctan2(traj.rotation[:, 1, 0], traj.rotation[:, 0, 0]))
    extra = yaw - traj.heading
    extra -= extra[0]
    assert extra[-1] == pytest.approx(-3.5 * math.pi, abs=1e-9)
    assert np.allclose(np.diff(extra), -3.5 * math.pi / 31)
    assert np.allclose(traj.rotation[:, :, 2], [0, 0, 1])
    assert sample_trajectory_spec("line", 0, pose_mode="spin").pose_params["spin_angle"] != 0


@pytest.mark.parametrize("speed_profile", ["constant", "ease"])
def test_tumble_total_angle_about_horizontal_axis(speed_profile):
    spec = sample_trajectory_spec("s_curve", 4, pose_mode="tumble", speed_profile=speed_profile,
                                  overrides={"tumble_angle": 1.5 * math.pi, "tumble_axis": 0.7})
    traj = build_trajectory(spec)
    c, s = np.cos(traj.heading), np.sin(traj.heading)
    unyaw = np.zeros((len(c), 3, 3))
    unyaw[:, 0, 0], unyaw[:, 0, 1], unyaw[:, 1, 0], unyaw[:, 1, 1], unyaw[:, 2, 2] = c, s, -s, c, 1
    relative = unyaw @ traj.rotation  # heading-frame tumble rotation
    axis = np.array([math.cos(0.7), math.sin(0.7), 0.0])
    assert np.allclose(relative @ axis, axis, atol=1e-12)  # the horizontal axis is fixed
    step = np.einsum("tij,tik->tjk", relative[:-1], relative[1:])
    angles = np.arccos(np.clip((np.trace(step, axis1=1, axis2=2) - 1) / 2, -1, 1))
    assert angles.sum() == pytest.approx(1.5 * math.pi, abs=1e-9)
    assert np.allclose(relative[0], np.eye(3))


@pytest.mark.parametrize("pose_mode", POSE_MODES)
def test_object_to_world_rests_box_on_floor(pose_mode):
    spec = sample_trajectory_spec("figure_eight", 6, pose_mode=pose_mode)
    traj = build_trajectory(spec)
    extents = np.array([1.0, 0.45, 0.3])
    m = object_to_world(traj, extents)
    assert m.shape == (spec.num_frames, 4, 4)
    assert np.array_equal(m[:, 3], np.tile([0, 0, 0, 1.0], (spec.num_frames, 1)))
    corners = _box_corners(extents)
    world = np.einsum("tij,kj->tki", m[:, :3, :3], corners) + m[:, None, :3, 3]
    assert np.allclose(world[:, :, 2].min(axis=1), traj.lift, atol=1e-12)
    assert np.allclose(m[:, :2, 3], traj.path_xy)
    if pose_mode == "yaw":
        assert np.allclose(m[:, 2, 3], 0.15)


def test_overrides_and_pose_mode_keep_other_draws():
    base = sample_trajectory_spec("u_turn", 9)
    fixed = sample_trajectory_spec("u_turn", 9, overrides={"radius": 0.45})
    assert fixed.params["radius"] == 0.45
    assert {k: v for k, v in fixed.params.items() if k != "radius"} == \
           {k: v for k, v in base.params.items() if k != "radius"}
    tumble = sample_trajectory_spec("u_turn", 9, pose_mode="tumble")
    assert tumble.params == base.params and base.pose_params == {}
    spline = sample_trajectory_spec("spline", 1, overrides={"control_points": [[0, 0], [1, 0.5], [1.2, 1]]})
    assert spline.params["control_points"] == [[0.0, 0.0], [1.0, 0.5], [1.2, 1.0]]
    traj = build_trajectory(spline)
    assert np.allclose(traj.path_xy[[0, -1]], [[0, 0], [1.2, 1]], atol=1e-12)


def test_spline_passes_through_control_points():
    spec = sample_trajectory_spec("spline", 8, num_frames=4001)
    traj = build_trajectory(spec)
    points = np.array(spec.params["control_points"])
    assert 4 <= len(points) <= 6
    distance = np.linalg.norm(traj.path_xy[:, None] - points[None], axis=2).min(axis=0)
    assert distance.max() < 2e-3  # frames are ~1 mm apart
    assert np.abs(traj.curvature).max() <= 1 / 0.15 + 1e-6


def test_spec_defaults_and_round_trip():
    default = TrajectorySpec()
    assert default.params == {"radius": 1.1, "start_angle": 0.0}
    assert default.num_frames == 32 and default.fps == 5.0 and default.pose_mode == "yaw"
    for name, mode in [("spline", "pitch"), ("spiral", "tumble"), ("slalom", "bank"), ("u_turn", "spin")]:
        spec = sample_trajectory_spec(name, 13, num_frames=40, fps=np.float32(8.0), pose_mode=mode,
                                      speed_profile="ease")
        text = json.dumps(spec.to_dict())
        again = TrajectorySpec.from_dict(json.loads(text))
        assert again == spec
        assert np.array_equal(build_trajectory(again).rotation, build_trajectory(spec).rotation)
    numpy_params = TrajectorySpec("full_circle", {"radius": np.float64(1.0), "direction": np.int64(-1)})
    json.dumps(numpy_params.to_dict())
    assert type(numpy_params.params["direction"]) is int


def test_trajectory_arrays_are_read_only():
    traj = build_trajectory(TrajectorySpec())
    with pytest.raises(ValueError):
        traj.path_xy[0, 0] = 1.0


@pytest.mark.parametrize("call,field", [
    (lambda: sample_trajectory_spec("zigzag", 0), "zigzag"),
    (lambda: sample_trajectory_spec("line", 0, pose_mode="wobble"), "wobble"),
    (lambda: sample_trajectory_spec("line", 0, overrides={"radius": 1.0}), "radius"),
    (lambda: sample_trajectory_spec("line", -1), "seed"),
    (lambda: sample_trajectory_spec("line", 0, num_frames=1), "num_frames"),
    (lambda: sample_trajectory_spec("line", 0, fps=0), "fps"),
    (lambda: sample_trajectory_spec("line", 0, speed_profile="fast"), "speed_profile"),
    (lambda: TrajectorySpec("half_circle", {"radius": -1.0}), "radius"),
    (lambda: TrajectorySpec("half_circle", {"start_angle": float("nan")}), "start_angle"),
    (lambda: TrajectorySpec("half_circle", {"start_angle": "0"}), "start_angle"),
    (lambda: TrajectorySpec("full_circle", {"direction": 2}), "direction"),
    (lambda: TrajectorySpec("spiral", {"inner_radius": 1.0, "outer_radius": 0.5}), "outer_radius"),
    (lambda: TrajectorySpec("spline", {"control_points": [[0, 0], [0, 0], [1, 1]]}), "control_points"),
    (lambda: TrajectorySpec("spline", {"control_points": [[0, 0, 0]]}), "control_points"),
    (lambda: TrajectorySpec(num_frames=2.5), "num_frames"),
    (lambda: TrajectorySpec(fps=float("inf")), "fps"),
    (lambda: TrajectorySpec(pose_mode="pitch", pose_params={"bump_width": 0.0}), "bump_width"),
    (lambda: TrajectorySpec(pose_mode="bank", pose_params={"max_bank": 2.0}), "max_bank"),
    (lambda: TrajectorySpec(pose_mode="yaw", pose_params={"spin_angle": 1.0}), "spin_angle"),
    (lambda: TrajectorySpec.from_dict({"name": "line", "frames": 3}), "frames"),
    (lambda: object_to_world(build_trajectory(TrajectorySpec()), [1.0, -1.0, 1.0]), "extents"),
    (lambda: object_to_world(build_trajectory(TrajectorySpec()), [1.0, 1.0]), "extents"),
])
def test_bad_input_names_the_field(call, field):
    with pytest.raises(ValueError, match=field):
        call()


def test_unknown_name_lists_choices():
    with pytest.raises(ValueError) as info:
        sample_trajectory_spec("zigzag", 0)
    assert all(name in str(info.value) for name in TRAJECTORY_NAMES)
    with pytest.raises(ValueError) as info:
        TrajectorySpec("line", {"radius": 1.0})
    assert "length" in str(info.value) and "orientation" in str(info.value)
