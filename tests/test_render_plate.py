"""Static-background plate: the per-frame regions (pure numpy) and plate renders against full renders."""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from render.camera import default_camera, moving_camera, project_points
from render.groundtruth import box_corners_object, transform_points
from render.plate import composite, plan_plate, plate_unavailable_reason
from render.scene import FloorDescription, LightDescription, SceneDescription, WorldDescription
from render.spec import PRESETS, make_clip_spec
from render.trajectories import build_trajectory, object_to_world, sample_trajectory_spec

WIDTH, HEIGHT = 360, 240
FLOOR = FloorDescription("checker", (0.8, 0.8, 0.8), (0.2, 0.2, 0.2), 4.0, 0.5)
WORLD = WorldDescription((0.5, 0.5, 0.5), 0.5)


def _scene(*lights: LightDescription, world: WorldDescription = WORLD) -> SceneDescription:
    return SceneDescription(FLOOR, tuple(lights), world)


def _corners(trajectory: str = "half_circle", frames: int = 8) -> np.ndarray:
    traj = build_trajectory(sample_trajectory_spec(trajectory, 0, num_frames=frames))
    extents = np.array([1.0, 0.5, 0.4])
    return transform_points(object_to_world(traj, extents), box_corners_object(extents))


def _inside(points: np.ndarray, region: np.ndarray) -> bool:
    x0, x1, y0, y1 = region
    return bool(np.all((points[:, 0] >= x0) & (points[:, 0] < x1) & (points[:, 1] >= y0) & (points[:, 1] < y1)))


def test_regions_hold_the_object_its_shadow_and_its_reflection():
    corners = _corners()
    camera = default_camera(WIDTH, HEIGHT, corners.shape[0])
    sun = LightDescription("SUN", 3.0, elevation_deg=40.0, azimuth_deg=60.0, angle_deg=2.0)
    plan = plan_plate(corners, camera, _scene(sun))
    towards = sun.direction()
    for frame, region in enumerate(plan.regions):
        box_px, _ = project_points(camera.K, camera.w2c[frame], corners[frame])
        shadow = corners[frame] - (corners[frame][:, 2] / towards[2])[:, None] * towards
        shadow_px, _ = project_points(camera.K, camera.w2c[frame], shadow)
        mirror_px, _ = project_points(camera.K, camera.w2c[frame], corners[frame] * [1, 1, -1])
        visible = lambda p: p[(p[:, 0] >= 0) & (p[:, 0] < WIDTH) & (p[:, 1] >= 0) & (p[:, 1] < HEIGHT)]  # noqa: E731
        for points in (box_px, shadow_px, mirror_px):
            assert _inside(visible(points), region), (frame, region)
    assert 0.0 < plan.area_fraction(WIDTH, HEIGHT) < 0.6


def test_a_low_sun_widens_the_region_towards_its_shadow():
    corners = _corners()
    camera = default_camera(WIDTH, HEIGHT, corners.shape[0])
    high = plan_plate(corners, camera, _scene(LightDescription("SUN", 3.0, 85.0, 90.0)))
    low = plan_plate(corners, camera, _scene(LightDescription("SUN", 3.0, 20.0, 90.0)))
    # azimuth 90: the light is towards +x, so the shadow falls towards -x (left in the default camera).
    assert np.all(low.regions[:, 0] <= high.regions[:, 0])
    assert low.area_fraction(WIDTH, HEIGHT) > high.area_fraction(WIDTH, HEIGHT)


def test_an_area_light_below_the_object_top_gives_the_whole_image():
    corners = _corners()
    camera = default_camera(WIDTH, HEIGHT, corners.shape[0])
    low_lamp = LightDescription("AREA", 100.0, elevation_deg=2.0, azimuth_deg=0.0, distance_m=3.0, size_m=0.5)
    plan = plan_plate(corners, camera, _scene(low_lamp))
    assert np.all(plan.regions == [0, WIDTH, 0, HEIGHT])
    lamp = replace(low_lamp, elevation_deg=60.0)
    assert plan_plate(corners, camera, _scene(lamp)).area_fraction(WIDTH, HEIGHT) < 1.0


def test_plates_need_a_static_camera_and_no_hdri():
    corners = _corners()
    static = default_camera(WIDTH, HEIGHT, corners.shape[0])
    assert plate_unavailable_reason(static, _scene()) is None
    orbit = moving_camera(np.random.default_rng(0), "orbit", WIDTH, HEIGHT, corners)
    assert "camera moves" in plate_unavailable_reason(orbit, _scene())
    hdri = replace(WORLD, hdri_path="/data/sky.exr")
    assert "HDRI" in plate_unavailable_reason(static, _scene(world=hdri))


def test_composite_takes_regions_from_frames_and_the_rest_from_the_plate():
    plate = np.full((6, 8, 3), 7, dtype=np.uint8)
    frames = np.arange(2 * 6 * 8 * 3, dtype=np.uint8).reshape(2, 6, 8, 3)
    regions = np.array([[1, 4, 2, 5], [0, 8, 0, 6]])
    out = composite(plate, frames, regions)
    assert np.array_equal(out[0, 2:5, 1:4], frames[0, 2:5, 1:4])
    outside = np.ones((6, 8), bool)
    outside[2:5, 1:4] = False
    assert np.all(out[0][outside] == 7)
    assert np.array_equal(out[1], frames[1])
    with pytest.raises(ValueError, match="plate shape"):
        composite(plate[:, :4], frames, regions)


def test_paper_preset_uses_a_plate():
    assert PRESETS["paper"].settings.plate_samples > 0
    assert PRESETS["draft"].settings.plate_samples == 0


# --- with Blender -------------------------------------------------------------------------------------

def _render(spec, root: Path):
    pytest.importorskip("bpy", reason="bpy is installed by the 'render' extra, which ./run.sh always installs")
    from common.clip_format import load_clip
    from render.pipeline import render_clip

    return load_clip(render_clip(spec, root))


@pytest.mark.blender
@pytest.mark.parametrize("seed", [0, 5])
def test_outside_the_regions_the_object_changes_nothing(tmp_path, seed):
    """Same seed and samples, no denoising: a plate clip differs from a full render only by what the
    object does outside its regions (light it blocks or bounces), which must be negligible."""
    base = make_clip_spec("builtin:car", "s_curve", num_frames=3, width=128, height=96, samples=32, seed=seed)
    settings = replace(base.settings, denoise=False)
    full = _render(replace(base, settings=settings, clip_id="full"), tmp_path)
    plated = _render(replace(base, settings=replace(settings, plate_samples=32), clip_id="plate"), tmp_path)
    record = plated.meta["render"]["background_plate"]
    assert record["used"] and record["samples"] == 32 and len(record["regions"]) == 3
    assert plated.meta["timing"]["plate_cpu_s"] > 0
    a, b = full.frames().astype(np.int16), plated.frames().astype(np.int16)
    outside = np.ones(a.shape[:3], bool)
    for frame, (x0, x1, y0, y1) in enumerate(record["regions"]):
        outside[frame, y0:y1, x0:x1] = False
    # Inside, Cycles draws other random numbers for a cropped render: only noise may differ.
    assert np.abs(a - b).max(axis=-1)[~outside].mean() < 3.0
    # Outside, the same paths are traced unless they meet the object: per-pixel noise differs where one
    # does, but no 8x8 block may shift on average (a missed shadow would shift blocks by tens of levels).
    signed = (a - b).mean(axis=-1)
    assert abs(signed[outside].mean()) < 0.25, signed[outside].mean()
    blocks = np.where(outside, signed, np.nan).reshape(3, 12, 8, 16, 8).transpose(0, 1, 3, 2, 4).reshape(3, 12, 16, 64)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # blocks entirely inside a region
        block_means = np.nanmean(blocks, axis=-1)
    assert np.nanmax(np.abs(block_means)) < 2.5, np.nanmax(np.abs(block_means))
    # Ground truth is unchanged: mask and depth come from the same first samples.
    assert np.array_equal(full.annotations["mask"], plated.annotations["mask"])
    assert np.array_equal(full.annotations["depth"], plated.annotations["depth"])


@pytest.mark.blender
def test_a_moving_camera_renders_every_frame_in_full(tmp_path):
    spec = make_clip_spec("builtin:boat", "half_circle", num_frames=3, width=64, height=48, samples=2, seed=1,
                          camera_mode="orbit", plate_samples=8)
    clip = _render(spec, tmp_path)
    record = clip.meta["render"]["background_plate"]
    assert not record["used"] and "camera moves" in record["reason"]
    assert clip.meta["timing"]["plate_cpu_s"] == 0.0
    assert clip.frames().shape == (3, 48, 64, 3)
