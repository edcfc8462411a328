"""Suite building and loading: posetraj-synth from clips, real/custom folders, malformed inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.suite import MANIFEST_NAME, MARKER_NAME, SUITE_SCHEMA_VERSION, SuiteError, load_suite
from benchmark.suite_build import build_folder_suite, build_suite_from_clips
from benchmark.synthetic_clips import SyntheticClipConfig, build_synthetic_suite, render_synthetic_clip
from common.trajectories import TrajectoryFormatError


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return build_synthetic_suite(tmp_path_factory.mktemp("suite"), 2)


def test_synth_suite_layout_and_ground_truth(synth):
    manifest = json.loads((synth.path / MANIFEST_NAME).read_text())
    assert manifest["schema_version"] == SUITE_SCHEMA_VERSION and manifest["kind"] == "posetraj-synth"
    assert synth.version.startswith("synthetic-box@") and (synth.path / MARKER_NAME).is_file()
    rot, ctrl = synth.samples
    assert rot.rotational is True and ctrl.rotational is False and ctrl.family == "line"
    assert rot.record["rotation_angle_deg"] > 45 and ctrl.record["rotation_angle_deg"] < 1
    clip = rot.clip()
    ann = clip.annotations
    # the conditioning trajectory is the ground-truth track of a visible surface point
    index = rot.record["conditioning_track_index"]
    assert np.allclose(rot.trajectories.points[0], ann["tracks_2d"][:, index], atol=1e-4)
    assert ann["tracks_visible"][0, index]
    assert ann["mask"][0][int(round(ann["tracks_2d"][0, index, 1])), int(round(ann["tracks_2d"][0, index, 0]))] == 1
    assert np.array_equal(rot.image(), clip.frames()[0])
    assert rot.reference_frames().shape == (rot.num_frames, rot.height, rot.width, 3)


def test_suite_is_deterministic_and_refuses_overwrite(tmp_path):
    clips = [render_synthetic_clip(tmp_path / "clips", f"c{i}", SyntheticClipConfig(seed=i)) for i in range(2)]
    a = build_suite_from_clips(tmp_path / "a", clips)
    b = build_suite_from_clips(tmp_path / "b", clips)
    assert a.version == b.version
    with pytest.raises(SuiteError, match="already exists"):
        build_suite_from_clips(tmp_path / "a", clips)
    other = build_suite_from_clips(tmp_path / "c", clips[:1])
    assert other.version != a.version


def test_incomplete_or_unknown_suites_are_refused(tmp_path, synth):
    copy = tmp_path / "copy"
    shutil.copytree(synth.path, copy)
    (copy / MARKER_NAME).unlink()
    with pytest.raises(SuiteError, match="incomplete"):
        load_suite(copy)
    (copy / MARKER_NAME).write_text("{}")
    manifest = json.loads((copy / MANIFEST_NAME).read_text())
    manifest["schema_version"] = 99
    (copy / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(SuiteError, match="schema version 99"):
        load_suite(copy)
    manifest["schema_version"] = SUITE_SCHEMA_VERSION
    (copy / MANIFEST_NAME).write_text(json.dumps(manifest))
    shutil.rmtree(copy / manifest["samples"][0]["clip"])
    with pytest.raises(SuiteError, match="missing its clip"):
        load_suite(copy)
    with pytest.raises(SuiteError, match="not a benchmark suite"):
        load_suite(tmp_path)


def _grey(path, width, height):
    Image.fromarray(np.full((height, width, 3), 128, np.uint8)).save(path)


def test_real_suite_from_vipseg_tracks(tmp_path, shared_data):
    src = tmp_path / "src"
    src.mkdir()
    names = ["0_wHveSGjXyDY", "1004_Qa0lNfaU4Bc", "1008_cjuVdt1f04I"]
    for name in names:
        shutil.copy(shared_data / "vipseg_cotracker_tracks" / f"{name}.json", src)
        _grey(src / f"{name}.png", 1920, 1080)
    suite = build_folder_suite(src, tmp_path / "real", kind="real", num_frames=14, outliers="drop")
    assert suite.kind == "real" and suite.manifest["outliers"] == {"policy": "drop", "margin": 0.1}
    kept = {s.id for s in suite.samples} | {s["id"] for s in suite.manifest["skipped"]}
    assert kept == set(names)
    for sample in suite.samples:
        raw = json.loads((src / f"{sample.id}.json").read_text())
        traj = sample.trajectories
        assert traj.num_frames == 14 and (sample.width, sample.height) == (1920, 1080)
        assert set(traj.ids) | set(sample.record["dropped_trajectories"]) == set(raw)
        first = traj.ids[0]
        assert np.array_equal(traj.points[0], np.asarray(raw[first][:14], float))


def test_custom_suite_errors_are_clear(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.json").write_text(json.dumps({"0": [[10, 10]] * 14}))
    with pytest.raises(SuiteError, match="sample a has trajectories but no image"):
        build_folder_suite(src, tmp_path / "out")
    _grey(src / "a.png", 64, 48)
    (src / "b.json").write_text('{"0": [[1, 2], [NaN, 3]]}')
    _grey(src / "b.png", 64, 48)
    with pytest.raises(TrajectoryFormatError, match="b.json: trajectory '0' frame 1: non-finite"):
        build_folder_suite(src, tmp_path / "out")
    (src / "b.json").write_text(json.dumps({"0": [[5, 5]] * 14, "1": [[5, 5]] * 13 + [[90000, 5]]}))
    with pytest.raises(TrajectoryFormatError, match="leave the 64x48 frame"):
        build_folder_suite(src, tmp_path / "out", outliers="error")
    (src / "c.json").write_text(json.dumps({"0": [[5, 5]] * 5}))
    _grey(src / "c.png", 64, 48)
    suite = build_folder_suite(src, tmp_path / "out", outliers="drop")
    assert [s.id for s in suite.samples] == ["a", "b"]
    assert suite.samples[1].record["dropped_trajectories"] == ["1"]
    assert suite.manifest["skipped"][0]["id"] == "c" and "5 trajectory frames < 14" in suite.manifest["skipped"][0]["reason"]
    assert not any(p.name.startswith(".out.tmp") for p in tmp_path.iterdir())


def test_benchmark_assets_come_from_the_catalogs_benchmark_split(tmp_path):
    from assets_catalog.catalog import BuildConfig, build_catalog, read_catalog
    from assets_catalog.splits import SplitConfig, assign_splits, write_splits

    from benchmark.suite_build import benchmark_assets

    build_catalog(BuildConfig(catalog_dir=tmp_path, include_builtin=True, workers=1, progress=False))
    table = read_catalog(tmp_path)
    chosen = sorted(table["uid"])[:2]
    config = SplitConfig(benchmark_fraction=0.0, benchmark_uids=frozenset(chosen))
    write_splits(assign_splits(table["uid"], config), config, tmp_path)
    assets = benchmark_assets(tmp_path)
    assert assets == sorted(table.set_index("uid").loc[chosen, "path"])
    assert all(Path(a).is_file() for a in assets)
    assert len(benchmark_assets(None)) >= 5 and all(a.startswith("builtin:") for a in benchmark_assets(None))


def test_synth_samples_store_the_object_mesh_and_schema_1_suites_still_load(tmp_path, synth):
    """Schema 2 stores each posetraj-synth sample's mesh (object_mesh.npz, for the pose metric); a schema-1
    suite, which has none, still loads and derives the mesh from the clip; a broken mesh file is named."""
    from benchmark.object_model import OBJECT_MESH_FILE, box_model
    from benchmark.rasterize import rasterize

    sample = synth.samples[0]
    assert sample.record["object_mesh"].endswith(OBJECT_MESH_FILE)
    stored = sample.object_model()
    ann = sample.ground_truth("K", "cam_w2c", "obj_to_world", "bbox_extents", "mask")
    assert np.allclose(stored.vertices, box_model(ann["bbox_extents"]).vertices)
    o2c = ann["cam_w2c"][0] @ ann["obj_to_world"][0]
    covered = rasterize(stored.vertices, stored.faces, o2c[:3, :3], o2c[:3, 3], ann["K"], sample.width, sample.height).mask
    target = ann["mask"][0] == 1
    assert (covered & target).sum() / (covered | target).sum() > 0.9
    old = tmp_path / "v1"
    shutil.copytree(synth.path, old)
    manifest = json.loads((old / MANIFEST_NAME).read_text())
    manifest["schema_version"] = 1
    for record in manifest["samples"]:
        (old / record.pop("object_mesh")).unlink()
    (old / MANIFEST_NAME).write_text(json.dumps(manifest))
    derived = load_suite(old).samples[0].object_model()
    assert np.allclose(derived.vertices, stored.vertices) and np.array_equal(derived.faces, stored.faces)
    broken = tmp_path / "broken"
    shutil.copytree(synth.path, broken)
    (broken / sample.record["object_mesh"]).write_bytes(b"not a mesh")
    with pytest.raises(SuiteError, match=f"{sample.id}.*object_mesh.npz.*not a readable object mesh"):
        load_suite(broken).samples[0].object_model()
