"""Content-addressed cache of generated videos and tracks, so a re-run computes only what changed."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np

from common.atomic import write_atomic

CACHE_SCHEMA_VERSION = 1


def content_key(*parts: object) -> str:
    """sha256 of JSON-serialisable parts and raw byte strings, in order."""
    digest = hashlib.sha256(f"cache-v{CACHE_SCHEMA_VERSION}".encode())
    for part in parts:
        digest.update(part if isinstance(part, bytes) else json.dumps(part, sort_keys=True, default=str).encode())
        digest.update(b"\0")
    return digest.hexdigest()


def array_sha256(array: np.ndarray) -> str:
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


class ArrayCache:
    """``<root>/<kind>/<key[:2]>/<key>.npz``; entries are written atomically and never modified."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, kind: str, key: str) -> Path:
        return self.root / kind / key[:2] / f"{key}.npz"

    def get(self, kind: str, key: str) -> dict[str, np.ndarray] | None:
        path = self._path(kind, key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError):
            return None  # a damaged entry is recomputed and replaced

    def put(self, kind: str, key: str, **arrays: np.ndarray) -> Path:
        path = self._path(kind, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # a unique temporary name (several harness processes, on several hosts, may share one cache), with
        # the permissions of any new file so that the other users of a shared cache can read it

        def write(tmp: Path) -> None:
            # stored uncompressed: compressing video frames costs more time than the tracking it saves
            with open(tmp, "wb") as raw, zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_STORED) as archive:
                for name, array in arrays.items():
                    with archive.open(f"{name}.npy", "w", force_zip64=True) as handle:
                        np.lib.format.write_array(handle, np.asanyarray(array), allow_pickle=False)

        write_atomic(path, write, suffix=".tmp.npz")
        return path
