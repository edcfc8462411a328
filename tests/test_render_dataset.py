"""Rendering several clips into one dataset folder, and user-provided scene resources."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("bpy", reason="bpy is installed by the 'render' extra, which ./run.sh always installs")

from common.clip_format import is_complete_clip, load_clip  # noqa: E402
from render.dataset import plan_builtin_dataset, render_dataset  # noqa: E402
from render.errors import RenderError  # noqa: E402
from render.pipeline import render_clip  # noqa: E402
from render.spec import SceneOptions, make_clip_spec  # noqa: E402

pytestmark = pytest.mark.blender

TINY = dict(num_frames=4, width=64, height=48, samples=2)


def test_dataset_redraws_out_of_frame_paths_and_resumes(tmp_path):
    # An S curve whose box leaves the default camera's frame (the original geometry reaches 1.47 m).
    leaving = make_clip_spec("builtin:car", "s_curve", seed=3, num_frames=8, width=128, height=96, samples=2)
    with pytest.raises(RenderError, match="out_of_frame"):
        render_clip(leaving, tmp_path / "single", fit=None)
    specs = [leaving, *plan_builtin_dataset(["boat"], ["line"], seeds=[0], **TINY)]
    report = render_dataset(specs, tmp_path / "data", redraws_out_of_frame=5, progress=False)
    assert not report.failed and len(report.rendered) == 2
    manifest = json.loads((tmp_path / "data" / "dataset.json").read_text())
    assert manifest["schema_version"] == 1
    assert [c["status"] for c in manifest["clips"]] == ["ok", "ok"]
    redrawn = load_clip(tmp_path / "data" / manifest["clips"][0]["clip_id"])
    assert redrawn.meta["trajectory"]["name"] == "s_curve"
    assert redrawn.meta["trajectory"]["params"] != leaving.trajectory.params

    again = render_dataset(specs, tmp_path / "data", redraws_out_of_frame=5, progress=False)
    assert again.rendered == [] and sorted(again.skipped) == sorted(report.rendered)


def test_failures_are_listed_in_the_manifest(tmp_path):
    specs = [make_clip_spec(str(tmp_path / "missing.glb"), "line", **TINY)]
    report = render_dataset(specs, tmp_path / "data", progress=False)
    assert list(report.failed) == [specs[0].clip_id]
    manifest = json.loads((tmp_path / "data" / "dataset.json").read_text())
    assert manifest["clips"][0]["status"] == "failed" and "asset_not_found" in manifest["clips"][0]["error"]
    assert not is_complete_clip(tmp_path / "data" / specs[0].clip_id)


def test_user_floor_texture_and_hdri(tmp_path):
    import OpenEXR
    from PIL import Image

    stripes = np.zeros((32, 32, 3), np.uint8)
    stripes[:, ::8] = (255, 0, 0)
    Image.fromarray(stripes).save(tmp_path / "floor.png")
    sky = np.zeros((16, 32, 3), np.float32)
    sky[..., 2] = 2.0  # a blue environment
    OpenEXR.File({"type": OpenEXR.scanlineimage}, {"RGB": sky}).write(str(tmp_path / "sky.exr"))
    spec = make_clip_spec(
        "builtin:chair", "line", **TINY,
        scene=SceneOptions(floor_texture=str(tmp_path / "floor.png"), hdri=str(tmp_path / "sky.exr")),
    )
    clip = load_clip(render_clip(spec, tmp_path / "out"))
    assert clip.meta["scene"]["floor"]["kind"] == "image"
    assert clip.meta["scene"]["world"]["hdri_path"].endswith("sky.exr")
    frame = clip.frames()[0].astype(float)
    background = clip.annotations["mask"][0] == 0
    # The floor shows the red stripes, lit by the blue sky.
    assert frame[background][:, 0].max() > 60
    assert frame[background][:, 2].mean() > frame[background][:, 1].mean()

    bad = make_clip_spec("builtin:chair", "line", **TINY, scene=SceneOptions(hdri=str(tmp_path / "nope.exr")))
    with pytest.raises(RenderError, match="invalid_spec.*nope.exr"):
        render_clip(bad, tmp_path / "bad")


def test_an_object_too_large_for_every_redraw_gets_its_path_scaled(tmp_path):
    """A drawn trajectory that no redraw keeps in frame (a big object on the 1.1 m half circle) is rendered
    by the dataset driver with its path scaled down, under the planned clip id (issue 17)."""
    from asset_files import unit_cube_glb

    cube = unit_cube_glb(tmp_path / "cube.glb")
    spec = make_clip_spec(str(cube), "half_circle", seed=0, num_frames=4, width=288, height=192, samples=1,
                          num_track_points=32)
    with pytest.raises(RenderError, match="out_of_frame"):
        render_clip(spec, tmp_path / "exact", fit=None)
    report = render_dataset([spec], tmp_path / "data", redraws_out_of_frame=2, progress=False)
    assert not report.failed and report.final[0].clip_id == spec.clip_id
    clip = load_clip(tmp_path / "data" / spec.clip_id)
    assert clip.meta["fit"]["status"] == "path_scaled" and 0.05 <= clip.meta["fit"]["path_scale"] < 1.0
    assert report.redrawn == {spec.clip_id: 3}
