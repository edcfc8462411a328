"""Build, read and write the asset catalog: one Parquet table, one row per mesh file.

Catalog folder layout (default ``~/.posetraj/catalog``)::

    catalog.parquet       the table (schema version in the Parquet key-value metadata)
    stats_cache.parquet   mesh statistics keyed by (sha256, format)
    builtin/<name>.glb    the exported built-in models
    subsets/<name>.json   named uid lists (see subsets.py)
    splits.parquet        uid -> split (see splits.py)

A build lists files from the sources, hashes only files whose (path, size, mtime) changed since the
previous catalog, measures only (sha256, format) pairs not in the stats cache (in a process pool), and
writes the catalog atomically. Failures of single files become ``status == "failed"`` rows.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from assets_catalog.files import asset_sha256, asset_stat, mesh_format
from assets_catalog.licenses import is_commercial_safe
from assets_catalog.parquet_io import read_parquet_checked, write_parquet_atomic
from assets_catalog.records import AssetRecord
from assets_catalog.stats import STAT_COLUMNS, STATS_VERSION, UNREADABLE, compute_stats
from assets_catalog.stats_cache import RESULT_COLUMNS, load_stats_cache, save_stats_cache

if TYPE_CHECKING:
    import pandas as pd

CATALOG_KIND = "asset-catalog"
CATALOG_SCHEMA_VERSION = 1
DEFAULT_CATALOG_DIR = Path("~/.posetraj/catalog")
CATALOG_FILE = "catalog.parquet"
STATS_CACHE_FILE = "stats_cache.parquet"
_CACHE_FLUSH_EVERY = 5000

_STRING_COLUMNS = (
    "uid", "source", "path", "format", "sha256", "license", "attribution_name", "attribution_author",
    "attribution_url", "category", "category_source",
)
_INT_COLUMNS = ("file_size", "mtime_ns", "face_count", "vertex_count", "geometry_count", "animation_count",
                "armature_count", "components")
_BOOL_COLUMNS = ("commercial_use", "watertight")
COLUMNS = (
    "uid", "source", "path", "format", "sha256", "file_size", "mtime_ns", "license", "commercial_use",
    "attribution_name", "attribution_author", "attribution_url", "category", "category_source", "tags",
    *STAT_COLUMNS, "status", "failure_reason", "failure_detail",
)


def catalog_schema():
    """The pyarrow schema of ``catalog.parquet`` (version ``CATALOG_SCHEMA_VERSION``)."""
    import pyarrow as pa

    def kind(name: str):
        if name == "tags":
            return pa.list_(pa.string())
        if name in _INT_COLUMNS:
            return pa.int64()
        if name in _BOOL_COLUMNS:
            return pa.bool_()
        if name in _STRING_COLUMNS or name in ("status", "failure_reason", "failure_detail"):
            return pa.string()
        return pa.float64()

    return pa.schema([pa.field(name, kind(name)) for name in COLUMNS])


@dataclass
class BuildConfig:
    """What a catalog build reads and where it writes."""

    catalog_dir: Path = DEFAULT_CATALOG_DIR
    objaverse_root: Path | None = None  # folder holding hf-objaverse-v1; None = no Objaverse
    local_dirs: tuple[Path, ...] = ()
    include_builtin: bool = True
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    progress: bool = True


@dataclass
class BuildReport:
    """Counts of one build (what was reused and what had to be computed)."""

    rows: int = 0
    ok: int = 0
    failed: int = 0
    hashed: int = 0
    hash_reused: int = 0
    stats_computed: int = 0
    stats_cached: int = 0
    duplicates: int = 0
    warnings: list[str] = field(default_factory=list)
    catalog_path: str = ""


def catalog_path(catalog_dir: Path) -> Path:
    return Path(catalog_dir).expanduser() / CATALOG_FILE


def read_catalog(catalog_dir: Path) -> "pd.DataFrame":
    """The catalog table; ``FileNotFoundError`` with a hint if it was never built."""
    path = catalog_path(catalog_dir)
    if not path.is_file():
        raise FileNotFoundError(f"no catalog at {path}; run 'posetraj catalog build' first")
    df, _ = read_parquet_checked(path, CATALOG_KIND, CATALOG_SCHEMA_VERSION)
    return df


def write_catalog(df: "pd.DataFrame", catalog_dir: Path) -> Path:
    """Write the catalog table atomically; returns its path."""
    path = catalog_path(catalog_dir)
    write_parquet_atomic(df, path, catalog_schema(), CATALOG_KIND, CATALOG_SCHEMA_VERSION,
                         extra={"posetraj.stats_version": str(STATS_VERSION)})
    return path


def _gather(config: BuildConfig, warnings: list[str]) -> list[AssetRecord]:
    from assets_catalog.local_source import builtin_records, local_records
    from assets_catalog.objaverse_source import ObjaverseMirror, objaverse_records

    records: list[AssetRecord] = []
    if config.include_builtin:
        records += builtin_records(Path(config.catalog_dir).expanduser().resolve() / "builtin")
    if config.objaverse_root is not None:
        records += objaverse_records(ObjaverseMirror(Path(config.objaverse_root).expanduser().resolve()), warnings)
    for folder in config.local_dirs:
        records += local_records(Path(folder), warnings)
    return records


def _previous_hashes(catalog_dir: Path, warnings: list[str]) -> dict[str, tuple[int, int, str]]:
    """``{path: (size, mtime_ns, sha256)}`` from the previous catalog, if any."""
    path = catalog_path(catalog_dir)
    if not path.is_file():
        return {}
    try:
        df = read_catalog(catalog_dir)
    except ValueError as exc:
        warnings.append(f"previous catalog ignored: {exc}")
        return {}
    df = df[df["sha256"].fillna("") != ""]
    return {p: (int(s), int(m), h) for p, s, m, h in zip(df["path"], df["file_size"], df["mtime_ns"], df["sha256"])}


def _compute_many(tasks: list[tuple[str, str]], workers: int, progress: bool,
                  on_result) -> None:
    """Run :func:`compute_stats` over ``tasks`` ((path, format) pairs), in a spawn process pool if workers > 1."""
    from tqdm import tqdm

    bar = tqdm(total=len(tasks), desc="mesh stats", unit="file", disable=not progress or not tasks)
    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            on_result(task, compute_stats(*task))
            bar.update()
    else:
        from concurrent.futures import ProcessPoolExecutor

        chunksize = max(1, min(64, len(tasks) // (workers * 8)))
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for task, result in zip(tasks, pool.map(_compute_task, tasks, chunksize=chunksize)):
                on_result(task, result)
                bar.update()
    bar.close()


def _compute_task(task: tuple[str, str]) -> dict:
    return compute_stats(*task)


def build_catalog(config: BuildConfig) -> tuple["pd.DataFrame", BuildReport]:
    """Build (or incrementally rebuild) the catalog described by ``config`` and write it."""
    import pandas as pd

    catalog_dir = Path(config.catalog_dir).expanduser()
    report = BuildReport()
    records = _gather(config, report.warnings)
    known = _previous_hashes(catalog_dir, report.warnings)
    cache_file = catalog_dir / STATS_CACHE_FILE
    cache = load_stats_cache(cache_file, report.warnings)

    rows: list[dict] = []
    for record in records:
        rows.append(_hash_row(record, known, report))
    rows = _dedupe(rows, report)

    todo = sorted({(r["sha256"], r["format"]): r["path"] for r in rows
                   if r["sha256"] and (r["sha256"], r["format"]) not in cache}.items())
    report.stats_cached = sum(1 for r in rows if r["sha256"] and (r["sha256"], r["format"]) in cache)
    tasks = [(path, fmt) for (_, fmt), path in todo]
    key_of = {(path, key[1]): key for key, path in todo}
    pending = 0

    def on_result(task: tuple[str, str], result: dict) -> None:
        nonlocal pending
        cache[key_of[task]] = result
        report.stats_computed += 1
        pending += 1
        if pending >= _CACHE_FLUSH_EVERY:  # a long build that is interrupted keeps its progress
            save_stats_cache(cache_file, cache)
            pending = 0

    _compute_many(tasks, config.workers, config.progress, on_result)
    if tasks or not cache_file.is_file():
        save_stats_cache(cache_file, cache)

    for row in rows:
        if row["sha256"]:
            row.update(cache[(row["sha256"], row["format"])])
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    df = df.sort_values(["source", "uid"], kind="stable").reset_index(drop=True)
    report.catalog_path = str(write_catalog(df, catalog_dir))
    report.rows = len(df)
    report.ok = int((df["status"] == "ok").sum())
    report.failed = report.rows - report.ok
    return read_catalog(catalog_dir), report


def _hash_row(record: AssetRecord, known: dict[str, tuple[int, int, str]], report: BuildReport) -> dict:
    """The catalog row of ``record`` without statistics: identity, file facts, licence, category."""
    path = str(record.path)
    row = {
        "uid": record.uid, "source": record.source, "path": path, "format": mesh_format(record.path),
        "sha256": "", "file_size": None, "mtime_ns": None, "license": record.license,
        "commercial_use": is_commercial_safe(record.license), "attribution_name": record.attribution_name,
        "attribution_author": record.attribution_author, "attribution_url": record.attribution_url,
        "category": record.category, "category_source": record.category_source, "tags": list(record.tags),
        **{c: None for c in RESULT_COLUMNS},
    }
    try:
        row["file_size"], row["mtime_ns"] = size, mtime_ns = asset_stat(Path(path))  # .gltf: with its files
        previous = known.get(path)
        if previous is not None and previous[:2] == (size, mtime_ns):
            row["sha256"] = previous[2]
            report.hash_reused += 1
        else:
            row["sha256"] = asset_sha256(Path(path))
            report.hashed += 1
    except (OSError, ValueError) as exc:
        row.update(status="failed", failure_reason=UNREADABLE, failure_detail=f"{type(exc).__name__}: {exc}")
    if row["uid"] is None:
        row["uid"] = row["sha256"][:16] if row["sha256"] else "unreadable-" + hashlib.sha256(path.encode()).hexdigest()[:16]
    return row


def _dedupe(rows: list[dict], report: BuildReport) -> list[dict]:
    """Keep the first row of each uid (local files with identical bytes share a uid)."""
    seen: dict[str, str] = {}
    out = []
    for row in rows:
        if row["uid"] in seen:
            report.duplicates += 1
            report.warnings.append(f"{row['path']}: same uid {row['uid']} as {seen[row['uid']]}; skipped")
            continue
        seen[row["uid"]] = row["path"]
        out.append(row)
    return out


def find_asset(df: "pd.DataFrame", uid: str) -> dict:
    """The catalog row of ``uid`` as a dict; ``KeyError`` with a one-line message if absent."""
    matches = df[df["uid"] == uid]
    if len(matches) == 0:
        raise KeyError(f"uid {uid!r} is not in the catalog ({len(df)} rows)")
    return matches.iloc[0].to_dict()
