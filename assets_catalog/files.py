"""Mesh file formats the suite accepts, content hashing, and atomic JSON writes."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

SUPPORTED_EXTENSIONS = ("glb", "gltf", "obj", "fbx", "ply", "stl", "usd", "usda", "usdc", "usdz")
_CHUNK = 1 << 20


def mesh_format(path: Path) -> str:
    """The lower-case extension of ``path`` without the dot ('' if none)."""
    return Path(path).suffix.lower().lstrip(".")


def check_supported(path: Path) -> str:
    """Return the format of ``path``; ``ValueError`` listing the supported ones if it is not a mesh file."""
    fmt = mesh_format(path)
    if fmt not in SUPPORTED_EXTENSIONS:
        raise ValueError(f"{path}: unsupported mesh file extension {'.' + fmt if fmt else '(none)'}; "
                         f"supported: {', '.join(SUPPORTED_EXTENSIONS)}")
    return fmt


def sha256_file(path: Path) -> str:
    """Hex sha256 of the file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_json_atomic(path: Path, data: object) -> None:
    """Write JSON to ``path`` through a uniquely named temporary sibling and a rename, so readers (and
    other writers, on other hosts of a shared file system) never see a partial file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(data, indent=2, default=_json_default) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(value: object) -> object:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")
