"""``posetraj catalog``: build, list, filter, split, show, fetch and subset the asset catalog.

Every action prints a table for people, or one JSON document with ``--json`` for scripts.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

from assets_catalog.catalog import DEFAULT_CATALOG_DIR
from assets_catalog.objaverse_source import BASE_URL, DEFAULT_ROOT

CATALOG_DIR_ENV = "POSETRAJ_CATALOG_DIR"
LIST_COLUMNS = ("uid", "source", "category", "license", "face_count", "flatness", "status")


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--catalog-dir", type=Path,
                        default=Path(os.environ.get(CATALOG_DIR_ENV, str(DEFAULT_CATALOG_DIR))),
                        help=f"catalog folder (default: ${CATALOG_DIR_ENV} or {DEFAULT_CATALOG_DIR})")
    common.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    return common


def _add_filter_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("filters")
    g.add_argument("--license", action="append", default=[], metavar="CODE",
                   help="keep this licence code (repeatable): cc0, by, by-sa, by-nd, by-nc, ..., unknown")
    g.add_argument("--commercial-safe", action="store_true", help="keep only cc0, by and by-sa")
    g.add_argument("--category", action="append", default=[], help="keep this category (repeatable)")
    g.add_argument("--exclude-category", action="append", default=[], help="drop this category (repeatable)")
    g.add_argument("--min-faces", type=int)
    g.add_argument("--max-faces", type=int)
    g.add_argument("--min-flatness", type=float, default=0.1,
                   help="drop rows with height / width below this (the PoseTraj filter; 0 disables; default 0.1)")
    g.add_argument("--no-armatures", action="store_true", help="drop rigged assets")
    g.add_argument("--no-animations", action="store_true", help="drop animated assets")
    g.add_argument("--min-file-size", type=int, metavar="BYTES")
    g.add_argument("--max-file-size", type=int, metavar="BYTES")
    g.add_argument("--source", action="append", default=[], choices=["objaverse", "local", "builtin"])
    g.add_argument("--include-failed", action="store_true", help="keep rows whose statistics failed")
    g.add_argument("--subset", help="keep only the uids of this named subset")
    g.add_argument("--split", choices=["train", "val", "test", "benchmark"],
                   help="keep only this split (from 'posetraj catalog split')")


def build_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``posetraj catalog``."""
    parser.description = ("Asset catalog: Objaverse 1.0, local folders and built-in models in one Parquet table "
                          "(see docs/assets.md).")
    common = _common()
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    p = sub.add_parser("build", parents=[common], help="scan the sources and (re)build the catalog",
                       description="Scan the sources, measure new or changed files in parallel, write the catalog.")
    p.add_argument("--objaverse-root", type=Path, default=DEFAULT_ROOT,
                   help=f"folder holding hf-objaverse-v1 (default {DEFAULT_ROOT}); a missing one is a warning")
    p.add_argument("--no-objaverse", action="store_true", help="do not scan an Objaverse mirror")
    p.add_argument("--local", type=Path, action="append", default=[], metavar="DIR",
                   help="a folder of mesh files, scanned recursively (repeatable)")
    p.add_argument("--no-builtin", action="store_true", help="leave out the built-in procedural models")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes for mesh statistics")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")

    p = sub.add_parser("list", parents=[common], help="list catalog rows",
                       description="List catalog rows (all statuses).")
    p.add_argument("--limit", type=int, default=50, help="rows to print (0 = all; default 50)")

    p = sub.add_parser("filter", parents=[common], help="select rows by licence, category, size, flatness...",
                       description="Select rows; optionally draw a stratified sample and write the uids to a file.")
    _add_filter_args(p)
    p.add_argument("--sample", type=int, metavar="N", help="draw N rows stratified by category")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--mode", choices=["balanced", "proportional"], default="balanced", help="sampling mode")
    p.add_argument("--limit", type=int, default=50, help="rows to print (0 = all; default 50)")
    p.add_argument("--out", type=Path, help="write the selected uids to this file, one per line")

    p = sub.add_parser("split", parents=[common], help="assign train/val/test/benchmark splits",
                       description="Assign every catalog uid to a split by a stable hash and store splits.parquet.")
    p.add_argument("--train", type=float, default=0.8)
    p.add_argument("--val", type=float, default=0.1)
    p.add_argument("--test", type=float, default=0.1)
    p.add_argument("--benchmark-fraction", type=float, default=0.05,
                   help="share of uids held out as 'benchmark', decided before train/val/test (default 0.05)")
    p.add_argument("--benchmark-uids", type=Path, metavar="FILE", help="uid list always put in 'benchmark'")
    p.add_argument("--salt", default="posetraj-splits-v1", help="hash salt (changing it reshuffles everything)")

    p = sub.add_parser("show", parents=[common], help="print one asset's row and where its file is")
    p.add_argument("uid")

    p = sub.add_parser("fetch", parents=[common], help="download Objaverse objects into the mirror",
                       description="Download Objaverse objects (and their annotation files) that are not local yet; "
                                   "interrupted downloads resume. Rebuild the catalog afterwards.")
    p.add_argument("uids", nargs="*", help="Objaverse uids")
    p.add_argument("--uids-file", type=Path, help="a uid list file (bare uids or <uid>_... stems)")
    p.add_argument("--subset", help="fetch the uids of this named subset")
    p.add_argument("--objaverse-root", type=Path, default=DEFAULT_ROOT)
    p.add_argument("--workers", type=int, default=8, help="parallel downloads (default 8)")
    p.add_argument("--base-url", default=BASE_URL, help="dataset URL (a mirror of the Hugging Face repo)")
    p.add_argument("--no-annotations", action="store_true", help="do not fetch metadata shards and LVIS")

    p = sub.add_parser("subset", parents=[common], help="import, list or show named uid subsets",
                       description="Named subsets: 'import NAME FILE', 'list', 'show NAME'.")
    p.add_argument("subset_action", choices=["import", "list", "show"])
    p.add_argument("name", nargs="?")
    p.add_argument("file", nargs="?", type=Path)


# ------------------------------------------------------------------------------------------------
# Output helpers


def _jsonable(value: object) -> object:
    import numpy as np

    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    import pandas as pd

    return None if pd.isna(value) else str(value)


def _rows(df) -> list[dict]:
    return [_jsonable(r) for r in df.to_dict("records")]


def _emit(args: argparse.Namespace, document: dict, table: list[dict] | None = None,
          lines: list[str] | None = None) -> None:
    if args.json:
        print(json.dumps(_jsonable(document), indent=1))
        return
    for line in lines or []:
        print(line)
    if table:
        _print_table(table)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return "" if value is None else str(value)


def _print_table(rows: list[dict]) -> None:
    columns = list(rows[0])
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))


def _table(df, limit: int) -> list[dict]:
    shown = df if limit <= 0 else df.head(limit)
    return _rows(shown[list(LIST_COLUMNS)])


# ------------------------------------------------------------------------------------------------
# Actions


def _build(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from assets_catalog.catalog import BuildConfig, build_catalog

    config = BuildConfig(
        catalog_dir=args.catalog_dir, objaverse_root=None if args.no_objaverse else args.objaverse_root,
        local_dirs=tuple(args.local), include_builtin=not args.no_builtin, workers=max(1, args.workers),
        progress=not args.no_progress and not args.json,
    )
    df, report = build_catalog(config)
    by_source = df.groupby("source").size().to_dict()
    lines = [f"catalog: {report.catalog_path}",
             f"rows: {report.rows} ({report.ok} ok, {report.failed} failed); by source: {by_source}",
             f"hashed {report.hashed} files (reused {report.hash_reused}); "
             f"statistics computed for {report.stats_computed} (cached {report.stats_cached})"]
    lines += [f"warning: {w}" for w in report.warnings]
    _emit(args, {"report": asdict(report), "by_source": by_source}, lines=lines)
    return 0


def _load(args: argparse.Namespace):
    from assets_catalog.catalog import read_catalog

    return read_catalog(args.catalog_dir)


def _list(args: argparse.Namespace) -> int:
    df = _load(args)
    shown = df if args.limit <= 0 else df.head(args.limit)
    _emit(args, {"count": len(df), "rows": _rows(shown)}, table=_table(df, args.limit),
          lines=[f"{len(df)} rows" + (f" (first {len(shown)})" if len(shown) < len(df) else "")])
    return 0


def _filter_spec(args: argparse.Namespace):
    from assets_catalog.filters import CatalogFilter
    from assets_catalog.subsets import load_subset

    uids = frozenset(load_subset(args.catalog_dir, args.subset).uids) if args.subset else None
    if args.split:
        from assets_catalog.splits import read_splits

        splits = read_splits(args.catalog_dir)
        in_split = frozenset(splits.index[splits == args.split])
        uids = in_split if uids is None else uids & in_split
    return CatalogFilter(
        licenses=tuple(args.license), commercial_safe=args.commercial_safe,
        include_categories=tuple(args.category), exclude_categories=tuple(args.exclude_category),
        min_faces=args.min_faces, max_faces=args.max_faces, min_flatness=args.min_flatness,
        no_armatures=args.no_armatures, no_animations=args.no_animations, min_file_size=args.min_file_size,
        max_file_size=args.max_file_size, sources=tuple(args.source), uids=uids, only_ok=not args.include_failed,
    )


def _filter(args: argparse.Namespace) -> int:
    from assets_catalog.filters import apply_filter
    from assets_catalog.sampling import sample_stratified

    df = _load(args)
    selected, removed = apply_filter(df, _filter_spec(args))
    if args.sample is not None:
        selected = sample_stratified(selected, args.sample, seed=args.seed, mode=args.mode)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_name(args.out.name + ".tmp")
        tmp.write_text("".join(f"{u}\n" for u in selected["uid"]), encoding="utf-8")
        os.replace(tmp, args.out)
    shown = selected if args.limit <= 0 else selected.head(args.limit)
    lines = [f"{len(selected)} of {len(df)} rows selected; removed by: "
             + (", ".join(f"{k} {v}" for k, v in removed.items() if v) or "nothing")]
    if args.out:
        lines.append(f"uids written to {args.out}")
    document = {"total": len(df), "count": len(selected), "removed": removed,
                "uids": list(selected["uid"]), "rows": _rows(shown)}
    _emit(args, document, table=_table(selected, args.limit), lines=lines)
    return 0


def _split(args: argparse.Namespace) -> int:
    from assets_catalog.splits import SplitConfig, assign_splits, write_splits
    from assets_catalog.subsets import parse_uid_list

    df = _load(args)
    pinned: frozenset[str] = frozenset()
    if args.benchmark_uids:
        pinned = frozenset(parse_uid_list(args.benchmark_uids.read_text(encoding="utf-8")).uids)
    config = SplitConfig(train=args.train, val=args.val, test=args.test, benchmark_fraction=args.benchmark_fraction,
                         salt=args.salt, benchmark_uids=pinned)
    splits = assign_splits(df["uid"], config)
    path = write_splits(splits, config, args.catalog_dir)
    counts = {name: int((splits == name).sum()) for name in ("train", "val", "test", "benchmark")}
    _emit(args, {"path": str(path), "counts": counts},
          table=[{"split": k, "assets": v} for k, v in counts.items()], lines=[f"splits written to {path}"])
    return 0


def _show(args: argparse.Namespace) -> int:
    from assets_catalog.catalog import find_asset

    row = find_asset(_load(args), args.uid)
    exists = Path(row["path"]).is_file()
    document = {"row": row, "file": row["path"], "file_exists": exists}
    lines = [f"{k:<20} {_cell(_jsonable(v))}" for k, v in _jsonable(row).items()]
    lines.append(f"{'file':<20} {row['path']} ({'present' if exists else 'MISSING'})")
    _emit(args, document, lines=lines)
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from assets_catalog.objaverse_source import ObjaverseMirror, fetch_objects
    from assets_catalog.subsets import load_subset, parse_uid_list

    uids = list(args.uids)
    if args.uids_file:
        uids += parse_uid_list(args.uids_file.read_text(encoding="utf-8")).uids
    if args.subset:
        uids += load_subset(args.catalog_dir, args.subset).uids
    if not uids:
        raise ValueError("no uids given: pass UIDS, --uids-file or --subset")
    report = fetch_objects(ObjaverseMirror(args.objaverse_root), uids, workers=args.workers, base_url=args.base_url,
                           annotations=not args.no_annotations, progress=not args.json)
    lines = [f"present {len(report.present)}, downloaded {len(report.downloaded)}, "
             f"unknown {len(report.unknown)}, failed {len(report.failed)}"]
    lines += [f"failed: {k}: {v}" for k, v in report.failed.items()]
    _emit(args, asdict(report), lines=lines)
    return 1 if report.failed else 0


def _subset(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from assets_catalog.subsets import import_subset, list_subsets, load_subset

    if args.subset_action == "list":
        names = list_subsets(args.catalog_dir)
        _emit(args, {"subsets": names}, lines=names or ["no subsets"])
        return 0
    if not args.name:
        raise ValueError(f"'subset {args.subset_action}' needs a NAME")
    if args.subset_action == "show":
        subset = load_subset(args.catalog_dir, args.name)
    else:
        if args.file is None:
            raise ValueError("'subset import' needs NAME and FILE")
        try:
            catalog_uids = set(_load(args)["uid"])
        except FileNotFoundError:
            catalog_uids = None
        subset = import_subset(args.name, args.file, catalog_uids, args.catalog_dir)
    lines = [f"subset {subset.name}: {len(subset.uids)} uids from {subset.source_file}",
             f"lines {subset.lines}, blank {subset.blank_lines}, duplicates {subset.duplicates}, "
             f"malformed {len(subset.malformed)}, missing locally {len(subset.missing)}"]
    lines += [f"malformed line {m['line']}: {m['text']!r}: {m['reason']}" for m in subset.malformed]
    if subset.missing:
        more = f" (+{len(subset.missing) - 10} more; --json lists all)" if len(subset.missing) > 10 else ""
        lines.append(f"missing locally: {' '.join(subset.missing[:10])}{more}")
    _emit(args, asdict(subset), lines=lines)
    return 0


_ACTIONS = {"build": _build, "list": _list, "filter": _filter, "split": _split, "show": _show,
            "fetch": _fetch, "subset": _subset}


def run(args: argparse.Namespace) -> int:
    """Run one catalog action; bad input is a one-line error and exit status 2."""
    try:
        return _ACTIONS[args.action](args)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"posetraj catalog {args.action}: error: {message}", file=sys.stderr)
        return 2
