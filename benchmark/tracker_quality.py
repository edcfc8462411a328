"""``posetraj bench trackers DATASET``: TAP-Vid metrics of point trackers on rendered clips.

For every clip of DATASET (a folder of clip directories, docs/clip_format.md) the ground-truth tracks
(``tracks_2d``, ``tracks_visible``) are queried in TAP-Vid ``first`` mode (each track at its first
visible frame; at most ``--max-points`` tracks per clip, a seeded random subset shared by all
trackers), every tracker tracks them through the clip's frames, and AJ, <δ^x_avg> and OA are computed
at the TAP-Vid resolution 256x256 (``--native-pixels``: in the clip's own pixels) and averaged over clips.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from common.atomic import write_json_atomic
from benchmark.tapvid import TAPVID_SIZE, TapVidMetrics, average_metrics, first_visible_queries, rescale_points, tapvid_metrics

REPORT_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class QualityConfig:
    trackers: tuple[str, ...]
    tracker_configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    max_points: int = 256
    seed: int = 0
    native_pixels: bool = False


@dataclass(frozen=True)
class ClipData:
    path: Path
    frames: np.ndarray  # (T, H, W, 3) uint8
    tracks: np.ndarray  # (T, N, 2)
    visible: np.ndarray  # (T, N)


def read_dataset(dataset: Path) -> list[ClipData]:
    """Every complete clip under ``dataset`` (or ``dataset`` itself when it is one clip)."""
    from common.clip_format import is_complete_clip, iter_clips, load_clip

    dataset = Path(dataset)
    if not dataset.is_dir():
        raise FileNotFoundError(f"{dataset}: dataset folder does not exist")
    paths = [dataset] if is_complete_clip(dataset) else iter_clips(dataset)
    if not paths:
        raise ValueError(f"{dataset}: no complete clip directories (with a DONE marker) found")
    clips = []
    for path in paths:
        clip = load_clip(path)
        annotations = clip.annotations
        clips.append(ClipData(path, clip.frames(), annotations["tracks_2d"], annotations["tracks_visible"].astype(bool)))
    return clips


def clip_queries(clip: ClipData, max_points: int, seed: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    """``first``-mode queries of at most ``max_points`` tracks (seeded subset) and the track indices used."""
    queries, used = first_visible_queries(clip.tracks, clip.visible)
    if len(used) > max_points:
        keep = np.sort(np.random.default_rng([seed, index]).choice(len(used), size=max_points, replace=False))
        queries, used = queries[keep], used[keep]
    return queries, used


def score(clip: ClipData, queries: np.ndarray, used: np.ndarray, tracks: np.ndarray, visible: np.ndarray, native: bool) -> TapVidMetrics:
    gt = clip.tracks[:, used]
    size = clip.frames.shape[1:3]
    if not native:
        gt, tracks = rescale_points(gt, size, TAPVID_SIZE), rescale_points(tracks, size, TAPVID_SIZE)
    return tapvid_metrics(queries[:, 0], gt, clip.visible[:, used], tracks, visible, mode="first")


def evaluate(clips: list[ClipData], config: QualityConfig, progress: bool = False) -> dict[str, Any]:
    """Run every tracker on every clip; returns the report (JSON-serialisable)."""
    from tqdm import tqdm

    from benchmark.trackers import create_tracker

    selections = [clip_queries(clip, config.max_points, config.seed, i) for i, clip in enumerate(clips)]
    report: dict[str, Any] = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "mode": "first",
        "resolution": "native" if config.native_pixels else f"{TAPVID_SIZE[1]}x{TAPVID_SIZE[0]}",
        "max_points": config.max_points,
        "seed": config.seed,
        "clips": [str(c.path) for c in clips],
        "trackers": {},
    }
    for name in config.trackers:
        options = dict(config.tracker_configs.get(name, {}))
        shared = None if name == "oracle" else create_tracker(name, **options)
        per_clip, metrics, seconds, description = [], [], 0.0, None
        for clip, (queries, used) in tqdm(list(zip(clips, selections)), desc=name, unit="clip", file=sys.stderr, disable=not progress):
            tracker = shared or create_tracker("oracle", clip=str(clip.path), **options)
            description = description or tracker.describe()
            start = time.perf_counter()
            result = tracker.track(clip.frames, queries)
            seconds += time.perf_counter() - start
            m = score(clip, queries, used, result.tracks, result.visibility, config.native_pixels)
            metrics.append(m)
            per_clip.append({"clip": clip.path.name, "aj": m.aj, "delta_avg": m.delta_avg, "oa": m.oa, "num_points": m.num_points})
        report["trackers"][name] = {
            "describe": description,
            "metrics": average_metrics(metrics),
            "seconds_per_clip": seconds / len(clips),
            "per_clip": per_clip,
        }
    return report


def format_table(report: dict[str, Any]) -> str:
    lines = [
        f"TAP-Vid metrics ({report['mode']} mode, {report['resolution']}, <= {report['max_points']} points per clip, "
        f"{len(report['clips'])} clips)",
        f"{'tracker':<20} {'AJ':>7} {'d_avg':>7} {'OA':>7} {'points':>7} {'s/clip':>8}  weights",
    ]
    for name, entry in report["trackers"].items():
        m, info = entry["metrics"], entry["describe"] or {}
        weights = info.get("weights_sha256")
        weights = f"sha256 {weights[:12]}" if weights else ("random" if info.get("random_weights_seed") is not None else "-")
        lines.append(
            f"{name:<20} {100 * m['aj']:7.2f} {100 * m['delta_avg']:7.2f} {100 * m['oa']:7.2f} "
            f"{m['num_points']:7d} {entry['seconds_per_clip']:8.2f}  {weights}"
        )
    return "\n".join(lines)


def add_trackers_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``posetraj bench trackers``."""
    parser.description = __doc__.split("\n\n")[1].replace("\n", " ")
    parser.add_argument("dataset", type=Path, help="folder of rendered clip directories (or one clip)")
    parser.add_argument(
        "--trackers",
        help="comma-separated tracker names (default: lk, oracle, and cotracker3-offline/-online when a checkpoint is given)",
    )
    parser.add_argument("--cotracker3-offline-checkpoint", type=Path, help="scaled_offline.pth (or POSETRAJ_COTRACKER3_CHECKPOINT)")
    parser.add_argument(
        "--cotracker3-online-checkpoint", type=Path, help="scaled_online.pth (or POSETRAJ_COTRACKER3_ONLINE_CHECKPOINT)"
    )
    parser.add_argument("--device", default="cpu", help="torch device for CoTracker3 (cpu, cuda, cuda:1, ...)")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"), help="CoTracker3 precision")
    parser.add_argument("--max-points", type=int, default=256, help="tracks per clip (seeded random subset)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--native-pixels", action="store_true", help="thresholds in clip pixels instead of at 256x256")
    parser.add_argument("--out", type=Path, help="also write the JSON report to this file")
    parser.add_argument("--json", action="store_true", help="print the JSON report instead of the table")
    parser.add_argument("--no-progress", action="store_true")


def _tracker_setup(args: argparse.Namespace) -> tuple[tuple[str, ...], dict[str, dict[str, Any]]]:
    from benchmark.trackers import TRACKER_NAMES, configured_checkpoint

    checkpoints = {
        "cotracker3-offline": args.cotracker3_offline_checkpoint or configured_checkpoint("cotracker3-offline"),
        "cotracker3-online": args.cotracker3_online_checkpoint or configured_checkpoint("cotracker3-online"),
    }
    if args.trackers:
        names = tuple(n.strip() for n in args.trackers.split(",") if n.strip())
        unknown = [n for n in names if n not in TRACKER_NAMES]
        if unknown:
            raise ValueError(f"unknown tracker(s) {', '.join(unknown)}; known: {', '.join(TRACKER_NAMES)}")
    else:
        names = ("lk", "oracle") + tuple(n for n, path in checkpoints.items() if path)
    configs: dict[str, dict[str, Any]] = {}
    for name, path in checkpoints.items():
        if name in names:
            configs[name] = {"device": args.device, "dtype": args.dtype}
            if path:
                configs[name]["checkpoint"] = str(path)
    return names, configs


def run_trackers(args: argparse.Namespace) -> int:
    """Run ``posetraj bench trackers``; expected failures print one line and return 2."""
    try:
        if args.max_points < 1:
            raise ValueError(f"--max-points must be at least 1, got {args.max_points}")
        names, configs = _tracker_setup(args)
        clips = read_dataset(args.dataset)
        config = QualityConfig(names, configs, args.max_points, args.seed, args.native_pixels)
        report = evaluate(clips, config, progress=not args.no_progress)
    except (ValueError, FileNotFoundError) as error:
        print(f"posetraj bench trackers: error: {error}", file=sys.stderr)
        return 2
    report["dataset"] = str(args.dataset)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(args.out, report)
    print(json.dumps(report, indent=2) if args.json else format_table(report))
    return 0
