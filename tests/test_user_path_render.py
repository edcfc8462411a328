"""A user path through the renderer (Blender, tiny clips): image points lifted through the default camera and
floor points from the CLI, the dataset plan and Python; the clip's ground contact starts and ends on the drawn
points; a path whose object cannot stay in frame stays an ``out_of_frame`` failure and is never redrawn;
rendered clips join a benchmark suite."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("bpy")

from benchmark.suite import SuiteError, load_suite  # noqa: E402
from benchmark.suite_build import add_clips_to_suite  # noqa: E402
from common.clip_format import load_clip  # noqa: E402
from common.trajectories import Trajectories, rescale, write_trajectory_json  # noqa: E402
from posetraj.commands.main import main  # noqa: E402
from render.dataset import render_dataset  # noqa: E402
from render.user_path import lift_image_path, user_clip_spec  # noqa: E402

pytestmark = pytest.mark.blender

DRAWN_ON = (288, 192)  # the app's example size; the clips render at a third of it
CLICKS = np.array([[110.0, 150.0], [150.0, 110.0], [185.0, 140.0]])
TINY = ["--width", "96", "--height", "64", "--frames", "5", "--samples", "2"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """One clip from image points (CLI), and a plan of the same path as floor points over seeds 0 and 1."""
    root = tmp_path_factory.mktemp("user_path")
    drawn = Trajectories.from_dict({"7": CLICKS}, DRAWN_ON)
    write_trajectory_json(root / "drawn.json", drawn)
    code = main(["render", "--asset", "builtin:car", "--path-image", str(root / "drawn.json"), "--path-image-size",
                 "288x192", *TINY, "--out", str(root / "data")])
    assert code == 0
    (image_clip,) = [p for p in (root / "data").iterdir() if p.is_dir() and p.name.startswith("car_spline")]
    floor = lift_image_path(CLICKS, DRAWN_ON)[:, :2].tolist()
    assert main(["dataset", "plan", "--assets", "builtin:car", "--path-floor", json.dumps(floor), "--seeds", "0-1",
                 *TINY, "--out", str(root / "plan.json")]) == 0
    assert main(["dataset", "render", "--plan", str(root / "plan.json"), "--out", str(root / "data"),
                 "--no-progress"]) == 0
    return root, image_clip, json.loads((root / "plan.json").read_text())


def test_the_clip_starts_and_ends_on_the_drawn_points(clips):
    _, clip_dir, _ = clips
    clip = load_clip(clip_dir)
    ground = clip.arrays("ground_2d")["ground_2d"]
    expected = rescale(Trajectories.from_dict({"0": CLICKS}, DRAWN_ON), clip.size).points[0]
    assert clip.size == (96, 64) and clip.num_frames == 5
    assert np.abs(ground[0] - expected[0]).max() < 0.01 and np.abs(ground[-1] - expected[-1]).max() < 0.01
    trajectory = clip.meta["trajectory"]
    assert trajectory["name"] == "spline"
    assert np.allclose(trajectory["params"]["control_points"], lift_image_path(CLICKS, DRAWN_ON)[:, :2])
    assert clip.meta["fit"]["status"] == "as_requested"


def test_the_plan_carries_the_path_and_renders_the_same_clip(clips):
    root, clip_dir, plan = clips
    assert plan["redraws_out_of_frame"] == 0  # a user path is rendered as given or not at all
    ids = [spec["clip_id"] for spec in plan["clips"]]
    assert ids[0] == clip_dir.name  # floor points in the plan == image points lifted by the CLI
    status = json.loads((root / "data" / "dataset.json").read_text())
    assert sorted(c["clip_id"] for c in status["clips"]) == sorted(ids)
    for spec in plan["clips"]:
        assert np.allclose(spec["trajectory"]["params"]["control_points"], plan["clips"][0]["trajectory"]["params"]
                           ["control_points"])
        assert load_clip(root / "data" / spec["clip_id"]).num_frames == 5


def test_a_path_whose_object_leaves_the_frame_fails_and_is_never_redrawn(clips, tmp_path, capsys):
    edge = lift_image_path(np.array([[4.0, 100.0], [60.0, 100.0]]), DRAWN_ON)[:, :2].tolist()  # the car overhangs
    code = main(["render", "--asset", "builtin:car", "--path-floor", json.dumps(edge), *TINY, "--out",
                 str(tmp_path / "single")])
    err = capsys.readouterr().err
    assert code == 1 and "error: out_of_frame:" in err and "left edge" in err and "given, not drawn" in err
    spec = user_clip_spec("builtin:car", floor_points=np.array(edge), num_frames=5, width=96, height=64, samples=2)
    report = render_dataset([spec], tmp_path / "data", redraws_out_of_frame=3, progress=False)
    assert list(report.failed) == [spec.clip_id] and not report.rendered and not report.redrawn
    assert "out_of_frame" in str(report.failed[spec.clip_id])
    assert report.final[0].trajectory == spec.trajectory  # the path was not replaced by a drawn one
    assert not [p for p in (tmp_path / "data").iterdir() if p.is_dir() and p.name.startswith("car_")]


def test_rendered_clips_join_a_suite(clips, tmp_path):
    root, clip_dir, plan = clips
    other = root / "data" / plan["clips"][1]["clip_id"]
    suite = add_clips_to_suite(tmp_path / "suite", [clip_dir])
    assert [s.id for s in suite.samples] == [clip_dir.name]
    suite = add_clips_to_suite(tmp_path / "suite", [other])
    assert [s.id for s in suite.samples] == [clip_dir.name, other.name]
    assert load_suite(tmp_path / "suite").samples[1].num_frames == 5
    with pytest.raises(SuiteError, match="already has a sample"):
        add_clips_to_suite(tmp_path / "suite", [other])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".suite")]  # no temporary folder left
