"""Resolve an asset reference from the command line to a file with licence and attribution.

A reference is ``builtin:NAME`` (a procedural model, exported to ``<cache_dir>/builtin/NAME.glb``) or
a path to a mesh file. For a file, the uid is the first 16 hex digits of its sha256 and the licence is
``unknown`` unless an ``ASSET_INFO`` file in its folder says otherwise (see ``asset_info.py``) or a
catalog passed in has a row with the same sha256 (its uid, licence, attribution and category win).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from assets_catalog.asset_info import info_for_file
from assets_catalog.builtin import BUILTIN_SCHEME, export_builtin, get_builtin
from assets_catalog.files import asset_sha256, check_supported
from assets_catalog.licenses import UNKNOWN
from common.hashing import sha256_file

BUILTIN_UID_PREFIX = "builtin-"


@dataclass(frozen=True)
class ResolvedAsset:
    """A mesh file ready to import, with what a clip's metadata must record about it."""

    source: str  # "builtin" | "local" | "objaverse"
    uid: str
    path: Path
    sha256: str
    license: str = UNKNOWN
    attribution: dict[str, str] = field(default_factory=lambda: {"name": "", "author": "", "url": ""})
    category: str = ""


def builtin_uid(name: str) -> str:
    """Catalog uid of a built-in model (``builtin-<name>``)."""
    return BUILTIN_UID_PREFIX + get_builtin(name).name


def resolve_asset(ref: str, cache_dir: Path, catalog: "object | None" = None) -> ResolvedAsset:
    """Resolve ``ref`` (``builtin:NAME`` or a mesh file path) to a :class:`ResolvedAsset`.

    ``catalog`` is an optional catalog table (``pandas.DataFrame`` as read by
    ``assets_catalog.catalog.read_catalog``); a row with the file's sha256 supplies uid, licence,
    attribution and category. Raises ``ValueError`` for unknown built-ins or unsupported extensions and
    ``FileNotFoundError`` for missing files.
    """
    if ref.startswith(BUILTIN_SCHEME):
        asset = get_builtin(ref[len(BUILTIN_SCHEME):])
        path = export_builtin(asset.name, Path(cache_dir) / "builtin")
        return ResolvedAsset(
            source="builtin", uid=builtin_uid(asset.name), path=path, sha256=sha256_file(path),
            license=asset.license,
            attribution={"name": asset.name, "author": asset.author, "url": asset.url},
            category=asset.category,
        )
    path = Path(ref).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"asset file not found: {path}")
    check_supported(path)
    path = path.resolve()
    digest = asset_sha256(path)
    row = _catalog_row(catalog, digest)
    if row is not None:
        return ResolvedAsset(
            source=str(row["source"]), uid=str(row["uid"]), path=path, sha256=digest,
            license=str(row["license"]),
            attribution={"name": str(row["attribution_name"]), "author": str(row["attribution_author"]),
                         "url": str(row["attribution_url"])},
            category=str(row["category"]),
        )
    info = info_for_file(path)
    return ResolvedAsset(
        source="local", uid=digest[:16], path=path, sha256=digest, license=info.license,
        attribution={"name": info.name or path.stem, "author": info.author, "url": info.url},
        category=info.category,
    )


def _catalog_row(catalog: "object | None", digest: str) -> "dict | None":
    if catalog is None or len(catalog) == 0:
        return None
    matches = catalog[catalog["sha256"] == digest]
    if len(matches) == 0:
        return None
    return matches.iloc[0].to_dict()
