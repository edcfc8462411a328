"""Objaverse 1.0: read a local mirror offline, download selected objects when online.

The mirror has the layout of the ``objaverse`` package (0.1.7) under a configurable root (default
``~/.objaverse``; the package itself hard-codes that path)::

    <root>/hf-objaverse-v1/object-paths.json.gz        {uid: "glbs/000-023/<uid>.glb"}
    <root>/hf-objaverse-v1/metadata/000-023.json.gz    {uid: Sketchfab annotation} (one shard per group)
    <root>/hf-objaverse-v1/lvis-annotations.json.gz    {lvis_category: [uid, ...]}
    <root>/hf-objaverse-v1/glbs/000-023/<uid>.glb

The files are read directly (the same files the package reads), so a build needs no network and
works with any root. A missing or unreadable annotation file is reported as a warning and its fields
stay empty; it never stops a build. Downloads use the package's naming (``<file>.tmp`` renamed when
complete), run in parallel threads with a progress bar, and resume an interrupted ``.tmp`` with an
HTTP range request.
"""

from __future__ import annotations

import gzip
import json
import os
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from assets_catalog.licenses import normalize_license
from assets_catalog.records import AssetRecord

DEFAULT_ROOT = Path("~/.objaverse")
VERSION_DIR = "hf-objaverse-v1"
BASE_URL = "https://huggingface.co/datasets/allenai/objaverse/resolve/main"
OBJECT_PATHS = "object-paths.json.gz"
LVIS = "lvis-annotations.json.gz"


@dataclass(frozen=True)
class ObjaverseMirror:
    """A local Objaverse 1.0 mirror rooted at ``root`` (the folder holding ``hf-objaverse-v1``)."""

    root: Path = DEFAULT_ROOT

    @property
    def base(self) -> Path:
        return Path(self.root).expanduser() / VERSION_DIR

    def glb_path(self, uid: str, group: str) -> Path:
        return self.base / "glbs" / group / f"{uid}.glb"


def local_objects(mirror: ObjaverseMirror) -> dict[str, Path]:
    """``{uid: path}`` of every complete ``.glb`` in the mirror (``.tmp`` downloads are ignored)."""
    glbs = mirror.base / "glbs"
    if not glbs.is_dir():
        return {}
    return {p.stem: p for p in sorted(glbs.glob("*/*.glb")) if p.is_file()}


def _read_json_gz(path: Path, warnings: list[str]) -> object | None:
    """Parsed JSON of a gzipped file, or ``None`` with a warning if it is missing or unreadable."""
    if not path.is_file():
        warnings.append(f"{path}: missing (annotation fields left empty)")
        return None
    try:
        with gzip.open(path, "rb") as handle:
            return json.load(handle)
    except (OSError, EOFError, ValueError) as exc:
        warnings.append(f"{path}: unreadable ({type(exc).__name__}: {exc}); annotation fields left empty")
        return None


def load_annotations(mirror: ObjaverseMirror, uids_by_group: dict[str, set[str]],
                     warnings: list[str]) -> dict[str, dict]:
    """Sketchfab annotations of the given uids, reading only the metadata shards of their groups."""
    out: dict[str, dict] = {}
    for group in sorted(uids_by_group):
        data = _read_json_gz(mirror.base / "metadata" / f"{group}.json.gz", warnings)
        if not isinstance(data, dict):
            if data is not None:
                warnings.append(f"metadata shard {group}: not a JSON object; ignored")
            continue
        for uid in uids_by_group[group]:
            record = data.get(uid)
            if isinstance(record, dict):
                out[uid] = record
    return out


def load_lvis(mirror: ObjaverseMirror, warnings: list[str]) -> dict[str, str]:
    """``{uid: LVIS category}`` (empty if the file is missing or unreadable)."""
    data = _read_json_gz(mirror.base / LVIS, warnings)
    out: dict[str, str] = {}
    if isinstance(data, dict):
        for category, uids in sorted(data.items()):
            for uid in uids if isinstance(uids, list) else []:
                out.setdefault(str(uid), str(category))
    return out


def _names(items: object) -> list[str]:
    """Names from Sketchfab ``tags`` / ``categories`` lists (dicts with ``name``, or plain strings)."""
    names = []
    for item in items if isinstance(items, list) else []:
        name = item.get("name") if isinstance(item, dict) else item
        if isinstance(name, str) and name.strip():
            names.append(name.strip())
    return names


def record_from_annotation(uid: str, path: Path, annotation: dict | None, lvis_category: str | None) -> AssetRecord:
    """Catalog record of one object; every annotation field is optional."""
    ann = annotation or {}
    user = ann.get("user") if isinstance(ann.get("user"), dict) else {}
    tags = _names(ann.get("tags"))
    categories = _names(ann.get("categories"))
    if lvis_category:
        category, category_source = lvis_category, "lvis"
    elif categories:
        category, category_source = categories[0], "sketchfab"
    elif tags:
        category, category_source = tags[0], "tag"
    else:
        category, category_source = "", ""
    return AssetRecord(
        source="objaverse", path=path, uid=uid, license=normalize_license(ann.get("license")),
        attribution_name=str(ann.get("name") or ""),
        attribution_author=str(user.get("displayName") or user.get("username") or ""),
        attribution_url=str(ann.get("viewerUrl") or ann.get("uri") or ""),
        category=category, category_source=category_source, tags=categories + tags,
    )


def objaverse_records(mirror: ObjaverseMirror, warnings: list[str]) -> list[AssetRecord]:
    """Records of every object present in the mirror, annotated where annotations exist."""
    objects = local_objects(mirror)
    if not objects:
        warnings.append(f"{mirror.base}: no Objaverse objects found")
        return []
    by_group: dict[str, set[str]] = {}
    for uid, path in objects.items():
        by_group.setdefault(path.parent.name, set()).add(uid)
    annotations = load_annotations(mirror, by_group, warnings)
    lvis = load_lvis(mirror, warnings)
    missing = len(objects) - len(annotations)
    if missing:
        warnings.append(f"{missing} of {len(objects)} Objaverse objects have no annotation (licence 'unknown')")
    return [record_from_annotation(uid, path, annotations.get(uid), lvis.get(uid)) for uid, path in objects.items()]


# ------------------------------------------------------------------------------------------------
# Downloads


@dataclass
class FetchReport:
    """Outcome of :func:`fetch_objects`."""

    present: list[str] = field(default_factory=list)
    downloaded: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # not in object-paths.json.gz
    failed: dict[str, str] = field(default_factory=dict)  # uid -> error


def download_file(url: str, dest: Path, timeout: float = 60.0) -> None:
    """Download ``url`` to ``dest`` through ``dest + '.tmp'``, resuming a partial ``.tmp`` if present."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    start = tmp.stat().st_size if tmp.is_file() else 0
    headers = {"Range": f"bytes={start}-"} if start else {}
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code != 416 or not start:  # 416: the range is past the end; start over
            raise
        tmp.unlink()
        response = urllib.request.urlopen(url, timeout=timeout)
        start = 0
    with response:
        mode = "ab" if start and response.status == 206 else "wb"
        with open(tmp, mode) as handle:
            while chunk := response.read(1 << 20):
                handle.write(chunk)
    os.replace(tmp, dest)


def _object_paths(mirror: ObjaverseMirror, base_url: str, download: bool) -> dict[str, str]:
    path = mirror.base / OBJECT_PATHS
    if not path.is_file() and download:
        download_file(f"{base_url}/{OBJECT_PATHS}", path)
    warnings: list[str] = []
    data = _read_json_gz(path, warnings)
    if not isinstance(data, dict):
        raise FileNotFoundError(f"cannot map uids to files: {'; '.join(warnings) or path}")
    return data


def fetch_objects(mirror: ObjaverseMirror, uids: list[str], workers: int = 8, base_url: str = BASE_URL,
                  annotations: bool = True, progress: bool = True) -> FetchReport:
    """Make the given objects (and, with ``annotations``, their metadata shards and the LVIS file) local.

    Objects already in the mirror are not downloaded again; interrupted downloads resume.
    """
    from tqdm import tqdm

    paths = _object_paths(mirror, base_url, download=True)
    report = FetchReport()
    todo: list[tuple[str, str]] = []
    for uid in dict.fromkeys(uids):
        rel = paths.get(uid)
        if rel is None:
            report.unknown.append(uid)
        elif (mirror.base / rel).is_file():
            report.present.append(uid)
        else:
            todo.append((uid, rel))
    if annotations:
        groups = {Path(paths[u]).parent.name for u in uids if u in paths}
        for rel in [f"metadata/{g}.json.gz" for g in sorted(groups)] + [LVIS]:
            if not (mirror.base / rel).is_file():
                todo.append(("", rel))
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(download_file, f"{base_url}/{rel}", mirror.base / rel): (uid, rel) for uid, rel in todo}
        for future in tqdm(as_completed(futures), total=len(futures), desc="objaverse download", unit="file",
                           disable=not progress or not futures):
            uid, rel = futures[future]
            error = future.exception()
            key = uid or rel
            if error is None:
                if uid:
                    report.downloaded.append(uid)
            else:
                report.failed[key] = f"{type(error).__name__}: {error}"
    return report
