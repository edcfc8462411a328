"""``posetraj demo``: the main job on built-in assets, end to end, with a closing summary.

Renders a small dataset of clips with the Blender renderer, builds a tiny posetraj-synth benchmark
suite from it, scores the three baselines (oracle, static, translate) with the default tracker, trains
the tiny PoseTraj model a few steps on clips of the train built-ins and scores it too
(``demo_model.py``), and writes the leaderboard page. Re-running reuses what is already there.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path

from common.atomic import write_json_atomic

BASELINE_MODELS = ("oracle", "static", "translate")
# the suite's turning families (each at least 3 times at the default 12 clips) and its share of the
# translation-only control: 9 turning clips and 3 controls
DEMO_FAMILIES = ("figure_eight", "half_circle", "s_curve")
DEMO_CONTROL_SHARE = 0.25


def run_demo(out_dir: str | Path, *, num_samples: int = 12, width: int = 288, height: int = 192,
             num_frames: int = 32, samples_per_pixel: int = 4, seed: int = 0, tracker: str | None = None,
             tracker_options: dict | None = None, progress: bool = True, print_summary: bool = True,
             train_steps: int = 30) -> dict:
    """Render (or reuse) the suite's clips under ``out_dir/renders``, build ``out_dir/suite``, score the
    baselines into ``out_dir/results/<model>`` and write ``out_dir/leaderboard``; returns the summary
    (also written to ``out_dir/demo_summary.json``)."""
    from benchmark.harness import RunConfig, run_benchmark
    from benchmark.leaderboard import write_leaderboard
    from benchmark.suite_build import SynthSuiteConfig, build_synth_suite

    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = SynthSuiteConfig(num_samples=num_samples, seed=seed, width=width, height=height, num_frames=num_frames,
                              samples_per_pixel=samples_per_pixel, name="posetraj-synth-demo",
                              rotational_families=DEMO_FAMILIES, control_share=DEMO_CONTROL_SHARE)

    suite = build_synth_suite(out / "suite", config, render_root=out / "renders", overwrite=True, progress=progress)
    render_s = time.perf_counter() - started
    results = {}
    for model in BASELINE_MODELS:
        summary = run_benchmark(RunConfig(suite=suite.path, model=model, out=out / "results" / model,
                                          cache_dir=out / "cache", tracker=tracker,
                                          tracker_config=dict(tracker_options or {}), progress=progress))
        results[model] = summary
    if train_steps > 0:  # the tiny PoseTraj model, trained on clips of the train built-ins
        from posetraj.commands.demo_model import MODEL_NAME, run_model_part

        results[MODEL_NAME] = run_model_part(out, suite.path, steps=train_steps, seed=seed, tracker=tracker,
                                             tracker_options=tracker_options, progress=progress)
    board = write_leaderboard([out / "results" / m for m in results], out / "leaderboard",
                              title="posetraj benchmark demo (built-in assets)")
    headline = ("objmc", "ade", "rotation_error_deg", "heading_error_deg", "pose_fail_rate", "psnr")
    summary = {
        "suite": suite.describe(),
        "suite_config": asdict(config),
        "tracker": next(iter(results.values()))["tracker"],
        "renders": str((out / "renders").resolve()),
        "results": {m: str((out / "results" / m).resolve()) for m in results},
        "training": next((s["training"] for s in results.values() if "training" in s), None),
        "leaderboard_html": str(board["html"].resolve()),
        "leaderboard_markdown": str(board["markdown"].resolve()),
        "metrics": {m: {g: {k: s["metrics"]["groups"][g].get(k) for k in headline}
                        for g in ("overall", "rotational", "translation_only")} for m, s in results.items()},
        "failed_samples": {m: s["num_failed"] for m, s in results.items()},
        "timing_s": {"render_and_build": render_s, "total": time.perf_counter() - started},
    }
    write_json_atomic(out / "demo_summary.json", summary)
    if print_summary:
        print(format_summary(summary))
    return summary


def format_summary(summary: dict) -> str:
    """The closing summary: what was made and where it is."""
    from posetraj.commands.demo_model import model_note

    lines = [
        "",
        f"Benchmark suite {summary['suite']['suite_version']}: {summary['suite']['num_samples']} samples "
        f"(rotational families and the translation-only control, built-in assets) at {summary['suite']['path']}",
        f"  rendered clips: {summary['renders']}",
        f"  tracker: {summary['tracker'].get('tracker')} (weights sha256: {summary['tracker'].get('weights_sha256')})",
    ]
    from benchmark.leaderboard import load_results, summary_table

    # the leaderboard's columns, groups and labels (pose errors against the 3D ground truth)
    lines += ["  " + line for line in summary_table([load_results(path) for path in summary["results"].values()])]
    lines += [
        *([model_note(summary["training"])] if summary.get("training") else []),
        f"  per-sample results: {', '.join(summary['results'].values())} (samples.parquet, summary.json)",
        f"Leaderboard page: {summary['leaderboard_html']}",
        f"  Markdown table: {summary['leaderboard_markdown']}",
        f"Done in {summary['timing_s']['total']:.0f} s.",
    ]
    return "\n".join(lines)




def build_parser(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder")
    parser.add_argument("--clips", type=int, default=12, help="clips to render (= benchmark samples)")
    parser.add_argument("--frames", type=int, default=32, help="frames per clip")
    parser.add_argument("--width", type=int, default=288, help="frame width (even)")
    parser.add_argument("--height", type=int, default=192, help="frame height (even)")
    parser.add_argument("--samples", type=int, default=4, help="Cycles samples per pixel")
    parser.add_argument("--seed", type=int, default=0, help="seed of the suite's trajectories and scenes")
    parser.add_argument("--tracker", help="tracker name (default: cotracker3-offline when a checkpoint is "
                        "configured with POSETRAJ_COTRACKER3_CHECKPOINT, else lk)")
    parser.add_argument("--train-steps", type=int, default=30,
                        help="steps of the tiny PoseTraj model's training (0: skip the model)")


def run(args: argparse.Namespace) -> int:
    if args.clips < 1 or args.frames < 2:
        print("error: --clips must be at least 1 and --frames at least 2", file=sys.stderr)
        return 2
    summary = run_demo(
        args.out, num_samples=args.clips, width=args.width, height=args.height, num_frames=args.frames,
        samples_per_pixel=args.samples, seed=args.seed, tracker=args.tracker, train_steps=args.train_steps,
    )
    return 1 if any(summary["failed_samples"].values()) else 0
