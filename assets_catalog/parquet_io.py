"""Versioned, atomic Parquet files (catalog, stats cache, splits).

Each file carries ``posetraj.kind`` and ``posetraj.schema_version`` in the Parquet key-value metadata;
readers refuse a file of another kind or version with a one-line error. Writes go to a temporary file
in the same folder, are fsynced, then renamed over the target.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from common.atomic import write_atomic

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

KIND_KEY = b"posetraj.kind"
VERSION_KEY = b"posetraj.schema_version"


def write_parquet_atomic(df: "pd.DataFrame", path: Path, schema: "pa.Schema", kind: str, version: int,
                         extra: dict[str, str] | None = None) -> None:
    """Write ``df`` with ``schema`` to ``path`` atomically, tagged with ``kind`` and ``version``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df[list(schema.names)], schema=schema, preserve_index=False)
    metadata = {KIND_KEY: kind.encode(), VERSION_KEY: str(version).encode()}
    metadata.update({k.encode(): v.encode() for k, v in (extra or {}).items()})
    table = table.replace_schema_metadata(metadata)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp: Path) -> None:
        pq.write_table(table, tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())

    write_atomic(path, write)


def read_parquet_checked(path: Path, kind: str, version: int) -> tuple["pd.DataFrame", dict[str, str]]:
    """Read a file written by :func:`write_parquet_atomic`; returns (frame, metadata as str dict)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{kind} file not found: {path}")
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise ValueError(f"{path}: not a readable Parquet file ({exc})") from None
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items() if not k.startswith(b"pandas")}
    if meta.get(KIND_KEY.decode()) != kind:
        raise ValueError(f"{path}: not a posetraj {kind} file (kind={meta.get(KIND_KEY.decode())!r})")
    if meta.get(VERSION_KEY.decode()) != str(version):
        raise ValueError(f"{path}: {kind} schema version {meta.get(VERSION_KEY.decode())!r} is not supported "
                         f"(this code reads version {version}); rebuild it")
    mapper = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}.get
    return table.to_pandas(types_mapper=mapper), meta
