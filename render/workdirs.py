"""Temporary folders next to the clips of a dataset folder, and their removal.

Rendering one clip uses a work folder ``.<clip_id>.work-<owner>-<random>`` (Blender's EXR passes and log)
and publishing it a temporary copy ``.<clip_id>.tmp-<owner>-<random>``; ``<owner>`` is the
``<host>-<pid>`` of the rendering process (:func:`common.clip_format.owner_tag`). A parent that stops a
renderer removes that renderer's folders; a new shard removes those of dead processes on its host and
any older than the clip timeout (no render lives longer), whichever host made them.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from common.clip_format import owner_tag
from render.process_control import pid_alive

_TEMP_NAME = re.compile(r"^\.(?P<clip_id>.+)\.(?P<kind>work|tmp|old)-(?P<host>.+)-(?P<pid>\d+)-[A-Za-z0-9_]+$")


def work_dir_prefix(clip_id: str) -> str:
    """Name prefix of this process's work folder for ``clip_id`` (``tempfile.mkdtemp`` adds the rest)."""
    return f".{clip_id}.work-{owner_tag()}-"


@dataclass(frozen=True)
class TempDir:
    path: Path
    clip_id: str
    kind: str  # work | tmp | old
    host: str
    pid: int


def temp_dirs(out_root: Path) -> list[TempDir]:
    """The temporary folders directly under ``out_root``, parsed from their names."""
    found = []
    try:
        entries = list(Path(out_root).iterdir())
    except FileNotFoundError:
        return []
    for path in entries:
        match = _TEMP_NAME.match(path.name)
        if match and path.is_dir():
            found.append(TempDir(path, match["clip_id"], match["kind"], match["host"], int(match["pid"])))
    return found


def remove_owned(out_root: Path, pid: int) -> list[Path]:
    """Remove every temporary folder of process ``pid`` of this host (a renderer that was stopped)."""
    owner = owner_tag(pid)
    removed = []
    for temp in temp_dirs(out_root):
        if f"{temp.host}-{temp.pid}" == owner:
            shutil.rmtree(temp.path, ignore_errors=True)
            removed.append(temp.path)
    return removed


def log_of(out_root: Path, clip_id: str, pid: int) -> Path | None:
    """The Blender log in the work folder of ``clip_id`` of process ``pid`` of this host, if any."""
    for path in Path(out_root).glob(f".{glob_escape(clip_id)}.work-{glob_escape(owner_tag(pid))}-*/render.log"):
        return path
    return None


def sweep(out_root: Path, *, max_age_s: float) -> list[Path]:
    """Remove stale temporary folders: those of processes of this host that no longer exist, and any
    not modified for ``max_age_s`` seconds (the clip timeout: a render that old has been stopped)."""
    host = owner_tag(0).rsplit("-", 1)[0]  # this host, as owner tags spell it
    now = time.time()
    removed = []
    for temp in temp_dirs(out_root):
        try:
            age = now - temp.path.stat().st_mtime
        except FileNotFoundError:
            continue
        dead_here = temp.host == host and not pid_alive(temp.pid)
        if dead_here or age > max_age_s:
            shutil.rmtree(temp.path, ignore_errors=True)
            removed.append(temp.path)
    return removed


def glob_escape(text: str) -> str:
    """``text`` with glob's special characters made literal."""
    return re.sub(r"([*?\[])", r"[\1]", text)
