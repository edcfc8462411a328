"""Live per-clip records of a dataset folder: ``OUT/status/<planned_clip_id>.json`` (schema version 1).

A worker writes a clip's record when it starts the clip (``running``, with its host, pid and start time)
and again when the clip ends (``ok``, ``failed`` with the reason code, or ``interrupted``). One file per
clip, replaced atomically: workers on several hosts of a shared file system never write into one file,
and ``posetraj dataset status`` sees every finished clip at once, and the age of the running ones.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from common.atomic import write_json_atomic
from common.clip_format import owner_tag
from render.process_control import pid_alive

STATUS_DIR = "status"
RECORD_SCHEMA_VERSION = 1
STATES = ("running", "ok", "failed", "interrupted")


def write_record(out_root: Path, planned_clip_id: str, state: str, **fields) -> Path:
    """Replace the record of one planned clip; ``fields`` (clip_id, code, error, worker, started_at, ...)
    are kept as given, the writer's host, pid and the time are added."""
    if state not in STATES:
        raise ValueError(f"unknown clip state {state!r}")
    now = time.time()
    record = {"schema_version": RECORD_SCHEMA_VERSION, "planned_clip_id": planned_clip_id, "state": state,
              "owner": owner_tag(), "pid": os.getpid(), "updated_at": now,
              "updated_at_utc": datetime.fromtimestamp(now, timezone.utc).isoformat(), **fields}
    folder = Path(out_root) / STATUS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return write_json_atomic(folder / f"{planned_clip_id}.json", record)


def read_record(out_root: Path, planned_clip_id: str) -> dict | None:
    """One clip's record, or None when there is none (or it is unreadable)."""
    return _read(Path(out_root) / STATUS_DIR / f"{planned_clip_id}.json")


def read_records(out_root: Path, planned_clip_ids: Iterable[str]) -> dict[str, dict]:
    """The records of ``planned_clip_ids`` that exist, by planned clip id."""
    folder = Path(out_root) / STATUS_DIR
    records = {}
    for clip_id in planned_clip_ids:
        record = _read(folder / f"{clip_id}.json")
        if record is not None:
            records[record["planned_clip_id"]] = record
    return records


def _read(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(record, dict) or record.get("schema_version") != RECORD_SCHEMA_VERSION \
            or record.get("state") not in STATES or "planned_clip_id" not in record:
        return None
    return record


def running_elsewhere(record: dict | None, max_age_s: float) -> bool:
    """Whether ``record`` says another live process is rendering the clip now: a ``running`` record of
    another process that is alive (this host) or younger than ``max_age_s`` seconds (another host)."""
    if record is None or record["state"] != "running" or record.get("owner") == owner_tag():
        return False
    return is_live(record, max_age_s)


def is_live(record: dict, max_age_s: float) -> bool:
    """A ``running`` record whose process still exists (this host) or, from another host, whose age is
    under ``max_age_s`` (past it, the clip would have been stopped by its timeout)."""
    if record["state"] != "running" or worker_gone(record):
        return False
    return _this_host(record) or age_s(record) <= max_age_s


def worker_gone(record: dict) -> bool:
    """Whether the record's process is known to be gone: it ran on this host and no longer exists."""
    _, _, pid = str(record.get("owner", "")).rpartition("-")
    return _this_host(record) and pid.isdigit() and not pid_alive(int(pid))


def _this_host(record: dict) -> bool:
    return str(record.get("owner", "")).rpartition("-")[0] == owner_tag(0).rpartition("-")[0]


def age_s(record: dict) -> float:
    """Seconds since the record's clip started (or since the record was written)."""
    return max(0.0, time.time() - float(record.get("started_at", record.get("updated_at", time.time()))))


class FinishedClips:
    """How many of a plan's clips have ended (``ok`` or ``failed``), for progress bars that poll the records
    while workers run; only the records of clips not yet seen finished are read again."""

    def __init__(self, out_root: Path, planned_clip_ids: Iterable[str]):
        self.out_root = Path(out_root)
        self.total = 0
        self.waiting: set[str] = set()
        for clip_id in planned_clip_ids:
            self.total += 1
            self.waiting.add(clip_id)

    def count(self) -> int:
        for clip_id, record in read_records(self.out_root, sorted(self.waiting)).items():
            if record["state"] in ("ok", "failed"):
                self.waiting.discard(clip_id)
        return self.total - len(self.waiting)
