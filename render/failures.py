"""Failure records of a dataset folder: ``OUT/failures/<clip_id>.json``, the last failure of each clip."""

from __future__ import annotations

from pathlib import Path

from common.atomic import write_json_atomic
from render.errors import RenderError

FAILURES_DIR = "failures"
FAILURE_SCHEMA_VERSION = 1


def record_failure(out_root: Path, clip_id: str, asset: str, error: RenderError, log_path: Path | None = None) -> Path:
    """Keep a record of the failure (and the tail of Blender's log) next to the clips, in
    ``failures/<clip_id>.json``: one file per clip, written atomically and replaced by a later failure
    of the same clip, so workers on several hosts of a shared file system never write into one file."""
    import platform
    from datetime import datetime, timezone

    log_tail = log_path.read_text(errors="replace")[-2000:] if log_path is not None and log_path.exists() else ""
    record = {"schema_version": FAILURE_SCHEMA_VERSION, "clip_id": clip_id, "asset": asset,
              **error.to_dict(), "host": platform.node(), "failed_at": datetime.now(timezone.utc).isoformat(),
              "log_tail": log_tail}
    folder = Path(out_root) / FAILURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return write_json_atomic(folder / f"{clip_id}.json", record)
