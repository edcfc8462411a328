"""Rendering real clips with Blender (tiny: 128x96, few samples, few frames)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("bpy", reason="bpy is installed by the 'render' extra, which ./run.sh always installs")

from common.clip_format import is_complete_clip, load_clip  # noqa: E402
from render.errors import RenderError  # noqa: E402
from render.pipeline import render_clip  # noqa: E402
from render.spec import make_clip_spec  # noqa: E402

pytestmark = pytest.mark.blender

TINY = dict(preset="draft", num_frames=8, width=128, height=96, samples=4)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("clips")
    specs = {
        "car": make_clip_spec("builtin:car", "figure_eight", seed=3, **TINY),
        "orbit": make_clip_spec("builtin:boat", "half_circle", seed=1, camera_mode="orbit", pose_mode="bank", **TINY),
    }
    return {name: render_clip(spec, root) for name, spec in specs.items()}


def _independent_projection(annotations):
    """Project the world box corners with K, cam_w2c written out by hand (no project_points)."""
    K, w2c, corners = annotations["K"], annotations["cam_w2c"], annotations["bbox_corners_world"]
    out = np.zeros(corners.shape[:2] + (2,))
    for t in range(corners.shape[0]):
        for k in range(8):
            x_cam = w2c[t, :3, :3] @ corners[t, k] + w2c[t, :3, 3]
            out[t, k, 0] = K[0, 0] * x_cam[0] / x_cam[2] + K[0, 2]
            out[t, k, 1] = K[1, 1] * x_cam[1] / x_cam[2] + K[1, 2]
    return out


@pytest.mark.parametrize("name", ["car", "orbit"])
def test_box_projection_agrees_with_independent_math(clips, name):
    annotations = load_clip(clips[name]).annotations
    # World corners come from obj_to_world and the extents ...
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    local = signs * annotations["bbox_extents"] / 2
    world = np.einsum("tij,kj->tki", annotations["obj_to_world"][:, :3, :3], local) + annotations["obj_to_world"][:, None, :3, 3]
    assert np.abs(world - annotations["bbox_corners_world"]).max() < 1e-9
    # ... and project to the stored 2D corners.
    assert np.abs(_independent_projection(annotations) - annotations["bbox_corners_2d"]).max() < 0.01


@pytest.mark.parametrize("name", ["car", "orbit"])
def test_blender_agrees_with_ground_truth(clips, name):
    check = load_clip(clips[name]).meta["ground_truth"]["blender_check"]
    # Blender's evaluated object and camera poses, and its world_to_camera_view projection of the box
    # corners (shifted to integer pixel centres), all match the stored numbers.
    assert check["object_matrix_max_error"] < 1e-5
    assert check["camera_matrix_max_error"] < 1e-5
    assert check["projection_max_error_px"] < 0.01


def test_world_to_camera_view_in_a_live_scene(tmp_path):
    """Evaluate the rendered scene again in this process and project with bpy_extras directly."""
    import bpy
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector

    clip_dir = render_clip(make_clip_spec("builtin:chair", "line", seed=0, **TINY), tmp_path)
    annotations = load_clip(clip_dir).annotations
    scene = bpy.context.scene
    width, height = scene.render.resolution_x, scene.render.resolution_y
    errors = []
    for t in range(annotations["bbox_corners_world"].shape[0]):
        scene.frame_set(t + 1)
        for corner, expected in zip(annotations["bbox_corners_world"][t], annotations["bbox_corners_2d"][t]):
            ndc = world_to_camera_view(scene, scene.camera, Vector(corner.tolist()))
            errors.append(np.abs([ndc.x * width - 0.5 - expected[0], (1 - ndc.y) * height - 0.5 - expected[1]]).max())
        root = bpy.data.objects["posetraj_object"]
        assert np.abs(np.array(root.matrix_world) - annotations["obj_to_world"][t]).max() < 1e-5
    assert max(errors) < 0.01


def test_box_centre_lies_on_the_mask(clips):
    # The car is solid, so its box centre is inside it (a boat's mast or a chair's legs are not).
    annotations = load_clip(clips["car"]).annotations
    mask = annotations["mask"]
    assert annotations["center_visible"].all()
    for t, (centre, visible) in enumerate(zip(annotations["center_2d"], annotations["center_visible"])):
        if visible:
            col, row = np.rint(centre).astype(int)
            assert mask[t, row, col] == 1, f"frame {t}: box centre {centre} is off the mask"


@pytest.mark.parametrize("name", ["car", "orbit"])
def test_visible_tracks_land_on_the_mask(clips, name):
    annotations = load_clip(clips[name]).annotations
    mask = annotations["mask"]
    assert set(np.unique(mask)) == {0, 1}
    tracks, visible = annotations["tracks_2d"], annotations["tracks_visible"]
    assert 0.2 < visible.mean() < 0.9  # some points face away from the camera
    t_index, n_index = np.nonzero(visible)
    cols, rows = np.rint(tracks[t_index, n_index]).astype(int).T
    assert mask[t_index, rows, cols].mean() >= 0.99


def test_depth_is_planar_and_background_free(clips):
    annotations = load_clip(clips["car"]).annotations
    depth, mask = annotations["depth"], annotations["mask"]
    assert depth.dtype == np.float32 and (depth > 0).all()  # the floor fills the frame
    # The object's points are at their planar camera depth.
    K, w2c = annotations["K"], annotations["cam_w2c"]
    tracks_world = np.einsum("tij,nj->tni", annotations["obj_to_world"][:, :3, :3], annotations["tracks_xyz"]) + \
        annotations["obj_to_world"][:, None, :3, 3]
    z = np.einsum("tj,tnj->tn", w2c[:, 2, :3], tracks_world) + w2c[:, None, 2, 3]
    t_index, n_index = np.nonzero(annotations["tracks_visible"])
    cols, rows = np.rint(annotations["tracks_2d"][t_index, n_index]).astype(int).T
    # Within one pixel's footprint (z / f metres) of the rendered depth at the nearest pixel.
    footprint = z[t_index, n_index] / K[0, 0]
    assert np.median(np.abs(depth[t_index, rows, cols] - z[t_index, n_index]) / footprint) < 1.0
    assert mask.sum() > 0 and K[0, 2] == pytest.approx((128 - 1) / 2)


def test_original_layout_files(clips):
    clip = load_clip(clips["car"])
    traj = np.load(clips["car"] / "traj.npy")
    bbox = np.load(clips["car"] / "bbox.npy")
    assert traj.shape == (8, 2) and bbox.shape == (8, 8, 2)
    assert np.array_equal(traj, clip.annotations["ground_2d"])
    assert np.array_equal(bbox, clip.annotations["bbox_corners_2d"][:, [0, 6, 4, 2, 1, 7, 5, 3]])


def test_meta_records_provenance_and_settings(clips):
    meta = load_clip(clips["orbit"]).meta
    assert meta["schema_version"] == 1
    assert meta["asset"]["source"] == "builtin" and len(meta["asset"]["sha256"]) == 64
    assert meta["asset"]["license"] == "cc0"
    assert meta["trajectory"]["name"] == "half_circle" and meta["trajectory"]["pose_mode"] == "bank"
    assert meta["camera"]["mode"] == "orbit" and meta["camera"]["static"] is False
    assert meta["render"]["engine"] == "CYCLES" and meta["render"]["view_transform"] == "Standard"
    assert meta["render"]["blender_version"].startswith("5.0")
    assert meta["render"]["samples"] == 4 and meta["render"]["device"] == "CPU"
    assert max(meta["normalization"]["extents"]) == pytest.approx(1.0)
    log = (clips["orbit"] / "render.log").read_text()
    assert "Saved:" in log  # Blender's console output went to the clip's log


def test_cycles_settings_reach_the_scene():
    import bpy

    from render.blender.engine import configure_cycles
    from render.spec import RenderSettings

    settings = RenderSettings(width=64, height=48, samples=7, filter_width=0.01, diffuse_bounces=1,
                              denoising_prefilter="ACCURATE", cycles_seed=4, device="CPU")
    assert configure_cycles(settings, num_frames=3, fps=5.0) == "CPU"
    cycles = bpy.context.scene.cycles
    assert cycles.seed == 4
    assert cycles.filter_width == pytest.approx(0.01) and cycles.pixel_filter_type == "BLACKMAN_HARRIS"
    assert (cycles.samples, cycles.diffuse_bounces, cycles.denoising_prefilter) == (7, 1, "ACCURATE")
    with pytest.raises(RenderError, match="filter width"):
        make_clip_spec("builtin:car", "line", filter_width=0.0)
    with pytest.raises(RenderError, match="plate samples"):
        make_clip_spec("builtin:car", "line", plate_samples=-1)


def test_same_spec_and_seed_give_identical_ground_truth(clips, tmp_path):
    spec = make_clip_spec("builtin:car", "figure_eight", seed=3, **TINY)
    again = load_clip(render_clip(spec, tmp_path)).annotations
    first = load_clip(clips["car"]).annotations
    assert set(again) == set(first)
    for key in first:
        assert np.array_equal(first[key], again[key]), key


def _expect_failure(tmp_path, asset, code, **kwargs):
    spec = make_clip_spec(asset, "half_circle", **{**TINY, **kwargs})
    with pytest.raises(RenderError) as info:
        render_clip(spec, tmp_path)
    assert info.value.code == code
    assert not (tmp_path / spec.clip_id).exists()
    assert not [p for p in tmp_path.iterdir() if p.is_dir() and is_complete_clip(p)]
    record = json.loads((tmp_path / "failures" / f"{spec.clip_id}.json").read_text())
    assert record["code"] == code and record["clip_id"] == spec.clip_id and record["schema_version"] == 1
    assert record["host"] and record["failed_at"]
    return info.value


def test_bad_assets_fail_with_reason_codes(tmp_path):
    import trimesh

    from assets_catalog.builtin import builtin_glb_bytes

    truncated = tmp_path / "truncated.glb"
    truncated.write_bytes(builtin_glb_bytes("car")[:500])
    error = _expect_failure(tmp_path / "a", str(truncated), "asset_corrupt")
    assert "truncated.glb" in str(error)

    garbage = tmp_path / "garbage.obj"
    garbage.write_bytes(b"\x00\xff" * 100)
    _expect_failure(tmp_path / "b", str(garbage), "no_mesh")

    unsupported = tmp_path / "model.blend"
    unsupported.write_bytes(b"BLENDER")
    with pytest.raises(RenderError) as info:
        render_clip(make_clip_spec(str(unsupported), "line", **TINY), tmp_path / "c")
    assert info.value.code == "asset_unsupported"

    with pytest.raises(RenderError) as info:
        render_clip(make_clip_spec(str(tmp_path / "missing.glb"), "line", **TINY), tmp_path / "d")
    assert info.value.code == "asset_not_found"

    flat = tmp_path / "plate.glb"
    trimesh.creation.box(extents=(1.0, 0.03, 1.0)).export(flat)  # glTF is Y-up: thin along Blender's z
    error = _expect_failure(tmp_path / "e", str(flat), "flat_object")
    assert "height/width" in str(error)

    gltf_dir = tmp_path / "gltf"
    gltf_dir.mkdir()
    for name, data in trimesh.creation.box().export(file_type="gltf").items():
        if not name.endswith("_1.bin"):  # one of its two buffers is missing
            (gltf_dir / name).write_bytes(data)
    error = _expect_failure(tmp_path / "g", str(gltf_dir / "model.gltf"), "asset_corrupt")
    assert "gltf_buffer_1.bin" in str(error)

    points_only = tmp_path / "points.glb"
    trimesh.Scene([trimesh.PointCloud(np.random.default_rng(0).random((50, 3)))]).export(points_only)
    _expect_failure(tmp_path / "f", str(points_only), "no_mesh")


def test_object_leaving_the_frame_is_rejected(tmp_path):
    _expect_failure(tmp_path, "builtin:car", "out_of_frame", trajectory_overrides={"radius": 6.0})


def test_cli_renders_and_reports_failures(tmp_path):
    listing = subprocess.run([sys.executable, "-m", "posetraj", "render", "--list-trajectories"],
                             capture_output=True, text=True, check=True)
    assert "half_circle" in listing.stdout and "s_curve" in listing.stdout
    builtins = subprocess.run([sys.executable, "-m", "posetraj", "render", "--list-builtins"],
                              capture_output=True, text=True, check=True)
    assert "builtin:car" in builtins.stdout

    ok = subprocess.run(
        [sys.executable, "-m", "posetraj", "render", "--asset", "builtin:plane", "--trajectory", "u_turn",
         "--frames", "4", "--width", "64", "--height", "48", "--samples", "2", "--out", str(tmp_path)],
        capture_output=True, text=True,
    )
    assert ok.returncode == 0, ok.stderr
    clip_dir = Path(ok.stdout.strip().splitlines()[-1])
    assert is_complete_clip(clip_dir)
    assert "Saved:" not in ok.stdout + ok.stderr  # Blender's console noise stays in render.log

    bad = tmp_path / "bad.glb"
    bad.write_bytes(b"glTF" + b"\x00" * 20)
    failed = subprocess.run(
        [sys.executable, "-m", "posetraj", "render", "--asset", str(bad), "--frames", "4", "--width", "64",
         "--height", "48", "--samples", "2", "--out", str(tmp_path)],
        capture_output=True, text=True,
    )
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines()[-1].startswith("error: asset_corrupt:")
    assert "bad.glb" in failed.stderr
