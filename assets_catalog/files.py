"""Mesh file formats the suite accepts, and content hashing."""

from __future__ import annotations

import hashlib
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
