"""Mesh file formats the suite accepts and content hashing of mesh assets (a file and what it references)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from common.hashing import sha256_file

SUPPORTED_EXTENSIONS = ("glb", "gltf", "obj", "fbx", "ply", "stl", "usd", "usda", "usdc", "usdz")


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


class AssetFileError(ValueError):
    """A mesh asset's files are unreadable or incomplete (e.g. a ``.gltf`` whose buffer is missing)."""


GLB_MAGIC, GLB_JSON_CHUNK = b"glTF", 0x4E4F534A


def gltf_document(path: Path) -> dict:
    """The JSON document of a ``.gltf`` or ``.glb`` file (a ``.glb``'s first chunk); only the JSON is read.
    :class:`AssetFileError` names what is wrong (not JSON, not a version-2 GLB, truncated)."""
    import struct

    path = Path(path)
    try:
        if mesh_format(path) == "glb":
            with open(path, "rb") as handle:
                header = handle.read(20)
                if len(header) < 20 or header[:4] != GLB_MAGIC:
                    raise AssetFileError(f"{path}: not a GLB file (no 'glTF' header)")
                version, _, length, kind = struct.unpack("<IIII", header[4:])
                if version != 2:
                    raise AssetFileError(f"{path}: GLB version {version}, only glTF 2.0 is supported")
                if kind != GLB_JSON_CHUNK:
                    raise AssetFileError(f"{path}: the GLB's first chunk is not its JSON")
                text = handle.read(length)
                if len(text) < length:
                    raise AssetFileError(f"{path}: truncated GLB (JSON chunk of {length} bytes, {len(text)} present)")
        else:
            text = path.read_bytes()
        document = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AssetFileError(f"{path}: not a JSON glTF document ({exc})") from None
    if not isinstance(document, dict):
        raise AssetFileError(f"{path}: the glTF JSON is not an object")
    return document


def asset_files(path: Path) -> list[Path]:
    """The files that make up a mesh asset: the file itself and, for a ``.gltf``, the external buffers
    and images its JSON references (``data:`` URIs are inline). :class:`AssetFileError` for a ``.gltf``
    that is not JSON or references a file that does not exist."""
    path = Path(path)
    if mesh_format(path) != "gltf":
        return [path]
    from urllib.parse import unquote

    document = gltf_document(path)
    files = [path]
    for kind in ("buffers", "images"):
        for entry in document.get(kind, []):
            uri = entry.get("uri") if isinstance(entry, dict) else None
            if not uri or uri.startswith("data:"):
                continue
            dependency = path.parent / unquote(uri)
            if not dependency.is_file():
                raise AssetFileError(f"{path}: references {uri!r}, which does not exist")
            files.append(dependency)
    return files


def asset_sha256(path: Path) -> str:
    """Content hash of a mesh asset: the file's sha256, or for a ``.gltf`` with external files a sha256
    over each file's name and sha256 in reference order, so changing a ``.bin`` changes the hash."""
    files = asset_files(path)
    if len(files) == 1:
        return sha256_file(files[0])
    digest = hashlib.sha256()
    for file in files:
        digest.update(f"{file.name}\0{sha256_file(file)}\n".encode())
    return digest.hexdigest()


def asset_stat(path: Path) -> tuple[int, int]:
    """(total size, newest mtime_ns) over :func:`asset_files`: what the catalog compares to decide
    whether an asset must be hashed again."""
    stats = [os.stat(file) for file in asset_files(path)]
    return sum(s.st_size for s in stats), max(s.st_mtime_ns for s in stats)
