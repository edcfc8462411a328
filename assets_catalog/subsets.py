"""Named subsets: uid lists imported from text files, stored as ``<catalog_dir>/subsets/<name>.json``.

A list file has one entry per line: a bare uid or a clip stem ``<uid>_<anything>`` (such as the
PoseTraj-10k ``<uid>_0_circle0001-0032``), whose uid is the part before the first ``_``. Blank lines
and ``#`` comments are skipped. A hexadecimal entry that is neither 16 (local file uid) nor 32
(Objaverse uid) digits long is reported as malformed (e.g. a truncated uid) and left out.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from common.atomic import write_text_atomic

SUBSET_SCHEMA_VERSION = 1
_HEX = re.compile(r"[0-9a-fA-F]+")
_UID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]*")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]*")


@dataclass
class UidList:
    """A parsed uid list: unique uids in file order, plus what was skipped and why."""

    uids: list[str] = field(default_factory=list)
    lines: int = 0
    blank_lines: int = 0
    duplicates: int = 0
    malformed: list[dict] = field(default_factory=list)  # {"line": n, "text": ..., "reason": ...}


def parse_uid_list(text: str) -> UidList:
    """Parse the text of a uid list file (see the module docstring)."""
    result = UidList()
    seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        result.lines += 1
        line = raw.split("#", 1)[0].strip()
        if not line:
            result.blank_lines += 1
            continue
        uid = line.split("_", 1)[0].strip()
        reason = ""
        if _HEX.fullmatch(uid) and len(uid) not in (16, 32):
            reason = f"{len(uid)} hex digits (uids have 32, local-file uids 16): truncated or corrupt"
        elif not _UID.fullmatch(uid):
            reason = "not a uid"
        if reason:
            result.malformed.append({"line": number, "text": raw.strip(), "reason": reason})
            continue
        uid = uid.lower() if _HEX.fullmatch(uid) else uid
        if uid in seen:
            result.duplicates += 1
            continue
        seen.add(uid)
        result.uids.append(uid)
    return result


@dataclass
class Subset:
    """A stored subset and its import report."""

    name: str
    uids: list[str]
    source_file: str = ""
    lines: int = 0
    blank_lines: int = 0
    duplicates: int = 0
    malformed: list[dict] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # uids not in the catalog (no local file) at import
    schema_version: int = SUBSET_SCHEMA_VERSION


def subset_path(catalog_dir: Path, name: str) -> Path:
    if not _NAME.fullmatch(name):
        raise ValueError(f"invalid subset name {name!r}: use letters, digits, '.', '_' and '-'")
    return Path(catalog_dir).expanduser() / "subsets" / f"{name}.json"


def import_subset(name: str, list_file: Path, catalog_uids: set[str] | None, catalog_dir: Path) -> Subset:
    """Parse ``list_file``, record which uids the catalog lacks, and store the subset atomically."""
    list_file = Path(list_file)
    if not list_file.is_file():
        raise FileNotFoundError(f"uid list not found: {list_file}")
    parsed = parse_uid_list(list_file.read_text(encoding="utf-8", errors="replace"))
    missing = [u for u in parsed.uids if catalog_uids is not None and u not in catalog_uids]
    subset = Subset(name=name, uids=parsed.uids, source_file=str(list_file.resolve()), lines=parsed.lines,
                    blank_lines=parsed.blank_lines, duplicates=parsed.duplicates, malformed=parsed.malformed,
                    missing=missing)
    path = subset_path(catalog_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(asdict(subset), indent=1))
    return subset


def load_subset(catalog_dir: Path, name: str) -> Subset:
    """A stored subset; ``FileNotFoundError`` listing the stored names if absent."""
    path = subset_path(catalog_dir, name)
    if not path.is_file():
        raise FileNotFoundError(f"no subset {name!r} in {path.parent} (stored: "
                                f"{', '.join(list_subsets(catalog_dir)) or 'none'})")
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("schema_version") != SUBSET_SCHEMA_VERSION:
        raise ValueError(f"{path}: unsupported subset schema_version {data.get('schema_version')!r}")
    return Subset(**data)


def list_subsets(catalog_dir: Path) -> list[str]:
    folder = Path(catalog_dir).expanduser() / "subsets"
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
