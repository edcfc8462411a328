"""The two shared contracts (docs/architecture.md): one clip reader and one trajectory type, read the same
way by every consumer."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from benchmark.models import callable_model
from benchmark.suite_build import build_folder_suite
from common.clip_format import ClipFormatError, load_clip, write_clip
from common.drawing import draw_trajectory_overlay
from common.trajectories import (
    Trajectories,
    TrajectoryFormatError,
    apply_outlier_policy,
    load_trajectories,
    outlier_points,
    read_trajectory_json,
    rescale,
)

# real CoTracker files with diverged tracks, ids that are not in numeric order, and clean ones
REAL_FILES = ("691_Licrf2MwB-k", "0_wHveSGjXyDY", "1004_Qa0lNfaU4Bc", "1008_cjuVdt1f04I", "1011_lq2REad-o0Y")
REAL_SIZE = (1280, 720)


def _grey(path, size):
    Image.fromarray(np.full((size[1], size[0], 3), 128, np.uint8)).save(path)


def test_real_trajectory_files_read_identically_through_every_entry_point(tmp_path, shared_data):
    """`posetraj generate`'s loader, the benchmark's suite (what every model is given) and the adapter's
    input all produce the same ids, points and visibility from the same real file."""
    from posetraj.adapters import as_trajectories

    src = tmp_path / "src"
    src.mkdir()
    for name in REAL_FILES:
        shutil.copy(shared_data / "vipseg_cotracker_tracks" / f"{name}.json", src)
        _grey(src / f"{name}.png", REAL_SIZE)
    num_frames = 6
    suite = build_folder_suite(src, tmp_path / "suite", kind="real", num_frames=num_frames)
    assert len(suite.samples) == len(REAL_FILES)
    received = {}

    def capture(image, trajectories, frames, fps):
        received["dict"] = trajectories
        return np.zeros((frames, image.shape[0], image.shape[1], 3), np.uint8)

    model = callable_model(capture, "capture")
    saw_drop = False
    for sample in suite.samples:
        generate_view = load_trajectories(src / f"{sample.id}.json", native_size=REAL_SIZE)  # posetraj generate
        suite_view = sample.trajectories  # the benchmark
        model.generate_for(sample)
        adapter_view = as_trajectories(received["dict"], REAL_SIZE)  # posetraj.adapters.generate
        for view in (suite_view, adapter_view):
            assert view.ids == generate_view.ids
            np.testing.assert_array_equal(view.points, generate_view.points[:, :num_frames])
            np.testing.assert_array_equal(view.visible, generate_view.visible[:, :num_frames])
        assert tuple(sample.record["dropped_trajectories"]) == generate_view.dropped
        saw_drop |= bool(generate_view.dropped)
        raw = json.loads((src / f"{sample.id}.json").read_text())
        assert set(generate_view.ids) | set(generate_view.dropped) == set(raw)
    assert saw_drop, "the chosen real files include diverged tracker output"


def test_outlier_rule_is_one_rule_before_and_after_resizing(shared_data):
    traj = read_trajectory_json(shared_data / "vipseg_cotracker_tracks" / "691_Licrf2MwB-k.json", REAL_SIZE,
                                outliers="keep")
    before = outlier_points(traj.points, traj.size)
    for size in ((576, 320), (64, 64), (2000, 300)):
        after = outlier_points(rescale(traj, size).points, size)
        assert np.array_equal(before, after), size
    dropped = apply_outlier_policy(traj, "drop")
    assert set(dropped.dropped) == {i for i, bad in zip(traj.ids, before.any(axis=1)) if bad}
    hidden = apply_outlier_policy(traj, "hide")
    assert not (hidden.visible & before).any() and (hidden.visible | before).all()


def test_trajectory_type_checks_its_arrays():
    with pytest.raises(TrajectoryFormatError, match=r"\(N, T, 2\)"):
        Trajectories(np.zeros((3, 4)), np.ones((3, 4), bool), (10, 10))
    with pytest.raises(TrajectoryFormatError, match="visibility"):
        Trajectories(np.zeros((3, 4, 2)), np.ones((4, 3), bool), (10, 10))
    with pytest.raises(TrajectoryFormatError, match="2 ids for 3"):
        Trajectories(np.zeros((3, 4, 2)), np.ones((3, 4), bool), (10, 10), ids=("a", "b"))
    with pytest.raises(TrajectoryFormatError, match="different lengths"):
        Trajectories.from_dict({"a": np.zeros((3, 2)), "b": np.zeros((4, 2))}, (10, 10))
    traj = Trajectories.from_array(np.array([[1.0, 2.0], [np.nan, 3.0]]), (10, 10))
    assert traj.points.shape == (1, 2, 2) and traj.visible.tolist() == [[True, False]]


def test_overlay_resizes_with_the_shared_rule():
    traj = Trajectories.from_dict({"a": [[0.0, 0.0], [9.0, 9.0]]}, (10, 10))
    frames = draw_trajectory_overlay(np.zeros((2, 20, 20, 3), np.uint8), traj, colors=(255, 0, 0))
    # pixel (9, 9) of the 10x10 image is the centre of the 2x2 block (18..19) at double size: x' = 18.5
    assert frames[1, 18:20, 18:20, 0].min() > 200 and frames[0, 0:2, 0:2, 0].min() > 100
    assert frames[0, 18:20, 18:20, 0].max() == 0  # the path is drawn only up to the current frame


def _clip(root, clip_id="c", T=3, H=8, W=12, N=4):
    rng = np.random.default_rng(0)
    eye = np.repeat(np.eye(4)[None], T, axis=0)
    annotations = {
        "schema_version": np.int64(1), "K": np.eye(3), "cam_w2c": eye, "obj_to_world": eye,
        "bbox_extents": np.ones(3), "bbox_corners_world": rng.random((T, 8, 3)),
        "bbox_corners_2d": rng.random((T, 8, 2)), "center_2d": rng.random((T, 2)),
        "depth": rng.random((T, H, W)).astype(np.float32), "mask": np.zeros((T, H, W), np.uint16),
        "tracks_xyz": rng.random((N, 3)), "tracks_2d": rng.random((T, N, 2)), "tracks_visible": np.ones((T, N), bool),
    }
    return write_clip(root, clip_id, frames=np.zeros((T, H, W, 3), np.uint8), annotations=annotations,
                      meta={"fps": 5.0, "num_frames": T, "width": W, "height": H})


def test_clip_reader_loads_only_the_arrays_asked_for(tmp_path, monkeypatch):
    clip = load_clip(_clip(tmp_path))
    opened = []
    real_load = np.load

    def counting_load(*args, **kwargs):
        archive = real_load(*args, **kwargs)
        real_getitem = type(archive).__getitem__

        class Counting(type(archive)):
            def __getitem__(self, key):
                opened.append(key)
                return real_getitem(self, key)

        archive.__class__ = Counting
        return archive

    monkeypatch.setattr(np, "load", counting_load)
    arrays = clip.arrays("K", "tracks_2d")
    assert set(arrays) == {"K", "tracks_2d"} and arrays["tracks_2d"].shape == (3, 4, 2)
    assert "depth" not in opened and "mask" not in opened
    assert set(opened) <= {"schema_version", "K", "tracks_2d"}
    opened.clear()
    clip.arrays("K")  # kept from the first call
    assert opened == []


def test_newer_schema_versions_name_the_file_and_both_versions(tmp_path):
    path = _clip(tmp_path, "meta")
    meta = json.loads((path / "meta.json").read_text())
    meta["schema_version"] = 7
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ClipFormatError, match=r"meta\.json: clip schema version 7 is newer than this reader's 1"):
        load_clip(path)
    path = _clip(tmp_path, "arrays")
    with np.load(path / "annotations.npz") as data:
        arrays = {k: data[k] for k in data.files}
    arrays["schema_version"] = np.int64(2)
    np.savez(path / "annotations.npz", **arrays)
    with pytest.raises(ClipFormatError, match=r"annotations\.npz: clip schema version 2 is newer than this reader's 1"):
        load_clip(path).arrays("K")
    with pytest.raises(ClipFormatError, match="missing array 'nonexistent'"):
        load_clip(_clip(tmp_path, "ok")).arrays("nonexistent")
