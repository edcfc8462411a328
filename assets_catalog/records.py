"""The per-asset record every source produces before hashing and statistics."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from assets_catalog.licenses import UNKNOWN


@dataclass
class AssetRecord:
    """One mesh file found by a source, with the metadata the source knows about it.

    ``uid`` is ``None`` for sources whose uid is derived from the file's sha256 (local folders).
    """

    source: str
    path: Path
    uid: str | None = None
    license: str = UNKNOWN
    attribution_name: str = ""
    attribution_author: str = ""
    attribution_url: str = ""
    category: str = ""
    category_source: str = ""  # "lvis" | "sketchfab" | "tag" | "asset_info" | "folder" | "builtin" | ""
    tags: list[str] = field(default_factory=list)
