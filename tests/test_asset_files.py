"""Real-world asset files through the renderer (tiny clips): each renders a clip that passes the clip checks
(box projections to 0.01 px, visible tracks on the mask) or fails with its one-line error and a failure
record, leaving no partial clip. The files are made by tests/asset_files.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("bpy", reason="bpy is installed by the 'render' extra, which ./run.sh always installs")

import asset_files  # noqa: E402
from common.clip_format import is_complete_clip, load_clip  # noqa: E402
from render.errors import RenderError  # noqa: E402
from render.fitting import FitPolicy  # noqa: E402
from render.pipeline import render_clip  # noqa: E402
from render.spec import make_clip_spec  # noqa: E402

pytestmark = pytest.mark.blender

TINY = dict(num_frames=3, width=64, height=48, samples=1, num_track_points=64)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    return asset_files.make_corpus(tmp_path_factory.mktemp("corpus"))


def _projection(annotations: dict, points_object: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T,N,2) pixels and (T,N) camera depth of object-frame points, written out by hand."""
    obj_to_world, w2c, K = annotations["obj_to_world"], annotations["cam_w2c"], annotations["K"]
    world = np.einsum("tij,nj->tni", obj_to_world[:, :3, :3], points_object) + obj_to_world[:, None, :3, 3]
    cam = np.einsum("tij,tnj->tni", w2c[:, :3, :3], world) + w2c[:, None, :3, 3]
    return np.stack([K[0, 0] * cam[..., 0] / cam[..., 2] + K[0, 2], K[1, 1] * cam[..., 1] / cam[..., 2] + K[1, 2]],
                    axis=-1), cam[..., 2]


def check_clip(clip_dir: Path):
    """The clip checks: complete, box corners projected to 0.01 px (by hand and by Blender), visible
    tracks on the mask, the object in every frame's mask."""
    assert is_complete_clip(clip_dir)
    clip = load_clip(clip_dir)
    annotations = clip.annotations
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    corners_2d, _ = _projection(annotations, signs * annotations["bbox_extents"] / 2)
    assert np.abs(corners_2d - annotations["bbox_corners_2d"]).max() < 0.01
    assert clip.meta["ground_truth"]["blender_check"]["projection_max_error_px"] < 0.01
    mask = annotations["mask"]
    assert (mask.reshape(len(mask), -1).sum(axis=1) > 0).all()
    # Visible tracks land on the mask; at these tiny sizes, within one pixel of it (a point where the object
    # touches the floor has the floor's depth in the pixel next to the silhouette).
    padded = np.pad(mask > 0, ((0, 0), (1, 1), (1, 1)))
    near_mask = np.zeros_like(mask, dtype=bool)
    for dr in range(3):
        for dc in range(3):
            near_mask |= padded[:, dr:dr + mask.shape[1], dc:dc + mask.shape[2]]
    t_index, n_index = np.nonzero(annotations["tracks_visible"])
    if len(t_index):
        cols, rows = np.rint(annotations["tracks_2d"][t_index, n_index]).astype(int).T
        assert near_mask[t_index, rows, cols].mean() >= 0.99
        assert mask[t_index, rows, cols].mean() >= 0.85
    return clip


def render_ok(path: Path, out: Path, trajectory: str = "half_circle", **options):
    spec = make_clip_spec(str(path), trajectory, **{**TINY, **options})
    return check_clip(render_clip(spec, out, fit=FitPolicy()))


def expect_failure(path: Path, out: Path, code: str, match: str):
    spec = make_clip_spec(str(path), "half_circle", **TINY)
    with pytest.raises(RenderError) as info:
        render_clip(spec, out, fit=FitPolicy())
    error = info.value
    assert error.code == code and match in str(error) and Path(path).name in str(error)
    assert "\n" not in str(error)
    assert not (out / spec.clip_id).exists()
    assert not [p for p in out.iterdir() if p.name != "failures" and p.name != ".assets"]  # no work or temp dirs
    record = json.loads((out / "failures" / f"{spec.clip_id}.json").read_text())
    assert record["code"] == code and match in record["message"]
    return error


def test_gltf_with_camera_light_and_empty_renders(corpus, tmp_path):
    clip = render_ok(corpus["camera_light"], tmp_path)
    record = clip.meta["asset_import"]
    assert record["objects_in_file"] == {"camera": 1, "empty": 1, "light": 1, "mesh": 1}
    assert record["mesh_parts"] == 1 and record["triangles"] == 24
    # The camera and the light (6 m and 4 m away) do not enter the object's box.
    vertices, _ = asset_files.reference_mesh()
    raw = vertices.max(axis=0) - vertices.min(axis=0)
    assert np.allclose(clip.meta["normalization"]["extents"], raw / raw.max(), atol=1e-6)


def test_skinned_and_animated_files_freeze_at_rest_or_at_a_frame(corpus, tmp_path):
    rest = render_ok(corpus["skinned"], tmp_path)
    assert np.allclose(rest.meta["normalization"]["extents"], asset_files.BAR_REST_EXTENTS, atol=1e-5)
    assert rest.meta["asset_import"]["pose"] == "rest" and rest.meta["asset_import"]["armatures"] == 1
    assert rest.meta["spec"].get("asset_frame") is None
    bent = render_ok(corpus["skinned"], tmp_path, asset_frame=24)
    assert np.allclose(bent.meta["normalization"]["extents"], asset_files.BAR_BENT_EXTENTS, atol=1e-3)
    assert bent.meta["asset_import"]["pose"] == "frame" and bent.meta["asset_import"]["frame"] == 24
    assert bent.meta["spec"]["asset_frame"] == 24
    # A node animation: the rest pose keeps the node's static transform (x = 2), frame 0 the animation's (x = 5).
    still = render_ok(corpus["node_animation"], tmp_path)
    assert still.meta["asset_import"]["static_transforms_restored"] == 1
    assert np.allclose(still.meta["normalization"]["extents"], [1.0, 1 / 3, 1 / 3], atol=1e-5)
    moved = render_ok(corpus["node_animation"], tmp_path, asset_frame=0)
    assert np.allclose(moved.meta["normalization"]["extents"], [1.0, 1 / 6, 1 / 6], atol=1e-5)


def test_only_the_default_scene_is_rendered(corpus, tmp_path):
    clip = render_ok(corpus["two_scenes"], tmp_path)
    record = clip.meta["asset_import"]
    assert record["objects_left_out"] == 2 and record["mesh_parts"] == 1  # the other scene's box, the orphan
    assert clip.meta["normalization"]["scale"] == pytest.approx(1.0)  # the reference object is 1 m long


def test_nested_instanced_nodes_keep_their_transforms(corpus, tmp_path):
    path, world = asset_files.nested_instances_glb(tmp_path / "nested.glb")
    clip = render_ok(path, tmp_path / "out")
    lower, upper = world.min(axis=0), world.max(axis=0)
    assert clip.meta["normalization"]["scale"] == pytest.approx(1.0 / (upper - lower).max(), rel=1e-6)
    assert np.allclose(clip.meta["normalization"]["offset"], (lower + upper) / 2, atol=1e-6)
    assert clip.meta["asset_import"]["mesh_parts"] == 4 and clip.meta["asset_import"]["triangles"] == 48


def test_draco_compressed_gltf_is_decoded(corpus, tmp_path):
    clip = render_ok(corpus["draco"], tmp_path)
    precheck = clip.meta["asset_import"]["precheck"]
    assert precheck["checked"] is False and "KHR_draco_mesh_compression" in precheck["note"]
    reference = render_ok(corpus["reference"], tmp_path)
    assert np.allclose(clip.meta["normalization"]["extents"], reference.meta["normalization"]["extents"], atol=2e-3)


def test_alpha_blended_part_is_seen_through_and_emissive_part_glows(corpus, tmp_path):
    clip = render_ok(corpus["alpha_emissive"], tmp_path, num_frames=4, width=96, height=64, samples=4)
    meta, annotations = clip.meta, clip.annotations
    assert meta["ground_truth"]["mask_alpha_threshold"] == 0.5
    assert meta["asset_import"]["precheck"]["gltf"]["blended_materials"] == 1
    scale, offset = meta["normalization"]["scale"], np.array(meta["normalization"]["offset"])
    centres = {name: (np.array(centre) - offset) * scale for name, (_, centre) in asset_files.ALPHA_PARTS.items()}
    pixels, depth = _projection(annotations, np.stack(list(centres.values())))
    mask, rendered_depth, frames = annotations["mask"], annotations["depth"], clip.frames()
    body, wing, lamp = (np.rint(pixels[:, i]).astype(int) for i in range(3))
    frame_index = np.arange(len(mask))
    # The opaque body is in the mask in every frame (also behind the see-through wing) ...
    assert (mask[frame_index, body[:, 1], body[:, 0]] == 1).all()
    # ... the alpha 0.1 wing is not: where its centre shows, the mask is off and depth is the floor's.
    seen_through = mask[frame_index, wing[:, 1], wing[:, 0]] == 0
    assert seen_through.sum() >= 2
    assert (rendered_depth[frame_index, wing[:, 1], wing[:, 0]][seen_through] > depth[seen_through, 1] + 0.2).all()
    # No tracked point on the wing is ever visible; points on the body are.
    on_wing = annotations["tracks_xyz"][:, 0] / scale + offset[0] > 0.05
    assert on_wing.any() and not annotations["tracks_visible"][:, on_wing].any()
    assert annotations["tracks_visible"][:, ~on_wing].any()
    # The emissive lamp is in the mask and glows red.
    lamp_rgb = frames[frame_index, lamp[:, 1], lamp[:, 0]].astype(int)
    assert (mask[frame_index, lamp[:, 1], lamp[:, 0]] == 1).all()
    assert (lamp_rgb[:, 0] > 200).all() and (lamp_rgb[:, 0] - lamp_rgb[:, 1] > 100).all()


@pytest.mark.parametrize("size", [(288, 192), (64, 48)])
def test_unit_cube_and_sphere_get_a_clip_at_the_default_size_and_at_64x48(corpus, tmp_path, size):
    width, height = size
    for name in ("unit_cube", "sphere"):
        spec = make_clip_spec(str(corpus[name]), "half_circle", num_frames=8, width=width, height=height, samples=1,
                              num_track_points=64)
        if name == "unit_cube" and size == (288, 192):
            with pytest.raises(RenderError, match="out_of_frame: .* by up to .* px past the"):
                render_clip(spec, tmp_path / "exact", fit=None)  # the spec exactly as drawn leaves the frame ...
        clip = check_clip(render_clip(spec, tmp_path / "fitted"))  # ... fitted (the default), it renders
        assert clip.meta["spec"]["clip_id"] == spec.clip_id
        fit = clip.meta["fit"]
        assert fit["policy"] == {"max_redraws": 8, "scale_path": True, "min_path_scale": 0.05}
        if fit["status"] != "as_requested":
            assert fit["requested_trajectory"] == spec.trajectory.to_dict()
            assert clip.meta["trajectory"] != spec.trajectory.to_dict()


def test_units_far_origins_and_mirrors_normalise_to_the_same_framing(corpus, tmp_path):
    import bpy

    reference = render_ok(corpus["reference"], tmp_path)
    ref_ann = reference.annotations
    for name in ("millimetres", "kilometres", "far_origin", "mirrored"):
        clip = render_ok(corpus[name], tmp_path)
        assert np.allclose(clip.meta["normalization"]["extents"], reference.meta["normalization"]["extents"],
                           atol=1e-6), name
        assert np.abs(clip.annotations["bbox_corners_2d"] - ref_ann["bbox_corners_2d"]).max() < 1e-3, name
        both = (clip.annotations["mask"] > 0) & (ref_ann["mask"] > 0)
        either = (clip.annotations["mask"] > 0) | (ref_ann["mask"] > 0)
        assert both.sum() / either.sum() > 0.97, name
    # The mirrored file's faces were wound outward again: the closed mesh's signed volume is positive.
    assert clip.meta["asset_import"]["mirrored_parts"] == 1
    mesh = next(obj for obj in bpy.context.scene.objects if obj.type == "MESH" and obj.pass_index == 1).data
    mesh.calc_loop_triangles()
    co = np.array([v.co[:] for v in mesh.vertices])
    tri = co[np.array([t.vertices[:] for t in mesh.loop_triangles])]
    volume = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0
    raw_volume = sum(np.prod(extents) for extents, _ in asset_files.REFERENCE_PARTS)
    assert volume == pytest.approx(raw_volume * clip.meta["normalization"]["scale"] ** 3, rel=1e-4)


@pytest.mark.parametrize("name, code, match", [
    ("nan_obj", "asset_corrupt", "not finite (NaN or infinity)"),
    ("nan_ply", "asset_corrupt", "not finite (NaN or infinity)"),
    ("point_cloud", "no_mesh", "a point cloud (200 points)"),
    ("gltf_points", "no_mesh", "a point cloud (8 points)"),
    ("zero_area", "no_mesh", "triangles have zero area"),
    ("bad_index_glb", "asset_corrupt", "refers to vertex 40, but the mesh has 8 vertices"),
    ("bad_index_obj", "asset_corrupt", "face index is out of range"),
])
def test_broken_files_fail_before_blender_with_one_line(corpus, tmp_path, name, code, match):
    expect_failure(corpus[name], tmp_path, code, match)


def test_user_given_path_that_cannot_fit_names_how_far(tmp_path):
    spec = make_clip_spec("builtin:car", "half_circle", trajectory_overrides={"radius": 2.4}, **TINY)
    with pytest.raises(RenderError) as info:
        render_clip(spec, tmp_path, fit=FitPolicy())
    assert info.value.code == "out_of_frame"
    assert "px past the" in str(info.value) and "given, not drawn" in str(info.value)
    assert json.loads((tmp_path / "failures" / f"{spec.clip_id}.json").read_text())["code"] == "out_of_frame"


def test_unexpected_errors_and_missing_blender_are_recorded(tmp_path, monkeypatch):
    import render.blender.clip_stage as clip_stage

    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero in a fitting bug")

    monkeypatch.setattr(clip_stage, "frame_clip", broken)
    spec = make_clip_spec("builtin:car", "line", **TINY)
    with pytest.raises(RenderError) as info:
        render_clip(spec, tmp_path)
    assert info.value.code == "internal_error" and "ZeroDivisionError" in str(info.value)
    record = json.loads((tmp_path / "failures" / f"{spec.clip_id}.json").read_text())
    assert record["code"] == "internal_error" and "Traceback" in record["log_tail"]
    assert not is_complete_clip(tmp_path / spec.clip_id)

    monkeypatch.setitem(sys.modules, "render.blender.clip_stage", None)  # "import" now raises ImportError
    other = make_clip_spec("builtin:boat", "line", **TINY)
    with pytest.raises(RenderError, match="blender_missing"):
        render_clip(other, tmp_path / "nobpy")
    assert json.loads((tmp_path / "nobpy" / "failures" / f"{other.clip_id}.json").read_text())["code"] == "blender_missing"


def test_cli_fits_a_cube_and_records_bad_options(corpus, tmp_path):
    base = [sys.executable, "-m", "posetraj", "render", "--asset", str(corpus["unit_cube"]), "--frames", "8",
            "--samples", "1", "--track-points", "32", "--out", str(tmp_path)]
    ok = subprocess.run(base + ["--width", "288", "--height", "192"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    clip = check_clip(Path(ok.stdout.strip().splitlines()[-1]))
    assert clip.meta["fit"]["status"] in ("redrawn", "path_scaled")
    assert "note: the drawn trajectory left the frame" in ok.stderr
    exact = subprocess.run(base + ["--width", "288", "--height", "192", "--no-fit", "--overwrite"],
                           capture_output=True, text=True)
    assert exact.returncode == 1 and exact.stderr.strip().splitlines()[-1].startswith("error: out_of_frame: ")
    bad = subprocess.run(base + ["--width", "63", "--height", "48"], capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.strip().splitlines()[-1].startswith("error: invalid_spec: ")
    record = json.loads((tmp_path / "failures" / "unit_cube_half_circle_s0_invalid.json").read_text())
    assert record["code"] == "invalid_spec" and "63x48" in record["message"]
