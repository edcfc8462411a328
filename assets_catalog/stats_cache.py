"""Cache of mesh statistics keyed by (sha256, format), so rebuilds only measure new or changed files."""

from __future__ import annotations

from pathlib import Path

from assets_catalog.parquet_io import read_parquet_checked, write_parquet_atomic
from assets_catalog.stats import STAT_COLUMNS, STATS_VERSION

CACHE_KIND = "stats-cache"
CACHE_SCHEMA_VERSION = 1
RESULT_COLUMNS = STAT_COLUMNS + ("status", "failure_reason", "failure_detail")
_INT = ("face_count", "vertex_count", "geometry_count", "animation_count", "armature_count", "components")
_BOOL = ("watertight",)


def _schema():
    import pyarrow as pa

    fields = [pa.field("sha256", pa.string()), pa.field("format", pa.string())]
    for name in RESULT_COLUMNS:
        kind = pa.int64() if name in _INT else pa.bool_() if name in _BOOL else \
            pa.string() if name in ("status", "failure_reason", "failure_detail") else pa.float64()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


def load_stats_cache(path: Path, warnings: list[str]) -> dict[tuple[str, str], dict]:
    """``{(sha256, format): stats row}``; empty (with a warning) if the file is absent, stale or unreadable."""
    if not Path(path).is_file():
        return {}
    try:
        df, meta = read_parquet_checked(path, CACHE_KIND, CACHE_SCHEMA_VERSION)
    except ValueError as exc:
        warnings.append(f"stats cache ignored: {exc}")
        return {}
    if meta.get("posetraj.stats_version") != str(STATS_VERSION):
        warnings.append(f"stats cache {path} was made by stats version {meta.get('posetraj.stats_version')}; "
                        f"recomputing")
        return {}
    out = {}
    for row in df.to_dict("records"):
        key = (row.pop("sha256"), row.pop("format"))
        out[key] = {k: (None if _isna(v) else v) for k, v in row.items()}
    return out


def _isna(value: object) -> bool:
    import pandas as pd

    return value is None or (not isinstance(value, (list, tuple, str)) and bool(pd.isna(value)))


def save_stats_cache(path: Path, cache: dict[tuple[str, str], dict]) -> None:
    """Write the cache atomically."""
    import pandas as pd

    rows = [{"sha256": sha, "format": fmt, **{c: stats.get(c) for c in RESULT_COLUMNS}}
            for (sha, fmt), stats in sorted(cache.items())]
    df = pd.DataFrame(rows, columns=["sha256", "format", *RESULT_COLUMNS])
    write_parquet_atomic(df, path, _schema(), CACHE_KIND, CACHE_SCHEMA_VERSION,
                         extra={"posetraj.stats_version": str(STATS_VERSION)})
