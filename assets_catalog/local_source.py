"""Local folders of mesh files and the built-in models, as catalog records."""

from __future__ import annotations

from pathlib import Path

from assets_catalog.asset_info import info_for_file
from assets_catalog.builtin import builtin_names, export_builtin, get_builtin
from assets_catalog.files import SUPPORTED_EXTENSIONS, mesh_format
from assets_catalog.records import AssetRecord
from assets_catalog.resolve import builtin_uid


def _mesh_files(root: Path) -> list[Path]:
    """Supported mesh files under ``root``, recursively, skipping hidden folders and files; sorted."""
    found = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.is_file() and mesh_format(path) in SUPPORTED_EXTENSIONS:
            found.append(path)
    return sorted(found)


def local_records(root: Path, warnings: list[str]) -> list[AssetRecord]:
    """Records of the mesh files under ``root``; licence and attribution from ``ASSET_INFO`` files.

    The category comes from ``ASSET_INFO`` or, failing that, from the name of the file's folder when it
    is below ``root``. The uid is filled in later from the file's sha256.
    """
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"local asset folder not found: {root}")
    records = []
    for path in _mesh_files(root):
        info = info_for_file(path, stop_at=root)
        if info.category:
            category, category_source = info.category, "asset_info"
        elif path.parent != root:
            category, category_source = path.parent.name, "folder"
        else:
            category, category_source = "", ""
        records.append(AssetRecord(
            source="local", path=path, license=info.license, attribution_name=info.name or path.stem,
            attribution_author=info.author, attribution_url=info.url, category=category,
            category_source=category_source,
        ))
    if not records:
        warnings.append(f"{root}: no mesh files ({', '.join(SUPPORTED_EXTENSIONS)})")
    return records


def builtin_records(out_dir: Path) -> list[AssetRecord]:
    """Records of the built-in models, exported to ``out_dir`` (deterministic GLBs)."""
    records = []
    for name in builtin_names():
        asset = get_builtin(name)
        records.append(AssetRecord(
            source="builtin", path=export_builtin(name, out_dir), uid=builtin_uid(name), license=asset.license,
            attribution_name=name, attribution_author=asset.author, attribution_url=asset.url,
            category=asset.category, category_source="builtin",
        ))
    return records
