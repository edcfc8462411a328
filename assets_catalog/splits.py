"""Deterministic train / val / test / benchmark splits by a stable hash of the uid.

Each uid maps to two numbers in [0, 1) taken from sha256 (never Python's salted ``hash()``):
``u_bench = H("benchmark", salt, uid)`` and ``u_split = H("split", salt, uid)``. A uid is in
``benchmark`` if ``u_bench < benchmark_fraction`` or it is listed in ``benchmark_uids``; every other
uid goes to train / val / test by ``u_split`` and the three fractions. So:

* a uid's split depends only on the uid, the salt and the fractions, never on the other rows: adding
  assets to the catalog never moves existing ones;
* ``benchmark`` is decided first, so it is disjoint from train / val / test by construction, and
  changing the train / val / test fractions never changes it.

Splits are stored as ``splits.parquet`` (uid, split; config in the key-value metadata).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from assets_catalog.parquet_io import read_parquet_checked, write_parquet_atomic

if TYPE_CHECKING:
    import pandas as pd

SPLITS_KIND = "asset-splits"
SPLITS_SCHEMA_VERSION = 1
SPLITS_FILE = "splits.parquet"
SPLIT_NAMES = ("train", "val", "test", "benchmark")
TRAINING_SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SplitConfig:
    """Fractions (train + val + test = 1 of the non-benchmark uids) and the hash salt."""

    train: float = 0.8
    val: float = 0.1
    test: float = 0.1
    benchmark_fraction: float = 0.05
    salt: str = "posetraj-splits-v1"
    benchmark_uids: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if min(self.train, self.val, self.test) < 0 or abs(self.train + self.val + self.test - 1.0) > 1e-9:
            raise ValueError(f"train + val + test must be 1 with no negative part, got "
                             f"{self.train} + {self.val} + {self.test}")
        if not 0.0 <= self.benchmark_fraction < 1.0:
            raise ValueError(f"benchmark_fraction must be in [0, 1), got {self.benchmark_fraction}")


def unit_hash(*parts: str) -> float:
    """A number in [0, 1) from sha256 of the parts joined by NUL (stable across runs and machines)."""
    digest = hashlib.sha256("\0".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def split_of(uid: str, config: SplitConfig) -> str:
    """The split of one uid."""
    if uid in config.benchmark_uids or unit_hash("benchmark", config.salt, uid) < config.benchmark_fraction:
        return "benchmark"
    u = unit_hash("split", config.salt, uid)
    if u < config.train:
        return "train"
    if u < config.train + config.val:
        return "val"
    return "test"


def assign_splits(uids: Iterable[str], config: SplitConfig) -> "pd.Series":
    """``Series`` uid -> split name for ``uids``."""
    import pandas as pd

    uids = list(uids)
    return pd.Series([split_of(u, config) for u in uids], index=pd.Index(uids, name="uid"), name="split")


def _config_json(config: SplitConfig) -> str:
    data = asdict(config)
    data["benchmark_uids"] = sorted(config.benchmark_uids)
    return json.dumps(data, sort_keys=True)


def write_splits(splits: "pd.Series", config: SplitConfig, catalog_dir: Path) -> Path:
    """Store ``splits`` as ``<catalog_dir>/splits.parquet`` atomically, with the config in the metadata."""
    import pyarrow as pa

    path = Path(catalog_dir).expanduser() / SPLITS_FILE
    frame = splits.rename("split").reset_index()
    schema = pa.schema([pa.field("uid", pa.string()), pa.field("split", pa.string())])
    write_parquet_atomic(frame, path, schema, SPLITS_KIND, SPLITS_SCHEMA_VERSION,
                         extra={"posetraj.split_config": _config_json(config)})
    return path


def read_splits(catalog_dir: Path) -> "pd.Series":
    """The stored splits (``Series`` uid -> split); ``FileNotFoundError`` with a hint if absent."""
    path = Path(catalog_dir).expanduser() / SPLITS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no splits at {path}; run 'posetraj catalog split' first")
    df, _ = read_parquet_checked(path, SPLITS_KIND, SPLITS_SCHEMA_VERSION)
    return df.set_index("uid")["split"]


def split_assets(catalog_dir: Path, split: str) -> list[str]:
    """Mesh paths of the catalog's usable rows (``status == 'ok'``) in ``split``, sorted; ``ValueError``
    when the split name is unknown or holds no usable asset."""
    from assets_catalog.catalog import read_catalog

    if split not in SPLIT_NAMES:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLIT_NAMES)}")
    table = read_catalog(Path(catalog_dir))
    splits = read_splits(Path(catalog_dir))
    rows = table[(table["status"] == "ok") & (table["uid"].map(splits) == split)]
    if rows.empty:
        raise ValueError(f"{catalog_dir}: no usable assets in the {split!r} split")
    return sorted(str(p) for p in rows["path"])
