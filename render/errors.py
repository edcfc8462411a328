"""Per-clip render failures with stable reason codes."""

from __future__ import annotations

REASON_CODES = {
    "invalid_spec": "the clip specification is invalid",
    "asset_not_found": "the asset file does not exist",
    "asset_unsupported": "the asset's file type cannot be imported",
    "asset_corrupt": "the asset file could not be read (truncated or corrupt)",
    "no_mesh": "the asset contains no mesh geometry",
    "flat_object": "the object is too flat (height/width below the threshold)",
    "out_of_frame": "the object leaves the camera frame",
    "render_failed": "Blender failed while rendering (or its render process died)",
    "timeout": "the clip ran past its wall-clock limit (--clip-timeout) and was stopped",
    "blender_missing": "the bpy module is not installed (install the 'render' extra)",
    "internal_error": "an unexpected error in posetraj or Blender (a bug: the failure record has the traceback)",
}


class RenderError(RuntimeError):
    """A clip could not be rendered. ``code`` is one of :data:`REASON_CODES`."""

    def __init__(self, code: str, message: str):
        if code not in REASON_CODES:
            raise ValueError(f"unknown render error code {code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}
