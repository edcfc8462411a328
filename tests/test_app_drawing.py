"""The app's drawing, generation and render-mode logic without a browser: clicks to trajectories, smoothing,
frame counts, JSON import / export, the image forms of the baselines, adapter errors, suites."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from common.trajectories import read_trajectory_json, write_trajectory_json
from posetraj.app.generation import AppError, ModelChoice, PipelineCache, generate
from posetraj.app.render_mode import RenderRequest, drawn_floor_points, render_drawing, render_size
from posetraj.app.strokes import Drawing, DrawingError, Stroke, preview, resample_by_arc_length, spline_path

SIZE = (288, 192)


def _drawing(*strokes) -> Drawing:
    drawing = Drawing(size=SIZE)
    for index, stroke in enumerate(strokes):
        if index:
            drawing = drawing.new_stroke()
        for x, y in stroke:
            drawing = drawing.add_point(x, y)
    return drawing


def test_clicks_undo_clear_and_new_trajectories():
    drawing = _drawing([(10, 20), (100, 20)], [(50, 150), (60, 100), (200, 90)])
    assert [len(s.points) for s in drawing.strokes] == [2, 3]
    assert drawing.describe().splitlines() == ["1: (10, 20) → (100, 20)", "2: (50, 150) → (60, 100) → (200, 90)"]
    assert drawing.new_stroke().new_stroke().strokes[-1] == Stroke()  # a second "new" starts nothing more
    assert len(drawing.new_stroke().strokes) == 3
    assert drawing.new_stroke().undo() == drawing  # undo cancels a just-started trajectory
    undone = drawing.undo()
    assert undone.strokes[-1].points == ((50.0, 150.0), (60.0, 100.0))
    assert len(undone.undo().undo().strokes) == 1  # the second trajectory's last point removes it
    assert drawing.clear().strokes == () and Drawing().undo() == Drawing()
    with pytest.raises(DrawingError, match=r"point \(300, 10\) is outside the 288x192 image"):
        drawing.add_point(300, 10)
    with pytest.raises(DrawingError, match="open an image first"):
        Drawing().add_point(1, 1)


@pytest.mark.parametrize("smooth", [False, True])
def test_trajectories_have_the_frames_asked_for_at_equal_arc_length(smooth):
    clicks = [(20.0, 170.0), (140.0, 40.0), (260.0, 170.0)]
    traj = _drawing(clicks, [(5.0, 5.0), (5.0, 100.0)]).trajectories(num_frames=17, smooth=smooth)
    assert traj.points.shape == (2, 17, 2) and traj.size == SIZE and traj.ids == ("1", "2") and traj.visible.all()
    first = traj.points[0]
    assert np.allclose(first[0], clicks[0]) and np.allclose(first[-1], clicks[-1])
    steps = np.linalg.norm(np.diff(first, axis=0), axis=1)
    if not smooth:  # on the polyline, equal steps along the path, and the middle click is the middle frame
        assert np.allclose(first[8], clicks[1]) and np.allclose(steps, steps.mean(), rtol=0.02)
    else:  # the spline passes through the middle click and bends smoothly (no corner in the steps)
        dense = spline_path(np.array(clicks))
        assert np.linalg.norm(dense - clicks[1], axis=1).min() < 1e-9
        assert np.allclose(steps, steps.mean(), rtol=0.05)
        def largest_turn(points: np.ndarray) -> float:
            return float(np.abs(np.diff(np.arctan2(np.diff(points[:, 1]), np.diff(points[:, 0])))).max())

        corner = largest_turn(_drawing(clicks).trajectories(17, smooth=False).points[0])
        assert corner > 1.5 and largest_turn(first) < 0.5 * corner  # the polyline turns 1.65 rad at one frame
    assert np.allclose(traj.points[1][:, 0], 5.0) and np.allclose(traj.points[1][[0, -1], 1], [5.0, 100.0])


def test_bad_drawings_say_what_to_do():
    with pytest.raises(DrawingError, match="trajectory 1 has one point: click at least two points"):
        _drawing([(10, 10)]).trajectories(8)
    with pytest.raises(DrawingError, match="trajectory 2 has one distinct point"):
        _drawing([(10, 10), (30, 30)], [(50, 50), (50.2, 50.1)]).trajectories(8)
    with pytest.raises(DrawingError, match="draw a trajectory first"):
        Drawing(size=SIZE).trajectories(8)
    with pytest.raises(DrawingError, match="at least 2"):
        _drawing([(10, 10), (30, 30)]).trajectories(1)


def test_json_export_import_round_trip_keeps_the_timing(tmp_path):
    traj = _drawing([(20, 170), (140, 40), (260, 170)], [(5, 5), (5, 100)]).trajectories(12, smooth=True)
    path = write_trajectory_json(tmp_path / "drawn.json", traj)
    imported = Drawing.from_trajectories(read_trajectory_json(path, SIZE, outliers="keep"))
    assert all(s.timed for s in imported.strokes) and "[from file]" in imported.describe()
    again = imported.trajectories(12)
    assert np.abs(again.points - traj.points).max() < 1e-9
    stretched = imported.trajectories(23)  # other frame counts: resampled in time, same ends
    assert stretched.num_frames == 23 and np.allclose(stretched.points[:, [0, -1]], traj.points[:, [0, -1]])
    # a point added to an imported trajectory makes it a clicked one again
    assert not imported.add_point(100, 100).strokes[-1].timed


def test_preview_draws_each_trajectory_in_its_colour():
    image = np.full((SIZE[1], SIZE[0], 3), 128, np.uint8)
    drawing = _drawing([(20, 100), (260, 100)], [(100, 20), (100, 180)])
    shown = preview(image, drawing, 8, smooth=False)
    assert shown.shape == image.shape and shown.dtype == np.uint8
    assert not np.array_equal(shown[100, 60], image[100, 60]) and not np.array_equal(shown[60, 100], image[60, 100])
    assert not np.array_equal(shown[100, 60], shown[60, 100])  # two colours
    assert np.array_equal(shown[10, 200], image[10, 200])  # away from the strokes, untouched
    assert np.allclose(resample_by_arc_length(np.array([[0.0, 0.0], [10.0, 0.0]]), 3), [[0, 0], [5, 0], [10, 0]])


def test_baseline_adapters_generate_for_any_image(tmp_path):
    image = np.random.default_rng(0).integers(0, 255, (SIZE[1], SIZE[0], 3), dtype=np.uint8)
    traj = _drawing([(60, 100), (120, 80)]).trajectories(6)
    result = generate(image, traj, 6, ModelChoice(kind="adapter", adapter="translate"), _settings(), tmp_path / "t",
                      PipelineCache())
    from common.video import read_video

    video = read_video(result.video)
    assert video.shape == (6, SIZE[1], SIZE[0], 3) and result.num_frames == 6
    assert read_video(result.overlay).shape == video.shape
    assert np.abs(read_trajectory_json(result.trajectories, SIZE).points - traj.points).max() < 1e-9
    # the dragged patch moved: around the start, frame 5 differs from frame 0; far away it does not
    assert np.abs(video[5, 95:105, 55:65].astype(int) - video[0, 95:105, 55:65]).mean() > 10
    assert np.abs(video[5, 10:20, 250:260].astype(int) - video[0, 10:20, 250:260]).mean() < 4
    static = generate(image, traj, 6, ModelChoice(kind="adapter", adapter="static"), _settings(), tmp_path / "s",
                      PipelineCache())
    assert read_video(static.video).shape == (6, SIZE[1], SIZE[0], 3)


def _settings():
    from posetraj.inference import GenerationSettings

    return GenerationSettings(width=64, height=64, num_inference_steps=2)


@pytest.mark.parametrize("choice, message", [
    (ModelChoice(kind="posetraj", svd=""), "PoseTraj needs local SVD weights"),
    (ModelChoice(kind="posetraj", svd="/nonexistent/svd"), "missing weights: the SVD folder /nonexistent/svd does not exist"),
    (ModelChoice(kind="adapter", adapter="app_models:raising"),
     "model 'app_models:raising' raised RuntimeError: this model always fails"),
    (ModelChoice(kind="adapter", adapter="app_models:short"), "generated video has 5 frames, expected 6"),
    (ModelChoice(kind="adapter", adapter="oracle"), "baseline 'oracle' needs a benchmark sample's ground truth"),
    (ModelChoice(kind="adapter", adapter="no_such_module:f"), "cannot import module 'no_such_module'"),
    (ModelChoice(kind="adapter", adapter="nonsense"), "unknown model 'nonsense'"),
])
def test_generation_failures_are_one_line_messages(choice, message, tmp_path):
    image = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    traj = _drawing([(60, 100), (120, 80)]).trajectories(6)
    with pytest.raises(AppError) as info:
        generate(image, traj, 6, choice, _settings(), tmp_path, PipelineCache())
    assert message in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "video.mp4").exists()


def test_render_mode_checks_before_starting_blender(tmp_path):
    assert render_size((288, 192), 128) == (128, 86) and render_size((100, 300), 64) == (64, 192)
    floor = drawn_floor_points(_drawing([(100, 150), (200, 150)]))
    assert floor.shape == (2, 3) and np.all(floor[:, 2] == 0)
    with pytest.raises(AppError, match="draw a trajectory first"):
        drawn_floor_points(Drawing(size=SIZE))
    with pytest.raises(AppError, match="at least two distinct points, got 1"):
        render_drawing(_drawing([(100, 150)]), RenderRequest(), tmp_path / "clips", tmp_path / "run")
    with pytest.raises(AppError, match="unknown built-in asset 'nope'"):
        render_drawing(_drawing([(100, 150), (200, 150)]), RenderRequest(asset="builtin:nope"), tmp_path / "clips",
                       tmp_path / "run")
    with pytest.raises(AppError, match="asset file not found"):
        render_drawing(_drawing([(100, 150), (200, 150)]), RenderRequest(asset=str(tmp_path / "none.glb")),
                       tmp_path / "clips", tmp_path / "run")
    assert not (tmp_path / "clips").exists()  # refused before any render started


def test_importing_posetraj_does_not_import_gradio():
    code = ("import sys, posetraj, posetraj.app, posetraj.app.strokes, posetraj.app.generation, "
            "posetraj.app.render_mode, posetraj.app.examples, posetraj.commands.main; "
            "print(sorted(m for m in ('gradio', 'torch', 'bpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
