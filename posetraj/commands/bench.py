"""``posetraj bench``: build suites, score models, write leaderboards, check trackers."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path


def _tracker_option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _add_build_suite(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build-suite", help="build a benchmark suite (posetraj-synth, real or custom)",
                       description="Build a suite deterministically. posetraj-synth renders the benchmark split of a "
                                   "catalog (built-in assets when no --catalog is given); real / custom read a folder "
                                   "of <id>.json trajectories (DragAnything format) with <id>.png, <id>/ frames or <id>.mp4.")
    p.add_argument("--out", type=Path, required=True, help="suite directory to create")
    p.add_argument("--kind", choices=("posetraj-synth", "real", "custom"), default="posetraj-synth")
    p.add_argument("--name", help="suite name (default: posetraj-synth, or the source folder's name)")
    p.add_argument("--catalog", type=Path, help="catalog directory (posetraj catalog build + split); its 'benchmark' "
                   "split is used")
    p.add_argument("--num-samples", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=int, default=192, help="posetraj-synth frame width")
    p.add_argument("--height", type=int, default=128, help="posetraj-synth frame height")
    p.add_argument("--frames", type=int, default=None, help="frames per sample (synth default 24, real/custom 14)")
    p.add_argument("--fps", type=float, default=None, help="frame rate (synth default 5, real/custom 7)")
    p.add_argument("--samples-per-pixel", type=int, default=4, help="Cycles samples for posetraj-synth")
    p.add_argument("--min-separability", type=float, default=None,
                   help="posetraj-synth: draw a sample again while its object's separability from the floor in its "
                        "first frame is below this (0 to 1; default 0.35; 0: never; docs/benchmark.md)")
    p.add_argument("--render-root", type=Path, help="where rendered clips are kept and reused")
    p.add_argument("--source", type=Path, help="real / custom: folder of <id>.json plus images, frames or videos")
    p.add_argument("--outliers", choices=("keep", "drop", "error"), default="drop",
                   help="real / custom: trajectories leaving the frame by more than --margin (keep = as the field)")
    p.add_argument("--margin", type=float, default=0.1, help="outlier margin as a fraction of the frame size")
    p.add_argument("--overwrite", action="store_true", help="replace an existing suite")


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="score one model on one suite",
                       description="Generate (or reuse), validate, track and score every sample; writes "
                                   "samples.parquet and summary.json into --out.")
    p.add_argument("--suite", type=Path, required=True)
    p.add_argument("--model", required=True,
                   help="oracle | static | translate | module:function | folder of videos | entry point name")
    p.add_argument("--out", type=Path, help="results folder (default: results/<model name>)")
    p.add_argument("--label", help="the model's name in the results and on the leaderboard (default: the adapter's "
                                   "own name, e.g. module:function)")
    p.add_argument("--tracker", help="tracker name (default: the default tracker)")
    p.add_argument("--tracker-option", type=_tracker_option, action="append", default=[], metavar="KEY=VALUE",
                   help="tracker setting, e.g. window_px=9 (repeatable)")
    p.add_argument("--cache-dir", type=Path, help="cache of generated videos and tracks (default: beside --out)")
    p.add_argument("--lpips-weights", type=Path, help="folder with alexnet-owt-7be5be79.pth and alex.pth")
    p.add_argument("--fid-weights", type=Path, help="inception-2015-12-05.pt (TorchScript)")
    p.add_argument("--fvd-weights", type=Path, help="i3d_torchscript.pt (TorchScript)")
    p.add_argument("--regenerate", action="store_true", help="ignore this model's cached videos")
    p.add_argument("--objmc-grid", type=int, default=0, metavar="N",
                   help="track an N x N grid and take the track nearest each trajectory's start, as the published "
                        "protocol does (N = 100); 0: query the trajectories' start points directly")
    p.add_argument("--objmc-protocol", choices=("direct", "draganything"), default="direct",
                   help="draganything: DragAnything's published ObjMC protocol (a 100 x 100 grid, in each video the "
                        "grid track whose frame-0 position is nearest to the entity's centre); direct: ours "
                        "(docs/benchmark.md)")
    p.add_argument("--workers", type=int, default=1,
                   help="score samples in N processes (videos are generated first, in this process)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def _add_leaderboard(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("leaderboard", help="write a Markdown table and an HTML leaderboard page from results")
    p.add_argument("results", nargs="+", type=Path, help="results folders of 'posetraj bench run'")
    p.add_argument("--out", type=Path, default=Path("leaderboard"))
    p.add_argument("--title", default="posetraj benchmark")
    p.add_argument("--max-previews", type=int, default=None,
                   help="samples shown as videos with trajectories (default: every sample)")


def build_parser(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench_command", metavar="COMMAND", required=True)
    _add_build_suite(sub)
    _add_run(sub)
    _add_leaderboard(sub)
    try:
        from benchmark.tracker_quality import add_trackers_arguments
    except ImportError:
        return
    add_trackers_arguments(sub.add_parser("trackers", help="measure tracker quality on rendered clips"))


def _build_suite(args: argparse.Namespace) -> int:
    if args.kind == "posetraj-synth":
        from benchmark.suite_build import SynthSuiteConfig, build_synth_suite

        config = SynthSuiteConfig(num_samples=args.num_samples, seed=args.seed, width=args.width, height=args.height,
                                  num_frames=args.frames or 24, fps=args.fps or 5.0,
                                  samples_per_pixel=args.samples_per_pixel, name=args.name or "posetraj-synth")
        if args.min_separability is not None:
            config = replace(config, min_separability=args.min_separability)
        suite = build_synth_suite(args.out, config, catalog=args.catalog, render_root=args.render_root,
                                  overwrite=args.overwrite, progress=True)
    else:
        if args.source is None:
            raise ValueError(f"--kind {args.kind} needs --source FOLDER")
        from benchmark.suite_build import build_folder_suite

        suite = build_folder_suite(args.source, args.out, kind=args.kind, name=args.name, num_frames=args.frames or 14,
                                   fps=args.fps or 7.0, outliers=args.outliers, margin=args.margin,
                                   overwrite=args.overwrite)
    skipped = suite.manifest.get("skipped") or []
    print(f"suite {suite.version}: {len(suite.samples)} samples at {suite.path}"
          + (f" ({len(skipped)} skipped, listed in suite.json)" if skipped else ""))
    return 0


def _run(args: argparse.Namespace) -> int:
    from benchmark.harness import RunConfig, run_benchmark
    from benchmark.models import resolve_model
    model = resolve_model(args.model)
    out = args.out or Path("results") / (args.label or model.name).replace("/", "_").replace(":", "_")
    config = RunConfig(suite=args.suite, model=args.model, out=out, tracker=args.tracker,
                       tracker_config=dict(args.tracker_option), cache_dir=args.cache_dir,
                       lpips_weights=args.lpips_weights, fid_weights=args.fid_weights, fvd_weights=args.fvd_weights,
                       regenerate=args.regenerate, objmc_grid=args.objmc_grid, objmc_protocol=args.objmc_protocol,
                       workers=args.workers, label=args.label,
                       progress=not args.no_progress)
    summary = run_benchmark(config, model=model)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        from benchmark.leaderboard import load_results, summary_table

        print(f"{summary['model']['name']} on {summary['suite']['suite_version']} -> {out}")
        print("\n".join(summary_table([load_results(out)])))
    for failure in summary["failures"]:
        print(f"error: {failure['error']}", file=sys.stderr)
    return 0 if summary["complete"] else 1


def _leaderboard(args: argparse.Namespace) -> int:
    from benchmark.leaderboard import write_leaderboard

    paths = write_leaderboard(args.results, args.out, title=args.title, max_previews=args.max_previews)
    print(f"leaderboard: {paths['html']} (Markdown: {paths['markdown']})")
    return 0


def run(args: argparse.Namespace) -> int:
    """Dispatch ``posetraj bench COMMAND``; expected failures print one line and return 2."""
    if args.bench_command == "trackers":
        from benchmark.tracker_quality import run_trackers

        return int(run_trackers(args) or 0)
    from render.errors import RenderError

    handlers = {"build-suite": _build_suite, "run": _run, "leaderboard": _leaderboard}
    try:
        return handlers[args.bench_command](args)
    except (ValueError, FileNotFoundError, FileExistsError, RenderError) as exc:
        print(f"posetraj bench {args.bench_command}: error: {exc}", file=sys.stderr)
        return 2
