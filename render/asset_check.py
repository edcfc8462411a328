"""A clip's asset as a checked local file: resolved (:mod:`assets_catalog.resolve`; built-ins exported under
``out_root/.assets``) and validated before Blender imports it (:mod:`assets_catalog.validate`), with
failures as :class:`RenderError` and their reason codes."""

from __future__ import annotations

from pathlib import Path

from assets_catalog.files import AssetFileError
from assets_catalog.resolve import ResolvedAsset, resolve_asset
from assets_catalog.validate import AssetValidationError, ValidationReport, validate_mesh_file
from render.errors import RenderError


def checked_asset(asset_ref: str, out_root: Path) -> tuple[ResolvedAsset, ValidationReport]:
    """The asset ``asset_ref`` (``builtin:NAME`` or a mesh path) resolved and validated."""
    try:
        asset = resolve_asset(asset_ref, Path(out_root) / ".assets")
    except FileNotFoundError as exc:
        raise RenderError("asset_not_found", str(exc)) from None
    except AssetFileError as exc:
        raise RenderError("asset_corrupt", str(exc)) from None
    except ValueError as exc:
        raise RenderError("asset_unsupported", str(exc)) from None
    try:
        return asset, validate_mesh_file(asset.path)
    except AssetValidationError as exc:
        raise RenderError(exc.code, exc.message) from None
