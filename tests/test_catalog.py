"""Asset catalog: Objaverse mirror, local folders, statistics cache, filters, subsets, splits, sampling.

Everything runs offline against a fake Objaverse cache tree made in a temp folder (same layout as
the ``objaverse`` package: gzipped annotation shards, object paths, LVIS file, trimesh-made GLBs).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import struct
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import trimesh

from assets_catalog.catalog import (
    CATALOG_SCHEMA_VERSION,
    COLUMNS,
    BuildConfig,
    build_catalog,
    catalog_path,
    find_asset,
    read_catalog,
)
from assets_catalog.filters import CatalogFilter, apply_filter
from assets_catalog.licenses import normalize_license
from assets_catalog.resolve import resolve_asset
from assets_catalog.sampling import sample_stratified
from assets_catalog.splits import SplitConfig, assign_splits, read_splits, split_of, write_splits
from assets_catalog.subsets import import_subset, load_subset, parse_uid_list

REAL_UID = "0a4ac4cbe7784399bbad1a17fed69562"  # first entry of the PoseTraj-10k list


def uid_of(name: str) -> str:
    return hashlib.md5(name.encode()).hexdigest()


UIDS = {
    "car": uid_of("car"), "chair": uid_of("chair"), "plate": uid_of("plate"), "noann": uid_of("noann"),
    "trunc": uid_of("trunc"), "rig": uid_of("rig"), "real": REAL_UID,
}


def _glb_with_rig(mesh: trimesh.Trimesh) -> bytes:
    """A GLB of ``mesh`` whose JSON also declares one skin and one animation."""
    data = mesh.export(file_type="glb")
    (json_len,) = struct.unpack_from("<I", data, 12)
    doc = json.loads(data[20:20 + json_len])
    doc["skins"] = [{"joints": [0]}]
    doc["animations"] = [{"channels": [], "samplers": []}]
    text = json.dumps(doc).encode()
    text += b" " * ((4 - len(text) % 4) % 4)
    rest = data[20 + json_len:]
    return b"glTF" + struct.pack("<II", 2, 20 + len(text) + len(rest)) + struct.pack("<I4s", len(text), b"JSON") \
        + text + rest


def _write_gz(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        json.dump(data, handle)


def _annotation(uid: str, name: str, license: str, tags=(), categories=()) -> dict:
    return {
        "uid": uid, "name": name, "license": license, "viewerUrl": f"https://sketchfab.com/3d-models/{uid}",
        "user": {"username": f"user_{name}", "displayName": f"User {name}"}, "animationCount": 0,
        "faceCount": 12, "tags": [{"name": t} for t in tags], "categories": [{"name": c} for c in categories],
    }


def make_fake_objaverse(root: Path) -> dict[str, Path]:
    """A fake ~/.objaverse tree under ``root``; returns {key: glb path}."""
    base = root / "hf-objaverse-v1"
    groups = {"car": "000-000", "chair": "000-000", "plate": "000-000", "noann": "000-001", "trunc": "000-001",
              "rig": "000-001", "real": "000-001"}
    meshes = {
        "car": trimesh.creation.box(extents=(2.0, 1.0, 0.8)),
        "chair": trimesh.creation.cylinder(radius=0.3, height=1.0),
        "plate": trimesh.creation.box(extents=(1.0, 0.05, 1.0)),  # Y-up file: 0.05 high after import -> flat
        "noann": trimesh.creation.icosphere(subdivisions=1),
        "trunc": trimesh.creation.icosphere(subdivisions=2),
        "real": trimesh.creation.box(extents=(1.0, 1.0, 1.0)),
    }
    paths = {}
    for key, group in groups.items():
        path = base / "glbs" / group / f"{UIDS[key]}.glb"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _glb_with_rig(trimesh.creation.box()) if key == "rig" else meshes[key].export(file_type="glb")
        if key == "trunc":
            data = data[: len(data) // 2]
        path.write_bytes(data)
        paths[key] = path
    # an interrupted download next to the complete files must be ignored
    (base / "glbs" / "000-001" / f"{uid_of('partial')}.glb.tmp").write_bytes(b"glTF\x02")
    _write_gz(base / "object-paths.json.gz",
              {UIDS[k]: f"glbs/{g}/{UIDS[k]}.glb" for k, g in groups.items()})
    _write_gz(base / "metadata" / "000-000.json.gz", {
        UIDS["car"]: _annotation(UIDS["car"], "Car", "cc0", tags=["vehicle"]),
        UIDS["chair"]: _annotation(UIDS["chair"], "Chair", "by-nc", categories=["Furniture & Home"]),
        UIDS["plate"]: _annotation(UIDS["plate"], "Plate", "by", tags=["kitchen", "plate"]),
    })
    _write_gz(base / "metadata" / "000-001.json.gz", {
        UIDS["trunc"]: _annotation(UIDS["trunc"], "Broken", "by-sa"),
        UIDS["rig"]: _annotation(UIDS["rig"], "Rigged", "by"),
        UIDS["real"]: _annotation(UIDS["real"], "Real", "by-nd"),
    })  # no entry for "noann"
    _write_gz(base / "lvis-annotations.json.gz", {"car_(automobile)": [UIDS["car"]], "chair": [UIDS["chair"]]})
    return paths


@pytest.fixture()
def fake_objaverse(tmp_path) -> tuple[Path, dict[str, Path]]:
    root = tmp_path / "objaverse"
    return root, make_fake_objaverse(root)


def _build(tmp_path: Path, root: Path | None, workers: int = 1, **kwargs):
    config = BuildConfig(catalog_dir=tmp_path / "catalog", objaverse_root=root, workers=workers, progress=False,
                         **kwargs)
    return build_catalog(config)


def test_build_rows_from_fake_objaverse(tmp_path, fake_objaverse):
    root, paths = fake_objaverse
    df, report = _build(tmp_path, root, workers=2)  # one build through the process pool
    assert list(df.columns) == list(COLUMNS)
    by_uid = df.set_index("uid")
    assert set(by_uid.index) == set(UIDS.values()) | {f"builtin-{n}" for n in ("animal", "boat", "car", "chair", "plane")}
    assert report.rows == len(df) == 12 and report.failed == 1 and report.ok == 11
    car = by_uid.loc[UIDS["car"]]
    assert (car["source"], car["license"], bool(car["commercial_use"])) == ("objaverse", "cc0", True)
    assert (car["category"], car["category_source"]) == ("car_(automobile)", "lvis")
    assert car["attribution_author"] == "User Car" and car["attribution_url"].endswith(UIDS["car"])
    assert car["path"] == str(paths["car"].resolve()) and car["file_size"] == paths["car"].stat().st_size
    assert car["sha256"] == hashlib.sha256(paths["car"].read_bytes()).hexdigest()
    assert (car["face_count"], car["vertex_count"]) == (12, 8)
    # Y-up file read as Blender does: file (x, y, z) extents (2, 1, 0.8) become (2, 0.8, 1), height 1
    assert (car["ext_x"], car["ext_y"], car["ext_z"]) == pytest.approx((1.0, 0.4, 0.5))
    assert car["flatness"] == pytest.approx(0.5)
    assert car["components"] == 1 and bool(car["watertight"])
    assert car["pa_extent_0"] == pytest.approx(1.0, abs=1e-6)
    chair = by_uid.loc[UIDS["chair"]]
    assert (chair["license"], bool(chair["commercial_use"]), chair["category"]) == ("by-nc", False, "chair")
    plate = by_uid.loc[UIDS["plate"]]
    assert (plate["category"], plate["category_source"]) == ("kitchen", "tag")
    assert list(plate["tags"]) == ["kitchen", "plate"]
    assert plate["flatness"] == pytest.approx(0.05)
    noann = by_uid.loc[UIDS["noann"]]
    assert (noann["license"], noann["category"], noann["status"]) == ("unknown", "", "ok")
    trunc = by_uid.loc[UIDS["trunc"]]
    assert (trunc["status"], trunc["failure_reason"]) == ("failed", "truncated_file")
    assert pd.isna(trunc["face_count"]) and trunc["license"] == "by-sa"
    rig = by_uid.loc[UIDS["rig"]]
    assert (rig["armature_count"], rig["animation_count"]) == (1, 1)
    assert any("1 of 7 Objaverse objects have no annotation" in w for w in report.warnings)
    # the schema version is in the Parquet key-value metadata
    meta = pq.read_schema(catalog_path(tmp_path / "catalog")).metadata
    assert meta[b"posetraj.schema_version"] == str(CATALOG_SCHEMA_VERSION).encode()
    assert meta[b"posetraj.kind"] == b"asset-catalog"
    assert find_asset(df, UIDS["car"])["uid"] == UIDS["car"]
    with pytest.raises(KeyError, match="not in the catalog"):
        find_asset(df, "nope")


def test_rebuild_reuses_hashes_and_stats(tmp_path, fake_objaverse):
    root, paths = fake_objaverse
    _, first = _build(tmp_path, root)
    assert first.stats_computed == 12 and first.stats_cached == 0 and first.hashed == 12
    _, second = _build(tmp_path, root)
    assert second.stats_computed == 0 and second.stats_cached == 12
    assert second.hashed == 0 and second.hash_reused == 12
    # one new object and one changed file: only those two are measured again
    new_path = paths["car"].parent / f"{uid_of('new')}.glb"
    new_path.write_bytes(trimesh.creation.cone(radius=0.5, height=1.0).export(file_type="glb"))
    paths["real"].write_bytes(trimesh.creation.box(extents=(1.0, 2.0, 1.0)).export(file_type="glb"))
    os.utime(paths["real"], ns=(1, 1))
    df, third = _build(tmp_path, root)
    assert third.stats_computed == 2 and third.stats_cached == 11 and third.hashed == 2
    assert df.set_index("uid").loc[REAL_UID, "ext_z"] == pytest.approx(1.0)  # file y = 2 is the height


def test_missing_or_corrupt_annotations_never_crash(tmp_path, fake_objaverse):
    root, _ = fake_objaverse
    base = root / "hf-objaverse-v1"
    (base / "metadata" / "000-000.json.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")  # corrupt gzip
    (base / "lvis-annotations.json.gz").unlink()
    df, report = _build(tmp_path, root, include_builtin=False)
    assert len(df) == 7
    assert (df.set_index("uid").loc[UIDS["car"], "license"]) == "unknown"
    assert df.set_index("uid").loc[UIDS["trunc"], "license"] == "by-sa"  # other shard still read
    assert any("000-000.json.gz: unreadable" in w for w in report.warnings)
    assert any("lvis-annotations.json.gz: missing" in w for w in report.warnings)


def test_missing_mirror_is_a_warning(tmp_path):
    df, report = _build(tmp_path, tmp_path / "no-such-mirror")
    assert len(df) == 5 and set(df["source"]) == {"builtin"}
    assert any("no Objaverse objects found" in w for w in report.warnings)


def test_local_folders_asset_info_and_bad_files(tmp_path):
    pack = tmp_path / "assets"
    (pack / "chairs" / "deep").mkdir(parents=True)
    (pack / "misc").mkdir()
    (pack / ".hidden").mkdir()
    trimesh.creation.box().export(pack / "chairs" / "a.stl")
    trimesh.creation.icosphere().export(pack / "chairs" / "deep" / "b.ply")
    trimesh.creation.box().export(pack / "misc" / "copy.stl")  # same bytes as chairs/a.stl
    trimesh.creation.cylinder(radius=0.2, height=1.0).export(pack / "misc" / "c.obj")
    (pack / "misc" / "model.fbx").write_bytes(b"Kaydara FBX Binary  \x00")
    (pack / "misc" / "readme.txt").write_text("not a mesh")
    (pack / "misc" / "empty.stl").write_bytes(b"")
    trimesh.creation.box().export(pack / ".hidden" / "h.stl")
    (pack / "chairs" / "ASSET_INFO.yaml").write_text(
        "license: CC BY-SA 4.0\nauthor: Chair Maker\nurl: https://example.org/chairs\n"
        "files:\n  a.stl: {name: Chair A, license: cc0}\n")
    df, report = _build(tmp_path, None, local_dirs=(pack,), include_builtin=False)
    rows = {Path(p).relative_to(pack.resolve()).as_posix(): r for p, r in zip(df["path"], df.to_dict("records"))}
    assert set(rows) == {"chairs/a.stl", "chairs/deep/b.ply", "misc/c.obj", "misc/model.fbx", "misc/empty.stl"}
    assert report.duplicates == 1  # misc/copy.stl has the bytes (hence the uid) of chairs/a.stl
    a = rows["chairs/a.stl"]
    assert (a["license"], a["attribution_name"], a["attribution_author"]) == ("cc0", "Chair A", "Chair Maker")
    assert a["uid"] == a["sha256"][:16] and (a["category"], a["category_source"]) == ("chairs", "folder")
    b = rows["chairs/deep/b.ply"]  # inherits the folder file of chairs/, not its per-file overrides
    assert (b["license"], b["attribution_name"], b["category"]) == ("by-sa", "b", "deep")
    assert rows["misc/c.obj"]["license"] == "unknown" and rows["misc/c.obj"]["status"] == "ok"
    assert rows["misc/model.fbx"]["failure_reason"] == "stats_unsupported_format"
    assert rows["misc/empty.stl"]["status"] == "failed"


def _write_gltf(folder: Path, mesh: trimesh.Trimesh) -> Path:
    """A .gltf with its buffers in external .bin files, as trimesh exports it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in mesh.export(file_type="gltf").items():
        (folder / name).write_bytes(data)
    return folder / "model.gltf"


def test_gltf_buffers_are_part_of_the_asset(tmp_path):
    pack = tmp_path / "assets"
    gltf = _write_gltf(pack / "box", trimesh.creation.box(extents=(1.0, 1.0, 1.0)))
    df, first = _build(tmp_path, None, local_dirs=(pack,), include_builtin=False)
    row = df.iloc[0]
    assert row["status"] == "ok" and first.hashed == 1
    assert row["file_size"] == sum(f.stat().st_size for f in gltf.parent.iterdir())
    # changing only a buffer (same size, as an edit in place would) changes the hash and the statistics
    stretched = _write_gltf(tmp_path / "other", trimesh.creation.box(extents=(1.0, 3.0, 1.0)))
    buffers = json.loads(gltf.read_text())["buffers"]
    changed = [b["uri"] for b in buffers if (gltf.parent / b["uri"]).read_bytes() != (stretched.parent / b["uri"]).read_bytes()]
    assert changed
    later = gltf.stat().st_mtime_ns + 10**10  # the edit is 10 s newer than everything else
    for uri in changed:
        (gltf.parent / uri).write_bytes((stretched.parent / uri).read_bytes())
        os.utime(gltf.parent / uri, ns=(later, later))
    df2, second = _build(tmp_path, None, local_dirs=(pack,), include_builtin=False)
    assert second.hashed == 1 and second.stats_computed == 1
    assert df2.iloc[0]["sha256"] != row["sha256"] and df2.iloc[0]["ext_z"] == pytest.approx(1.0)
    assert resolve_asset(str(gltf), tmp_path / "cache").sha256 == df2.iloc[0]["sha256"]
    # a missing buffer makes the asset unreadable, with the file named
    (gltf.parent / buffers[0]["uri"]).unlink()
    df3, _ = _build(tmp_path, None, local_dirs=(pack,), include_builtin=False)
    assert df3.iloc[0]["status"] == "failed" and buffers[0]["uri"] in df3.iloc[0]["failure_detail"]


def test_filters(tmp_path, fake_objaverse):
    root, _ = fake_objaverse
    df, _ = _build(tmp_path, root, include_builtin=False)
    base = dict(min_flatness=None)
    safe, removed = apply_filter(df, CatalogFilter(commercial_safe=True, **base))
    assert set(safe["license"]) <= {"cc0", "by", "by-sa"}
    assert set(safe["uid"]) == {UIDS["car"], UIDS["plate"], UIDS["rig"]}  # by-sa one failed, by-nd excluded
    assert removed["status"] == 1
    only_nc, _ = apply_filter(df, CatalogFilter(licenses=("by-nc",), **base))
    assert list(only_nc["uid"]) == [UIDS["chair"]]
    cats, _ = apply_filter(df, CatalogFilter(include_categories=("CHAIR", "kitchen"), **base))
    assert set(cats["uid"]) == {UIDS["chair"], UIDS["plate"]}
    no_chair, _ = apply_filter(df, CatalogFilter(exclude_categories=("chair",), **base))
    assert UIDS["chair"] not in set(no_chair["uid"]) and UIDS["car"] in set(no_chair["uid"])
    flat, removed = apply_filter(df, CatalogFilter())  # default: the PoseTraj flatness filter at 0.1
    assert UIDS["plate"] not in set(flat["uid"]) and removed["flatness"] == 1
    lenient, _ = apply_filter(df, CatalogFilter(min_flatness=0.04))
    assert UIDS["plate"] in set(lenient["uid"])
    rigless, removed = apply_filter(df, CatalogFilter(no_armatures=True, no_animations=True, **base))
    assert UIDS["rig"] not in set(rigless["uid"]) and removed["armatures"] == 1
    faces, _ = apply_filter(df, CatalogFilter(min_faces=13, **base))
    assert set(faces["face_count"]) > set() and min(faces["face_count"]) >= 13
    small, _ = apply_filter(df, CatalogFilter(max_file_size=int(df["file_size"].min()), **base))
    assert len(small) >= 1 and (small["file_size"] == df["file_size"].min()).all()
    with_failed, _ = apply_filter(df, CatalogFilter(only_ok=False, licenses=("by-sa",), **base))
    assert list(with_failed["uid"]) == [UIDS["trunc"]]


def test_splits_stable_when_assets_are_added(tmp_path, fake_objaverse):
    root, paths = fake_objaverse
    config = SplitConfig(benchmark_fraction=0.2)
    df, _ = _build(tmp_path, root)
    before = assign_splits(df["uid"], config)
    for i in range(20):
        (paths["car"].parent / f"{uid_of(f'extra{i}')}.glb").write_bytes(paths["car"].read_bytes())
    grown, _ = _build(tmp_path, root)
    after = assign_splits(grown["uid"], config)
    assert len(after) == len(before) + 20
    pd.testing.assert_series_equal(after.loc[before.index], before)
    # benchmark is disjoint from training splits and unchanged by other fractions
    other = assign_splits(grown["uid"], SplitConfig(train=0.5, val=0.25, test=0.25, benchmark_fraction=0.2))
    assert list(other.index[other == "benchmark"]) == list(after.index[after == "benchmark"])
    path = write_splits(after, config, tmp_path / "catalog")
    assert path.is_file()
    pd.testing.assert_series_equal(read_splits(tmp_path / "catalog"), after, check_index_type=False)


def test_split_fractions_and_pinned_benchmark():
    uids = [uid_of(f"u{i}") for i in range(4000)]
    pinned = frozenset(uids[:10])
    config = SplitConfig(train=0.7, val=0.2, test=0.1, benchmark_fraction=0.1, benchmark_uids=pinned)
    splits = assign_splits(uids, config)
    share = splits.value_counts(normalize=True)
    assert share["benchmark"] == pytest.approx(0.1, abs=0.02)
    assert share["train"] == pytest.approx(0.9 * 0.7, abs=0.03)
    assert share["val"] == pytest.approx(0.9 * 0.2, abs=0.03)
    assert (splits.loc[sorted(pinned)] == "benchmark").all()
    assert split_of(uids[20], config) == splits.iloc[20]
    with pytest.raises(ValueError, match="must be 1"):
        SplitConfig(train=0.9, val=0.2, test=0.1)


def test_subset_import_from_real_uid_list(tmp_path, fake_objaverse, shared_data):
    root, _ = fake_objaverse
    df, _ = _build(tmp_path, root, include_builtin=False)
    list_file = shared_data / "posetraj10k_objaverse_uids.txt"
    subset = import_subset("posetraj10k", list_file, set(df["uid"]), tmp_path / "catalog")
    # 1,213 Objaverse uids, one 27-character non-hex id (line 975) and a truncated 31-digit uid (line 215)
    assert len(subset.uids) == 1214 and subset.lines == 1222 and subset.blank_lines == 1  # 1,221 entries
    assert sum(len(u) == 32 for u in subset.uids) == 1213 and "tqWmN4A8BonnSCpN2IcXAQEj8aW" in subset.uids
    assert len(subset.malformed) == 1 and subset.malformed[0]["line"] == 215
    assert "31 hex digits" in subset.malformed[0]["reason"]
    assert subset.duplicates == 1222 - 1 - 1 - 1214
    assert REAL_UID in subset.uids and REAL_UID not in subset.missing
    assert len(subset.missing) == 1213
    stored = load_subset(tmp_path / "catalog", "posetraj10k")
    assert stored.uids == subset.uids and stored.missing == subset.missing
    kept, _ = apply_filter(df, CatalogFilter(uids=frozenset(stored.uids), min_flatness=None))
    assert list(kept["uid"]) == [REAL_UID]
    with pytest.raises(FileNotFoundError, match="stored: posetraj10k"):
        load_subset(tmp_path / "catalog", "other")


def test_parse_uid_list_forms():
    parsed = parse_uid_list(f"{UIDS['car']}\n\n# comment\n{UIDS['car']}_0_S0001-0032\n"
                            f"{UIDS['car'][:-3]}\nbuiltin-car\nbad uid!\n")
    assert parsed.uids == [UIDS["car"], "builtin-car"]
    assert parsed.duplicates == 1 and parsed.blank_lines == 2
    assert [m["line"] for m in parsed.malformed] == [5, 7]


def test_stratified_sampling():
    df = pd.DataFrame({"uid": [uid_of(f"s{i}") for i in range(70)],
                       "category": ["a"] * 50 + ["b"] * 15 + ["c"] * 5})
    sample = sample_stratified(df, 30, seed=1)
    assert sample["category"].value_counts().to_dict() == {"a": 13, "b": 12, "c": 5}
    assert sample_stratified(df.iloc[::-1], 30, seed=1)["uid"].tolist() == sample["uid"].tolist()
    assert set(sample_stratified(df, 30, seed=2)["uid"]) != set(sample["uid"])
    proportional = sample_stratified(df, 14, seed=1, mode="proportional")
    assert proportional["category"].value_counts().to_dict() == {"a": 10, "b": 3, "c": 1}
    assert len(sample_stratified(df, 500, seed=0)) == 70


def test_resolve_uses_catalog_row(tmp_path, fake_objaverse):
    root, paths = fake_objaverse
    df, _ = _build(tmp_path, root, include_builtin=False)
    asset = resolve_asset(str(paths["car"]), tmp_path / "cache", catalog=read_catalog(tmp_path / "catalog"))
    assert (asset.source, asset.uid, asset.license, asset.category) == ("objaverse", UIDS["car"], "cc0",
                                                                       "car_(automobile)")
    assert asset.attribution["author"] == "User Car"


def test_catalog_version_mismatch_is_a_clear_error(tmp_path, fake_objaverse):
    root, _ = fake_objaverse
    _build(tmp_path, root, include_builtin=False)
    path = catalog_path(tmp_path / "catalog")
    table = pq.read_table(path)
    meta = dict(table.schema.metadata)
    meta[b"posetraj.schema_version"] = b"999"
    pq.write_table(table.replace_schema_metadata(meta), path)
    with pytest.raises(ValueError, match="schema version '999' is not supported"):
        read_catalog(tmp_path / "catalog")


def test_license_normalisation():
    assert normalize_license("CC-BY-4.0") == "by"
    assert normalize_license("Attribution-NonCommercial-ShareAlike") == "by-nc-sa"
    assert normalize_license("CC0 Public Domain") == "cc0"
    assert normalize_license(None) == "unknown" and normalize_license("") == "unknown"
    assert normalize_license("CC BY-SA 4.0") == "by-sa"
    assert normalize_license("Creative Commons BY NC") == "by-nc"
    assert normalize_license("MIT") == "mit"
