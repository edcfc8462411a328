"""``posetraj demo``: the main job on built-in assets, end to end, with a closing summary.

Renders a small dataset of clips with the Blender renderer, builds a tiny posetraj-synth benchmark
suite from it, scores the three baselines (oracle, static, translate) with the default tracker and
writes the leaderboard page. Re-running reuses what is already there.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder")
    parser.add_argument("--clips", type=int, default=8, help="clips to render (= benchmark samples)")
    parser.add_argument("--frames", type=int, default=48, help="frames per clip")
    parser.add_argument("--width", type=int, default=288, help="frame width (even)")
    parser.add_argument("--height", type=int, default=192, help="frame height (even)")
    parser.add_argument("--samples", type=int, default=4, help="Cycles samples per pixel")
    parser.add_argument("--seed", type=int, default=0, help="seed of the suite's trajectories and scenes")
    parser.add_argument("--tracker", help="tracker name (default: cotracker3-offline when a checkpoint is "
                        "configured with POSETRAJ_COTRACKER3_CHECKPOINT, else lk)")


def run(args: argparse.Namespace) -> int:
    from benchmark.demo import run_demo

    if args.clips < 1 or args.frames < 2:
        print("error: --clips must be at least 1 and --frames at least 2", file=sys.stderr)
        return 2
    summary = run_demo(
        args.out, num_samples=args.clips, width=args.width, height=args.height, num_frames=args.frames,
        samples_per_pixel=args.samples, seed=args.seed, tracker=args.tracker,
    )
    return 1 if any(summary["failed_samples"].values()) else 0
