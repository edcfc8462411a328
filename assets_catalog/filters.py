"""Catalog filters: licence, category, face count, flatness, rigs, file size, source, status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from assets_catalog.licenses import COMMERCIAL_SAFE

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_MIN_FLATNESS = 0.1  # the PoseTraj filter: height / width below 0.1 is "flat" and rejected


@dataclass(frozen=True)
class CatalogFilter:
    """Which rows to keep. ``None`` or empty means "no constraint" for that criterion.

    ``min_flatness`` compares the ``flatness`` column (height over the larger horizontal extent); rows
    below it are rejected. ``only_ok`` drops rows whose statistics failed.
    """

    licenses: tuple[str, ...] = ()
    commercial_safe: bool = False
    include_categories: tuple[str, ...] = ()
    exclude_categories: tuple[str, ...] = ()
    min_faces: int | None = None
    max_faces: int | None = None
    min_flatness: float | None = DEFAULT_MIN_FLATNESS
    no_armatures: bool = False
    no_animations: bool = False
    min_file_size: int | None = None
    max_file_size: int | None = None
    sources: tuple[str, ...] = ()
    uids: frozenset[str] | None = None  # e.g. a named subset
    only_ok: bool = True


def apply_filter(df: "pd.DataFrame", spec: CatalogFilter) -> tuple["pd.DataFrame", dict[str, int]]:
    """Rows of ``df`` that pass ``spec``, and how many rows each criterion removed (in order applied)."""
    removed: dict[str, int] = {}

    def keep(name: str, mask) -> None:
        nonlocal df
        mask = mask.fillna(False).astype(bool)
        removed[name] = int((~mask).sum())
        df = df[mask]

    if spec.only_ok:
        keep("status", df["status"] == "ok")
    if spec.uids is not None:
        keep("subset", df["uid"].isin(spec.uids))
    if spec.sources:
        keep("source", df["source"].isin(spec.sources))
    if spec.commercial_safe:
        keep("commercial_safe", df["license"].isin(sorted(COMMERCIAL_SAFE)))
    if spec.licenses:
        keep("license", df["license"].isin(spec.licenses))
    if spec.include_categories:
        keep("include_categories", _category_mask(df, spec.include_categories))
    if spec.exclude_categories:
        keep("exclude_categories", ~_category_mask(df, spec.exclude_categories))
    if spec.min_faces is not None:
        keep("min_faces", df["face_count"] >= spec.min_faces)
    if spec.max_faces is not None:
        keep("max_faces", df["face_count"] <= spec.max_faces)
    if spec.min_flatness is not None and spec.min_flatness > 0:
        keep("flatness", df["flatness"] >= spec.min_flatness)
    if spec.no_armatures:
        keep("armatures", df["armature_count"] == 0)
    if spec.no_animations:
        keep("animations", df["animation_count"] == 0)
    if spec.min_file_size is not None:
        keep("min_file_size", df["file_size"] >= spec.min_file_size)
    if spec.max_file_size is not None:
        keep("max_file_size", df["file_size"] <= spec.max_file_size)
    return df, removed


def _category_mask(df: "pd.DataFrame", categories: tuple[str, ...]):
    """Rows whose category (case-insensitive) is one of ``categories``."""
    wanted = {c.strip().lower() for c in categories}
    return df["category"].fillna("").str.lower().isin(wanted)
