"""Without Blender: mesh files checked before import, trajectories fitted to the object and the camera,
path scaling, and the spec and failure-record details of issue 17."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import asset_files
from gltf_builder import GltfBuilder
from assets_catalog.files import AssetFileError, gltf_document
from assets_catalog.validate import AssetValidationError, validate_mesh_file
from render.camera import frame_overshoot, project_points
from render.errors import RenderError
from render.fitting import FitPolicy, frame_clip, is_drawn
from render.spec import default_clip_id, make_clip_spec
from render.trajectories import TRAJECTORY_NAMES, build_trajectory, scale_path
from render.trajectories.families import FAMILY_LIST
from render.trajectories.pose_modes import POSE_MODE_REGISTRY

CUBE = np.ones(3)  # the box of a unit cube, and of a sphere, after normalisation
SLAB = np.array([1.0, 1.0, 0.5])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    return asset_files.make_corpus(tmp_path_factory.mktemp("files"), draco=False)


# ------------------------------------------------------------------ checks before import


@pytest.mark.parametrize("name, code, match", [
    ("nan_obj", "asset_corrupt", "1 of 8 vertices of mesh"),
    ("nan_ply", "asset_corrupt", "are not finite (NaN or infinity), first: vertex 3"),
    ("point_cloud", "no_mesh", "holds a point cloud (200 points) and no triangles"),
    ("gltf_points", "no_mesh", "holds a point cloud (8 points) and no triangles"),
    ("zero_area", "no_mesh", "all 2 triangles have zero area"),
    ("bad_index_glb", "asset_corrupt", "face 4 of mesh"),
    ("bad_index_obj", "asset_corrupt", "a face index is out of range"),
])
def test_broken_files_are_refused_with_one_line(corpus, name, code, match):
    with pytest.raises(AssetValidationError) as info:
        validate_mesh_file(corpus[name])
    assert info.value.code == code and match in info.value.message
    assert str(corpus[name]) in info.value.message and "\n" not in info.value.message


def test_good_files_pass_and_say_what_they_hold(corpus):
    report = validate_mesh_file(corpus["camera_light"])
    assert report.checked and report.triangles == 24 and report.format == "glb"
    assert report.gltf["cameras"] == 1 and report.gltf["lights"] == 1 and report.gltf["scenes"] == 1
    skinned = validate_mesh_file(corpus["skinned"]).gltf
    assert skinned["skins"] == 1 and skinned["animations"] == 1
    scenes = validate_mesh_file(corpus["two_scenes"]).gltf
    assert scenes["scenes"] == 2 and scenes["default_scene"] == 1
    alpha = validate_mesh_file(corpus["alpha_emissive"]).gltf
    assert alpha["blended_materials"] == 1 and alpha["emissive_materials"] == 1
    assert "KHR_materials_emissive_strength" in alpha["extensions_used"]
    for name in ("sphere", "unit_cube", "millimetres", "kilometres", "far_origin", "mirrored", "nested"):
        assert validate_mesh_file(corpus[name]).checked, name


def test_files_without_a_reader_are_left_to_blender(tmp_path):
    fbx = tmp_path / "model.fbx"
    fbx.write_bytes(b"Kaydara FBX Binary  \x00")
    report = validate_mesh_file(fbx)
    assert not report.checked and "no reader for .fbx" in report.note


def test_glb_header_problems_are_named(tmp_path):
    truncated = tmp_path / "cut.glb"
    truncated.write_bytes(GltfBuilder().glb_bytes()[:30])
    with pytest.raises(AssetFileError, match="truncated GLB"):
        gltf_document(truncated)
    version = tmp_path / "v1.glb"
    version.write_bytes(b"glTF" + (1).to_bytes(4, "little") + b"\x00" * 12)
    with pytest.raises(AssetValidationError, match="GLB version 1"):
        validate_mesh_file(version)


# ------------------------------------------------------------------ fitting to the frame


def _fits(spec, extents) -> bool:
    try:
        frame_clip(spec, build_trajectory(spec.trajectory), extents, None)
        return True
    except RenderError:
        return False


@pytest.mark.parametrize("size", [(288, 192), (64, 48)])
def test_cube_and_sphere_fit_on_every_family_and_camera(size):
    """32-frame clips of every family, 4 seeds, default and random camera: each fits, many only after fitting."""
    statuses = []
    for extents in (CUBE, SLAB):
        for name in TRAJECTORY_NAMES:
            for seed in range(4):
                for camera in ("default", "random"):
                    spec = make_clip_spec("x.glb", name, seed=seed, width=size[0], height=size[1], camera_mode=camera)
                    framed = frame_clip(spec, build_trajectory(spec.trajectory), extents, FitPolicy())
                    pixels, depth = project_points(framed.camera.K, framed.camera.w2c, framed.corners_world)
                    assert frame_overshoot(pixels, depth, *size).max() == 0.0
                    assert framed.spec.clip_id == spec.clip_id
                    statuses.append(framed.record["status"])
    assert statuses.count("as_requested") > 0
    assert statuses.count("path_scaled") > 0 and statuses.count("redrawn") > 0


def test_fitting_redraws_like_the_dataset_then_scales():
    from render.dataset import redraw_trajectory

    # A cube on the 1.1 m half circle leaves the default 288x192 frame for every start angle: scaled.
    spec = make_clip_spec("cube.glb", "half_circle", seed=0)
    assert is_drawn(spec) and not _fits(spec, CUBE)
    framed = frame_clip(spec, build_trajectory(spec.trajectory), CUBE, FitPolicy())
    record = framed.record
    assert record["status"] == "path_scaled" and 0.5 < record["path_scale"] < 1.0
    assert record["requested_trajectory"] == spec.trajectory.to_dict()
    assert framed.spec.trajectory == scale_path(spec.trajectory, record["path_scale"])
    assert framed.spec.trajectory.params["radius"] == pytest.approx(1.1 * record["path_scale"])
    # A slightly larger path no longer fits (the search keeps the largest factor within 1/64 of its step).
    assert not _fits(replace(spec, trajectory=scale_path(spec.trajectory, record["path_scale"] + 0.01)), CUBE)
    assert frame_clip(spec, build_trajectory(spec.trajectory), CUBE, FitPolicy()).record == record  # deterministic
    # A slab on an S curve: a redraw with the dataset's derived seed fits.
    redrawn = None
    for seed in range(40):
        spec = make_clip_spec("slab.glb", "s_curve", seed=seed)
        framed = frame_clip(spec, build_trajectory(spec.trajectory), SLAB, FitPolicy())
        if framed.record["status"] == "redrawn":
            redrawn = (spec, framed)
            break
    assert redrawn is not None
    spec, framed = redrawn
    assert framed.spec.trajectory == redraw_trajectory(spec, framed.record["redraw_attempt"]).trajectory
    with pytest.raises(RenderError, match="out_of_frame: .*; 0 redraws did not keep it in frame either"):
        frame_clip(spec, build_trajectory(spec.trajectory), SLAB, FitPolicy(max_redraws=0, scale_path=False))


def test_given_paths_are_never_changed_and_say_how_far_out():
    spec = make_clip_spec("builtin:car", "half_circle", trajectory_overrides={"radius": 2.4})
    assert not is_drawn(spec)
    trajectory = build_trajectory(spec.trajectory)
    with pytest.raises(RenderError) as info:
        frame_clip(spec, trajectory, np.array([1.0, 0.5, 0.3]), FitPolicy())
    message = info.value.message
    assert info.value.code == "out_of_frame" and "given, not drawn from the seed" in message
    # The distance named is the largest overshoot of a box corner.
    from render.camera import default_camera
    from render.groundtruth import box_corners_object, transform_points
    from render.trajectories import object_to_world

    corners = transform_points(object_to_world(trajectory, np.array([1.0, 0.5, 0.3])),
                               box_corners_object(np.array([1.0, 0.5, 0.3])))
    camera = default_camera(288, 192, 32)
    worst = frame_overshoot(*project_points(camera.K, camera.w2c, corners), 288, 192).max()
    assert f"by up to {worst:.1f} px past the" in message


def test_scale_path_scales_every_length_and_nothing_else():
    for family in FAMILY_LIST:  # a parameter in metres is a length, and only those
        for param in family.params:
            assert param.length == ("metres" in param.doc), (family.name, param.name)
    for mode in POSE_MODE_REGISTRY.values():
        for param in mode.params:
            assert param.length == ("metres" in param.doc), (mode.name, param.name)
    for name in TRAJECTORY_NAMES:
        spec = make_clip_spec("x.glb", name, seed=5, pose_mode="pitch").trajectory
        small = scale_path(spec, 0.4)
        a, b = build_trajectory(spec), build_trajectory(small)
        assert np.allclose(b.path_xy, 0.4 * a.path_xy) and np.allclose(b.lift, 0.4 * a.lift)
        assert np.allclose(b.rotation, a.rotation) and np.allclose(b.heading, a.heading)
    with pytest.raises(ValueError, match="path scale"):
        scale_path(spec, 0.0)


# ------------------------------------------------------------------ spec and records


def test_asset_frame_is_checked_and_leaves_rest_pose_ids_unchanged():
    spec = make_clip_spec("builtin:car", "figure_eight", seed=3, num_frames=4, width=96, height=64, samples=2)
    assert spec.clip_id == "car_figure_eight_s3_23294240"  # the id this clip had before asset_frame existed
    assert spec.clip_id == default_clip_id(spec)
    framed = make_clip_spec("builtin:car", "figure_eight", seed=3, num_frames=4, width=96, height=64, samples=2,
                            asset_frame=12)
    assert framed.clip_id != spec.clip_id and framed.asset_frame == 12
    for bad in (-1, 1.5, True):
        with pytest.raises(RenderError, match="invalid_spec: asset frame"):
            make_clip_spec("builtin:car", "line", asset_frame=bad)


def test_request_clip_id_names_failures_without_a_spec(tmp_path):
    from render.failures import record_failure, request_clip_id

    assert request_clip_id("/data/My Model.glb", "half_circle", 7) == "My-Model_half_circle_s7_invalid"
    assert request_clip_id("builtin:car", "line", 0) == "car_line_s0_invalid"
    path = record_failure(tmp_path, request_clip_id("builtin:car", "line", 0), "builtin:car",
                          RenderError("invalid_spec", "image size 63x48 must be even"))
    assert json.loads(path.read_text())["code"] == "invalid_spec"
