"""Failure records of a dataset folder: ``OUT/failures/<clip_id>.json``, the last failure of each clip."""

from __future__ import annotations

import contextlib
import re
import traceback
from collections.abc import Iterator
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


@contextlib.contextmanager
def unexpected_errors_as_failures(log_path: Path) -> Iterator[None]:
    """Turn an exception that is not a :class:`RenderError` (a bug in posetraj, an importer or Blender) into
    ``RenderError("internal_error")`` with one line, after appending its traceback to the clip's log, so
    that the failure record (whose ``log_tail`` is that log's end) keeps it."""
    try:
        yield
    except RenderError:
        raise
    except Exception as exc:  # noqa: BLE001 - recorded and re-raised as one line
        with open(log_path, "a", encoding="utf-8") as log:
            log.write("\n" + "".join(traceback.format_exception(exc)))
        first_line = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:300]
        raise RenderError("internal_error", first_line) from exc


def request_clip_id(asset: str, trajectory: str, seed: int) -> str:
    """A clip id for a failure record when no clip spec could be built from a request (bad options):
    ``<asset name>_<trajectory>_s<seed>_invalid``."""
    name = asset.split(":", 1)[1] if asset.startswith("builtin:") else Path(asset).stem
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "asset"
    return f"{name}_{re.sub(r'[^A-Za-z0-9_-]+', '-', trajectory) or 'trajectory'}_s{seed}_invalid"
