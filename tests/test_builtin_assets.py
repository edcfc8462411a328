"""Built-in procedural assets and asset-reference resolution."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh

from assets_catalog.builtin import (
    FRONT,
    TEXTURE_PERIOD,
    build_builtin_mesh,
    builtin_glb_bytes,
    builtin_names,
    builtin_uri,
    describe_builtins,
    export_builtin,
    front_part_names,
    get_builtin,
    noise_texture,
    planar_uv,
)
from assets_catalog.files import SUPPORTED_EXTENSIONS
from assets_catalog.resolve import resolve_asset

REQUIRED = {"car", "boat", "plane", "chair", "animal"}


def _gltf_to_zup(points: np.ndarray) -> np.ndarray:
    """What Blender's glTF importer does: glTF (x, y, z) Y-up -> Blender (x, -z, y) Z-up."""
    return np.stack([points[:, 0], -points[:, 2], points[:, 1]], axis=1)


def test_names_and_metadata():
    names = builtin_names()
    assert REQUIRED <= set(names)
    assert list(names) == sorted(names)
    assert set(describe_builtins()) == set(names)
    for name in names:
        asset = get_builtin(name)
        assert asset.name == name and asset.license == "cc0" and asset.category
        assert builtin_uri(name) == f"builtin:{name}"
        assert get_builtin(builtin_uri(name)) == asset


def test_unknown_name_lists_choices():
    with pytest.raises(ValueError, match="choices: animal, boat, car"):
        get_builtin("spaceship")


def test_training_models_are_reserved_for_training():
    from benchmark.suite_build import benchmark_assets

    train = builtin_names("train")
    assert len(train) >= 3 and not set(train) & set(builtin_names())
    assert set(builtin_names(None)) == set(builtin_names()) | set(train)
    assert not {builtin_uri(n) for n in train} & set(benchmark_assets(None))  # suites never use them
    assert all(get_builtin(n).role == "train" for n in train)
    with pytest.raises(ValueError, match="unknown built-in role"):
        builtin_names("test")


@pytest.mark.parametrize("name", builtin_names(None))
def test_model_frame_and_front(name):
    scene = build_builtin_mesh(name)
    lo, hi = scene.bounds
    extents = hi - lo
    assert lo[2] == pytest.approx(0.0, abs=1e-9)  # stands on the floor
    assert extents.max() == pytest.approx(1.0)  # unit size
    assert (lo[:2] + hi[:2]) == pytest.approx([0.0, 0.0], abs=1e-9)  # footprint centred
    assert extents[2] / max(extents[0], extents[1]) > 0.1  # not flat
    assert extents[1] / extents[0] > 0.1
    front = set(front_part_names(name))
    assert len(front) >= 1
    # the vertices furthest along +X belong to the front-coloured part(s), and only there
    max_x = {g: float(m.vertices[:, 0].max()) for g, m in scene.geometry.items()}
    best = max(max_x.values())
    assert {g for g, x in max_x.items() if x > best - 1e-6} <= front
    # front parts sit in the front half; every other part is reached by them in x
    for g in front:
        assert scene.geometry[g].vertices[:, 0].mean() > 0.0
        assert list(scene.geometry[g].visual.material.baseColorFactor[:3]) == [round(c * 255) for c in FRONT[:3]]
    other_colors = {tuple(m.visual.material.baseColorFactor) for g, m in scene.geometry.items() if g not in front}
    assert all(c[:3] != tuple(round(v * 255) for v in FRONT[:3]) for c in other_colors)


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_export_roundtrip_is_deterministic_and_y_up(name, tmp_path):
    path = export_builtin(name, tmp_path / "a")
    assert path == tmp_path / "a" / f"{name}.glb"
    first = hashlib.sha256(path.read_bytes()).hexdigest()
    path.unlink()
    builtin_glb_bytes.cache_clear()  # build the model again rather than reuse this process's bytes
    again = export_builtin(name, tmp_path / "a")
    assert hashlib.sha256(again.read_bytes()).hexdigest() == first
    assert not list((tmp_path / "a").glob("*.tmp"))  # no temp file left behind
    loaded = trimesh.load(path, force="scene")
    zup_expected = build_builtin_mesh(name)
    assert set(loaded.geometry) == set(zup_expected.geometry)
    # the GLB is Y-up; converting as Blender does gives back the Z-up model
    world = _gltf_to_zup(loaded.to_geometry().vertices)
    np.testing.assert_allclose(world.min(axis=0), zup_expected.bounds[0], atol=1e-5)
    np.testing.assert_allclose(world.max(axis=0), zup_expected.bounds[1], atol=1e-5)
    for geom_name, mesh in loaded.geometry.items():
        material = mesh.visual.material
        assert isinstance(material, trimesh.visual.material.PBRMaterial), geom_name
        # the texture survives the round trip: UVs per vertex and an image that is not flat
        assert mesh.visual.uv is not None and len(mesh.visual.uv) == len(mesh.vertices), geom_name
        texture = np.asarray(material.baseColorTexture.convert("L"), dtype=float)
        assert texture.shape == (128, 128) and texture.std() > 15.0, geom_name
    assert path.stat().st_size < 1_000_000


def test_texture_is_tileable_deterministic_and_seeded():
    a = noise_texture("car/body")
    assert a.dtype == np.uint8 and a.shape == (128, 128)
    np.testing.assert_array_equal(a, noise_texture("car/body"))
    assert not np.array_equal(a, noise_texture("car/cabin"))
    # strong contrast (LK needs it) ...
    assert np.percentile(a, 95) - np.percentile(a, 5) > 80
    # ... and periodic: the jump across the wrap-around is no larger than between neighbours inside
    inner = np.abs(np.diff(a.astype(float), axis=0)).mean()
    wrap = np.abs(a[0].astype(float) - a[-1].astype(float)).mean()
    assert wrap < 2.0 * inner


def test_planar_uv_projects_along_dominant_axis():
    box = trimesh.creation.box(extents=(0.5, 0.3, 0.2))
    box.unmerge_vertices()
    uv = planar_uv(box)
    for face, normal in zip(box.faces, box.face_normals):
        kept = [i for i in range(3) if i != int(np.abs(normal).argmax())]
        np.testing.assert_allclose(uv[face], box.vertices[face][:, kept] / TEXTURE_PERIOD)
    # every part of a built-in model owns its vertices (un-merged) and carries UVs
    for mesh in build_builtin_mesh("chair").geometry.values():
        assert len(mesh.vertices) == 3 * len(mesh.faces)
        assert mesh.visual.uv.shape == (len(mesh.vertices), 2)


def test_export_bytes_identical_across_processes(tmp_path):
    here = hashlib.sha256(export_builtin("car", tmp_path / "here").read_bytes()).hexdigest()
    code = ("import hashlib, sys; from pathlib import Path; from assets_catalog.builtin import export_builtin; "
            "print(hashlib.sha256(export_builtin('car', Path(sys.argv[1])).read_bytes()).hexdigest())")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "there")], check=True, capture_output=True,
                         text=True, cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == here


def test_resolve_builtin(tmp_path):
    asset = resolve_asset("builtin:boat", tmp_path)
    assert asset.source == "builtin" and asset.uid == "builtin-boat"
    assert asset.path == tmp_path / "builtin" / "boat.glb" and asset.path.is_file()
    assert asset.sha256 == hashlib.sha256(asset.path.read_bytes()).hexdigest()
    assert asset.license == "cc0" and asset.attribution["author"] == "posetraj"
    assert asset.category == "boat"
    with pytest.raises(ValueError, match="unknown built-in"):
        resolve_asset("builtin:nope", tmp_path)


def test_resolve_local_file_and_asset_info(tmp_path):
    folder = tmp_path / "pack"
    folder.mkdir()
    mesh = folder / "cube.stl"
    trimesh.creation.box().export(mesh)
    digest = hashlib.sha256(mesh.read_bytes()).hexdigest()
    plain = resolve_asset(str(mesh), tmp_path / "cache")
    assert (plain.source, plain.uid, plain.sha256, plain.license) == ("local", digest[:16], digest, "unknown")
    assert plain.attribution["name"] == "cube"
    (folder / "ASSET_INFO.json").write_text(json.dumps({
        "license": "CC-BY-4.0", "author": "Pack Author", "url": "https://example.org/pack",
        "files": {"cube.stl": {"name": "Unit cube", "category": "box"}},
    }))
    info = resolve_asset(str(mesh), tmp_path / "cache")
    assert info.license == "by"
    assert info.attribution == {"name": "Unit cube", "author": "Pack Author", "url": "https://example.org/pack"}
    assert info.category == "box"


def test_resolve_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.glb"):
        resolve_asset(str(tmp_path / "missing.glb"), tmp_path)
    bad = tmp_path / "notes.txt"
    bad.write_text("x")
    with pytest.raises(ValueError, match="supported: " + ", ".join(SUPPORTED_EXTENSIONS)):
        resolve_asset(str(bad), tmp_path)
    (tmp_path / "ASSET_INFO.yaml").write_text("- not\n- a mapping\n")
    mesh = tmp_path / "m.stl"
    trimesh.creation.box().export(mesh)
    with pytest.raises(ValueError, match="ASSET_INFO.yaml"):
        resolve_asset(str(mesh), tmp_path)
