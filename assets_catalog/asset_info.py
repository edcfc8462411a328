"""Per-folder licence and attribution files (``ASSET_INFO.yaml`` / ``.yml`` / ``.json``).

A folder of local assets may hold one such file; it applies to the mesh files in that folder and,
for catalog scans, in its sub-folders up to the scanned root (the nearest file wins)::

    schema_version: 1          # optional, 1 is the only version
    license: by                # folder default: a CC slug or free text (normalised)
    author: Jane Doe
    url: https://example.org/pack
    name: Furniture pack       # optional; the default display name is the file stem
    category: chair            # optional folder default category
    files:                     # optional per-file overrides, keyed by the file name in this folder
      stool.glb: {license: cc0, name: Stool, author: John Roe, url: https://example.org/stool}

An unreadable or malformed file is an error naming the file (licences must never be guessed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from assets_catalog.licenses import UNKNOWN, normalize_license

ASSET_INFO_NAMES = ("ASSET_INFO.yaml", "ASSET_INFO.yml", "ASSET_INFO.json")
ASSET_INFO_SCHEMA_VERSION = 1
_FIELDS = ("license", "author", "url", "name", "category")


@dataclass(frozen=True)
class AssetInfo:
    """Licence, attribution and category of one local file (empty strings when not given)."""

    license: str = UNKNOWN
    name: str = ""
    author: str = ""
    url: str = ""
    category: str = ""
    info_file: str = ""  # the ASSET_INFO file these values came from ('' if none)


def find_info_file(folder: Path) -> Path | None:
    """The ASSET_INFO file in ``folder``, if any."""
    for name in ASSET_INFO_NAMES:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def _load(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # yaml.YAMLError / json.JSONDecodeError: report the file, not a traceback
        raise ValueError(f"{path}: cannot parse asset info file: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: asset info file must be a mapping, got {type(data).__name__}")
    version = data.get("schema_version", ASSET_INFO_SCHEMA_VERSION)
    if version != ASSET_INFO_SCHEMA_VERSION:
        raise ValueError(f"{path}: unsupported schema_version {version!r} (supported: {ASSET_INFO_SCHEMA_VERSION})")
    files = data.get("files", {}) or {}
    if not isinstance(files, dict) or not all(isinstance(v, dict) for v in files.values()):
        raise ValueError(f"{path}: 'files' must map file names to mappings")
    return data


def info_for_file(mesh_path: Path, stop_at: Path | None = None) -> AssetInfo:
    """Licence and attribution for ``mesh_path`` from the nearest ASSET_INFO file.

    Looks in the file's folder, then its parents up to ``stop_at`` (inclusive); with ``stop_at=None``
    only the file's own folder is searched.
    """
    mesh_path = Path(mesh_path).resolve()
    folder = mesh_path.parent
    stop = Path(stop_at).resolve() if stop_at is not None else folder
    while True:
        info_path = find_info_file(folder)
        if info_path is not None:
            return _info_from(info_path, mesh_path)
        if folder == stop or folder.parent == folder or stop not in folder.parents:
            return AssetInfo()
        folder = folder.parent


def _info_from(info_path: Path, mesh_path: Path) -> AssetInfo:
    data = _load(info_path)
    values = {k: data.get(k) for k in _FIELDS}
    if info_path.parent == mesh_path.parent:
        override = data.get("files", {}).get(mesh_path.name, {})
        values.update({k: v for k, v in override.items() if k in _FIELDS})
    return AssetInfo(
        license=normalize_license(values["license"]),
        name=str(values["name"] or ""),
        author=str(values["author"] or ""),
        url=str(values["url"] or ""),
        category=str(values["category"] or ""),
        info_file=str(info_path),
    )
